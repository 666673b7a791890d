"""Int8TextModel: an int8 text model file behind the same interface as the fp32 ``TextModel``
(chat template, tokenizer, gas quote, greedy generation with streaming) for the router and oracle.

Greedy only: seed 0 (None) is the one answer every device reproduces; a non-zero seed is refused.
Gas: ``gas.work`` counts MACs and the float32 weight bytes the exact matmuls stream (the runtime
holds int8 values in float32, see fixed.ExactMatmul), plus the integer element-wise work per
layer and row, which the fp32 path does not have.
"""

from __future__ import annotations

import codecs
import os
import threading
import time

from .. import gas as _gas
from ..abi import MAX_NEW_TOKENS, check_cap, check_prompt
from ..errors import BAD_CALL_DATA, CORRUPT_FILE, TextModelError
from ..model import Quoting, check_quote_args

# Integer element-wise work (norms, RoPE, softmax, SiLU, requantisation) is numpy on small rows:
# a fixed cost per layer call plus a cost per row. benchmarks/bench_text_int8.py::
# test_calibrate_int8 measured 290 000 and 56 000 gas (1 gas = 10 ns) on the shared 2-core dev box
# at load 9 (2026-11-28), where the fp32 constants were set at load 6-9 medians; priced a bit
# below that worst case: one new SmolLM2 token ~17 Mgas (fp32 ~10 Mgas), measured 23.5 Mgas-equiv.
G_LAYER_CALL = 200_000      # per layer per forward call
G_LAYER_ROW = 40_000        # per layer per row (token) in that call


class Int8TextModel(Quoting):
    """A loaded int8 text model file, served like ``TextModel``. One generation at a time."""

    kind = "text"
    mode = "int8"

    def __init__(self, path: str, net):
        from ..model import _ChatTemplate
        from ..tokenizer import BPETokenizer

        cfg = net.cfg
        if not cfg.tokens:
            raise TextModelError(BAD_CALL_DATA, "this int8 model has no tokenizer: it cannot serve text")
        self.path = path
        self.net = net
        self.cfg = cfg
        self.model_hash = net.model_hash
        self.tokenizer = BPETokenizer(cfg.tokens, cfg.merges, cfg.token_types, cfg.tokenizer_pre)
        self.template = _ChatTemplate(cfg, self.tokenizer)
        self.arch = _gas.Arch(cfg.layers, cfg.width, cfg.ffn, cfg.heads, cfg.kv_heads, cfg.head_dim, cfg.vocab)
        self.name = (cfg.general_name or os.path.basename(path)) + "-int8"
        self._lock = threading.Lock()
        self.last_stats: dict = {}

    @classmethod
    def load(cls, path: str) -> "Int8TextModel":
        from .file import load

        return cls(path, load(path))

    def info(self) -> dict:
        c = self.cfg
        return {
            "kind": "text", "name": self.name, "hash": "0x" + self.model_hash.hex(), "architecture": "llama",
            "layers": c.layers, "width": c.width, "ffn": c.ffn, "heads": c.heads, "kv_heads": c.kv_heads,
            "vocab": c.vocab, "context_length": self.net.max_positions, "quantization": "int8",
            "macs_per_token": self.arch.macs_per_token, "chat_template": self.template.kind,
            "max_new_tokens": MAX_NEW_TOKENS,
            "numeric_mode": "int8",  # bit-identical on every device, batch size and thread count
        }

    def encode_prompt(self, prompt: str | bytes) -> list[int]:
        return self.template.encode(check_prompt(prompt))

    def gas_cost(self, prompt_tokens: int, max_new_tokens: int, io_bytes: int = 0) -> int:
        check_quote_args(prompt_tokens, max_new_tokens)
        rows = prompt_tokens + max_new_tokens - 1
        calls = max_new_tokens + (prompt_tokens - 1) // _prefill_chunk()
        elementwise = self.cfg.layers * (G_LAYER_CALL * calls + G_LAYER_ROW * rows)
        return _gas.gas(self.arch, prompt_tokens, max_new_tokens, io_bytes) + elementwise

    @property
    def context_length(self) -> int:
        return self.net.max_positions

    def generate(self, prompt: str | bytes, max_new_tokens: int = 64, seed: int | None = None, stream=None) -> str:
        """Greedy answer (bit-identical everywhere); ``stream`` gets each text piece as made."""
        check_cap(max_new_tokens)
        if seed not in (None, 0):
            raise TextModelError(
                BAD_CALL_DATA, "int8 text models decode greedily only: seed must be 0 (sampling is not reproducible)"
            )
        ids = self.encode_prompt(prompt)
        self._check_fits(len(ids), max_new_tokens)
        with self._lock:
            utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
            pieces: list[str] = []
            out: list[int] = []
            t0 = time.perf_counter()
            for tok in self.net.stream(ids, max_new_tokens, self.template.stop_ids):
                out.append(tok)
                piece = utf8.decode(self.tokenizer.token_bytes[tok])
                if piece:
                    pieces.append(piece)
                    if stream is not None:
                        stream(piece)
            self.last_stats = {"prompt_tokens": len(ids), "new_tokens": len(out), "token_ids": out,
                               "seconds": time.perf_counter() - t0}
        return "".join(pieces)


def _prefill_chunk() -> int:
    from .model import PREFILL_CHUNK

    return PREFILL_CHUNK


_loaded: dict[tuple, Int8TextModel] = {}
_loading = threading.Lock()


def get_int8_model(path: str, from_gguf: bool = False, expect: bytes | None = None) -> Int8TextModel:
    """Process-wide shared instance per file (the precompile, oracle and CLI reuse one copy).
    ``from_gguf``: ``path`` is a GGUF whose int8 export is built into the cache on first use;
    ``expect``: the hash the model was registered under (a different file is refused)."""
    from .export import cached_export

    key = (os.path.realpath(path), from_gguf)
    with _loading:
        m = _loaded.get(key)
        if m is None:
            m = Int8TextModel.load(cached_export(path) if from_gguf else path)
            if expect is not None and m.model_hash != expect:
                raise TextModelError(
                    CORRUPT_FILE, f"int8 text model file hashes 0x{m.model_hash.hex()}, registered as 0x{expect.hex()}"
                )
            _loaded[key] = m
    return m
