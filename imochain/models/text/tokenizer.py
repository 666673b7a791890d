"""Byte-level BPE tokenizer built from a GGUF's vocabulary and merges (HF `tokenizers`).

Control tokens (``<|im_start|>`` …) are deliberately *not* registered as added tokens: text is
always encoded as plain text, so a prompt that contains ``<|im_end|>`` cannot break out of its
chat-template slot. The template inserts control tokens by id instead.
"""

from __future__ import annotations

from .errors import UNSUPPORTED_TOKENIZER, TextModelError

# Pre-tokenizer regex of Llama-3-style BPE (the published tokenizer spec of that family).
_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# GGUF `tokenizer.ggml.pre` values whose pre-tokenization we reproduce.
SUPPORTED_PRE = {"smollm", "default", "gpt2", "gpt-2", "llama-bpe", "llama3", "llama-v3"}

CONTROL = 3  # GGUF token type of control tokens


def _byte_alphabet() -> dict[str, int]:
    """GPT-2 byte-level alphabet: each byte maps to one printable char (char -> byte)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    return {c: b for b, c in chars.items()}


class BPETokenizer:
    def __init__(self, tokens: list[str], merges: list[str], token_types: list[int] | None, pre: str):
        from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

        if pre not in SUPPORTED_PRE:
            raise TextModelError(UNSUPPORTED_TOKENIZER, f"unsupported BPE pre-tokenizer {pre!r}")
        vocab = {t: i for i, t in enumerate(tokens)}
        if len(vocab) != len(tokens):
            # Duplicate strings would make ids ambiguous; real GGUFs never have them.
            raise TextModelError(UNSUPPORTED_TOKENIZER, "vocabulary has duplicate tokens")
        pairs = []
        for m in merges:
            a, sep, b = m.partition(" ")
            if not sep:
                raise TextModelError(UNSUPPORTED_TOKENIZER, f"malformed merge {m!r}")
            pairs.append((a, b))
        llama3 = pre in ("llama-bpe", "llama3", "llama-v3")
        try:
            model = models.BPE(vocab, pairs, ignore_merges=llama3)
        except Exception as e:  # tokenizers raises its own exception type
            raise TextModelError(UNSUPPORTED_TOKENIZER, f"cannot build BPE: {e}") from None
        tok = Tokenizer(model)
        if pre == "smollm":
            # SmolLM's tokenizer splits every digit, then GPT-2 byte-level with its regex.
            tok.pre_tokenizer = pre_tokenizers.Sequence([
                pre_tokenizers.Digits(individual_digits=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
            ])
        elif llama3:
            tok.pre_tokenizer = pre_tokenizers.Sequence([
                pre_tokenizers.Split(Regex(_LLAMA3_SPLIT), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ])
        else:
            tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.decoder = decoders.ByteLevel()
        self._tok = tok
        self.tokens = tokens
        self.vocab = vocab
        types = list(token_types) if token_types is not None else [1] * len(tokens)
        self.control_ids = frozenset(i for i, t in enumerate(types) if t == CONTROL)
        # Raw bytes of every token, so decoding can stream through an incremental UTF-8
        # decoder (a multi-byte character may be split across tokens).
        alphabet = _byte_alphabet()
        to_latin1 = {ord(c): chr(b) for c, b in alphabet.items()}  # str.translate: ~10x a loop
        tb: list[bytes] = []
        for i, t in enumerate(tokens):
            if i in self.control_ids:
                tb.append(b"")  # control tokens never appear in decoded text
                continue
            try:
                tb.append(t.translate(to_latin1).encode("latin-1"))
            except UnicodeEncodeError:  # a char outside the byte alphabet: keep it as UTF-8
                tb.append(b"".join(bytes([alphabet[c]]) if c in alphabet else c.encode("utf-8") for c in t))
        self.token_bytes = tb

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        """Plain-text ids: no BOS, no template, control-token strings stay plain text."""
        if not text:
            return []
        return self._tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        """Exact inverse of encode for any valid string; control tokens are dropped."""
        return b"".join(self.token_bytes[i] for i in ids).decode("utf-8", errors="replace")

    def id_of(self, token: str) -> int | None:
        return self.vocab.get(token)
