"""Fixed inputs shared by the tests and by make_reference.py."""

TOKENIZER_CASES = [
    "Hello, world!",
    "What is an Initial Model Offering?",
    "don't stop; I'll go, we've been, they're here",
    "Numbers: 1234567890 and 3.14159, 2026-11-25",
    "Ünïcödé — naïve café, Straße, Ελληνικά, русский, 日本語のテキスト, 中文",
    "Emoji: 🚀🔥 family 👨‍👩‍👧‍👦 flags 🇫🇷 skin 👍🏽",
    "def f(x):\n    return {'a': [x ** 2 for x in range(10)]}  # code\n",
    "  leading and trailing spaces   ",
    "tabs\tand\n\nnewlines\r\n  mixed \t \n",
    "<|im_start|> is text here, not a control token",
    "a",
    " ",
]

LOGIT_PROMPT = "What is the capital of France?"
