"""Call data of the inference precompile for text models.

ABI (Solidity):

    bytes memory data = abi.encode(bytes32 modelHash, bytes prompt, uint32 maxNewTokens, uint64 seed);
    (bool ok, bytes memory answer) = address(0xA1).staticcall(data);
    string memory text = string(answer);          // output: the answer's raw UTF-8 bytes

* ``modelHash``  keccak256 of the GGUF file (same content addressing as tensor models).
* ``prompt``     UTF-8 user message; the model's chat template is applied by the node.
* ``maxNewTokens`` 1 … MAX_NEW_TOKENS; generation stops earlier at end-of-sequence.
* ``seed``       0 = greedy decoding (deterministic); anything else = seeded sampling.

The first word is the model hash in both the tensor and the text ABI, so the precompile can look
the model up first and pick the decoder by the model's kind.
"""

from __future__ import annotations

from .errors import BAD_CALL_DATA, BAD_TOKEN_CAP, EMPTY_PROMPT, INVALID_UTF8, TextModelError

MAX_NEW_TOKENS = 256  # decode is ~10-25 tokens/s on a 2-core CPU: 256 is already ~10-25 s
MAX_PROMPT_BYTES = 32 * 1024  # 8192-token context at ~4 bytes/token; bounds tokenizer work
_HEAD = 4 * 32  # four head words: hash, offset of prompt, maxNewTokens, seed
MAX_CALL_BYTES = _HEAD + 32 + ((MAX_PROMPT_BYTES + 31) // 32) * 32


def _fail(code: str, reason: str) -> TextModelError:
    return TextModelError(code, reason)


def check_prompt(prompt: str | bytes) -> str:
    """Return the prompt as str; raise TextModelError for invalid UTF-8 or an empty prompt."""
    if isinstance(prompt, (bytes, bytearray, memoryview)):
        try:
            prompt = bytes(prompt).decode("utf-8", errors="strict")
        except UnicodeDecodeError as e:
            raise _fail(INVALID_UTF8, f"prompt is not valid UTF-8 (byte {e.start})") from None
    elif isinstance(prompt, str):
        try:
            raw = prompt.encode("utf-8", errors="strict")  # lone surrogates cannot be sent
        except UnicodeEncodeError as e:
            raise _fail(INVALID_UTF8, f"prompt is not valid UTF-8 (char {e.start})") from None
        if len(raw) > MAX_PROMPT_BYTES:
            raise _fail(BAD_CALL_DATA, f"prompt is {len(raw)} bytes, limit {MAX_PROMPT_BYTES}")
    else:
        raise _fail(BAD_CALL_DATA, f"prompt must be str or bytes, not {type(prompt).__name__}")
    if not prompt.strip():
        raise _fail(EMPTY_PROMPT, "prompt is empty")
    return prompt


def check_cap(max_new_tokens: int) -> int:
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int):
        raise _fail(BAD_TOKEN_CAP, "maxNewTokens must be an integer")
    if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise _fail(BAD_TOKEN_CAP, f"maxNewTokens {max_new_tokens} outside 1..{MAX_NEW_TOKENS}")
    return max_new_tokens


def parse_text_call(data: bytes) -> tuple[bytes, str, int, int | None]:
    """Decode text call data into (model_hash, prompt, max_new_tokens, seed or None for greedy).

    Sizes are checked on the raw words before eth_abi runs, so a hostile length field costs
    nothing; every failure is a TextModelError with a readable reason.
    """
    from eth_abi import decode
    from eth_abi.exceptions import DecodingError

    data = bytes(data)
    if len(data) < _HEAD + 32:
        raise _fail(BAD_CALL_DATA, f"text call data is {len(data)} bytes, need at least {_HEAD + 32}")
    if len(data) > MAX_CALL_BYTES:
        raise _fail(BAD_CALL_DATA, f"text call data is {len(data)} bytes, limit {MAX_CALL_BYTES}")
    offset = int.from_bytes(data[32:64], "big")
    if offset != _HEAD:
        raise _fail(BAD_CALL_DATA, f"prompt offset is {offset}, expected {_HEAD} (abi.encode layout)")
    length = int.from_bytes(data[_HEAD:_HEAD + 32], "big")
    if length > MAX_PROMPT_BYTES:
        raise _fail(BAD_CALL_DATA, f"prompt is {length} bytes, limit {MAX_PROMPT_BYTES}")
    if len(data) < _HEAD + 32 + length:
        raise _fail(BAD_CALL_DATA, "text call data is shorter than its prompt length")
    try:
        model_hash, prompt, cap, seed = decode(["bytes32", "bytes", "uint32", "uint64"], data)
    except (DecodingError, ValueError, OverflowError) as e:
        raise _fail(BAD_CALL_DATA, f"malformed text call data: {e}") from None
    text = check_prompt(prompt)
    check_cap(cap)
    return model_hash, text, cap, (seed or None)


def encode_text_call(model_hash: bytes, prompt: str | bytes, max_new_tokens: int, seed: int = 0) -> bytes:
    """Build call data for the text precompile (Python/JS clients, tests, dry runs)."""
    from eth_abi import encode

    if isinstance(prompt, str):
        prompt = prompt.encode("utf-8")
    return encode(["bytes32", "bytes", "uint32", "uint64"], [bytes(model_hash), bytes(prompt), max_new_tokens, seed])
