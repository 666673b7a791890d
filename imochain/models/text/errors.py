"""The one exception type of the text runtime.

It subclasses the precompile's ``PrecompileError`` so the node turns a bad text call into an
ordinary precompile failure (and the oracle into ``feedbackError``) with no special case.
"""

from __future__ import annotations

from ..errors import PrecompileError

# Stable machine-readable codes (``TextModelError.code``); ``.reason`` is the human line.
INVALID_UTF8 = "invalid_utf8"
EMPTY_PROMPT = "empty_prompt"
PROMPT_TOO_LONG = "prompt_too_long"
BAD_TOKEN_CAP = "bad_token_cap"
BAD_CALL_DATA = "bad_call_data"
NOT_FOUND = "not_found"
NOT_GGUF = "not_gguf"
CORRUPT_FILE = "corrupt_file"
UNSUPPORTED_ARCHITECTURE = "unsupported_architecture"
UNSUPPORTED_TOKENIZER = "unsupported_tokenizer"
UNSUPPORTED_TEMPLATE = "unsupported_template"


class TextModelError(PrecompileError):
    """A text-model file or a text call is unusable; ``reason`` says why in one line."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
