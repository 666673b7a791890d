"""TextModel: load a Llama-family GGUF, apply its chat template, price and run generation.

torch, gguf and tokenizers are imported on first use only, so importing this module (and the
node that imports it) stays cheap.
"""

from __future__ import annotations

import codecs
import os
import re
import threading
import time
from typing import Callable

from . import gas as _gas
from .abi import MAX_NEW_TOKENS, check_cap, check_prompt
from .errors import BAD_CALL_DATA, PROMPT_TOO_LONG, UNSUPPORTED_TEMPLATE, TextModelError

# Seeded sampling settings (fixed, so a seed fully determines the answer on one machine).
TEMPERATURE = 0.7
TOP_K = 40
TOP_P = 0.95
PREFILL_CHUNK = 512  # prompt tokens per prefill forward pass (bounds attention memory)


def default_threads() -> int:
    """Fixed intra-op thread count (logits are bit-identical only at the same thread count).

    1 by default: batch-1 decode is memory-bound, and on the 2-core dev box 2 threads were
    3-5x *slower* whenever anything else ran (the node, other processes): a stalled OpenMP
    worker blocks every small op. Set IMOCHAIN_TEXT_THREADS on a quiet many-core machine.
    """
    env = os.environ.get("IMOCHAIN_TEXT_THREADS")
    if env:
        return max(1, int(env))
    return 1


class _ChatTemplate:
    """The chat formats we recognise in a GGUF's Jinja template (never executed: see below).

    Rendering the file's template would run code-like data from the file; instead we detect the
    family by its marker tokens and build the ids ourselves, control tokens by id.
    """

    def __init__(self, cfg, tok):
        self.tok = tok
        t = cfg.chat_template
        self.system = None
        self.stop_ids: set[int] = set()
        if cfg.eos_id is not None:
            self.stop_ids.add(cfg.eos_id)
        if t is None:
            self.kind = "raw"  # base model: the prompt is the text to continue
            self.bos = cfg.bos_id if cfg.add_bos else None
        elif "<|im_start|>" in t:
            self.kind = "chatml"
            m = re.search(r"<\|im_start\|>system\n(.*?)<\|im_end\|>", t, re.S)
            self.system = m.group(1) if m else None
            self.stop_ids |= self._ids("<|im_end|>", "<|endoftext|>", required=("<|im_end|>",))
            self.start, self.end = self._id("<|im_start|>"), self._id("<|im_end|>")
        elif "<|start_header_id|>" in t:
            self.kind = "llama3"
            self.bos = self._id("<|begin_of_text|>")
            self.sh, self.eh = self._id("<|start_header_id|>"), self._id("<|end_header_id|>")
            self.eot = self._id("<|eot_id|>")
            self.stop_ids |= self._ids("<|eot_id|>", "<|end_of_text|>", required=("<|eot_id|>",))
        else:
            raise TextModelError(UNSUPPORTED_TEMPLATE, "chat template is neither ChatML nor Llama-3")

    def _id(self, s: str) -> int:
        i = self.tok.id_of(s)
        if i is None:
            raise TextModelError(UNSUPPORTED_TEMPLATE, f"chat template token {s} is not in the vocabulary")
        return i

    def _ids(self, *names, required=()) -> set[int]:
        out = set()
        for n in names:
            i = self.tok.id_of(n)
            if i is None and n in required:
                raise TextModelError(UNSUPPORTED_TEMPLATE, f"chat template token {n} is not in the vocabulary")
            if i is not None:
                out.add(i)
        return out

    def encode(self, prompt: str) -> list[int]:
        enc = self.tok.encode
        if self.kind == "raw":
            return ([self.bos] if self.bos is not None else []) + enc(prompt)
        if self.kind == "chatml":
            ids: list[int] = []
            if self.system is not None:
                ids += [self.start] + enc("system\n" + self.system) + [self.end] + enc("\n")
            ids += [self.start] + enc("user\n" + prompt) + [self.end] + enc("\n")
            return ids + [self.start] + enc("assistant\n")
        ids = [self.bos, self.sh] + enc("user") + [self.eh] + enc("\n\n" + prompt) + [self.eot]
        return ids + [self.sh] + enc("assistant") + [self.eh] + enc("\n\n")


def _sample(logits, rng) -> int:
    """Temperature + top-k + top-p sampling in float64 numpy with one uniform draw."""
    import numpy as np

    z = logits.astype(np.float64) / TEMPERATURE
    k = min(TOP_K, z.size)
    idx = np.argpartition(-z, k - 1)[:k]
    idx = idx[np.lexsort((idx, -z[idx]))]  # by logit desc, ties by id: a total order
    p = np.exp(z[idx] - z[idx[0]])
    p /= p.sum()
    c = np.cumsum(p)
    keep = min(int(np.searchsorted(c, TOP_P)) + 1, k)  # smallest prefix with mass >= TOP_P
    c = c[:keep] / c[keep - 1]
    return int(idx[min(int(np.searchsorted(c, rng.random(), side="right")), keep - 1)])


def check_quote_args(prompt_tokens: int, max_new_tokens: int) -> None:
    check_cap(max_new_tokens)
    if isinstance(prompt_tokens, bool) or not isinstance(prompt_tokens, int) or prompt_tokens < 1:
        raise TextModelError(BAD_CALL_DATA, f"prompt_tokens must be a positive integer, got {prompt_tokens!r}")


class Quoting:
    """Pricing by prompt shared by every text model kind: needs encode_prompt, gas_cost and
    context_length."""

    def quote(self, prompt: str | bytes, max_new_tokens: int) -> int:
        """Gas of a call with this prompt (tokenizes only; the network does not run)."""
        check_cap(max_new_tokens)
        ids = self.encode_prompt(prompt)
        self._check_fits(len(ids), max_new_tokens)
        raw = prompt if isinstance(prompt, (bytes, bytearray)) else prompt.encode("utf-8")
        return self.gas_cost(len(ids), max_new_tokens, io_bytes=len(raw))

    def _check_fits(self, n_prompt: int, max_new_tokens: int) -> None:
        ctx = self.context_length
        if n_prompt + max_new_tokens > ctx:
            raise TextModelError(
                PROMPT_TOO_LONG,
                f"prompt is {n_prompt} tokens; with {max_new_tokens} new tokens it exceeds the context of {ctx}",
            )


class TextModel(Quoting):
    """A loaded Llama-family text model. Thread-safe: one generation at a time."""

    kind = "text"

    def __init__(self, path, model_hash, cfg, weights, threads):
        from .llama import Llama
        from .tokenizer import BPETokenizer

        self.path = path
        self.model_hash = model_hash
        self.cfg = cfg
        self.threads = threads
        self.tokenizer = BPETokenizer(cfg.tokens, cfg.merges, cfg.token_types, cfg.tokenizer_pre)
        self.template = _ChatTemplate(cfg, self.tokenizer)
        self.net = Llama(cfg, weights)
        self.arch = _gas.Arch(cfg.layers, cfg.width, cfg.ffn, cfg.heads, cfg.kv_heads, cfg.head_dim, cfg.vocab)
        self.params = sum(int(w.numel()) for w in weights.values())
        if cfg.tied_embeddings:  # output.t is a transposed copy of the embedding, not a parameter
            self.params -= cfg.vocab * cfg.width
        stem = os.path.basename(path)
        stem = stem[:-5] if stem.lower().endswith(".gguf") else stem
        # A file named by its hash (a model store) says nothing: fall back to the metadata name.
        self.name = cfg.general_name if re.fullmatch(r"(0x)?[0-9a-fA-F]{64}", stem) and cfg.general_name else stem
        self._lock = threading.Lock()
        self.last_stats: dict = {}

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, path: str, cache_dir: str | None | bool = None, threads: int | None = None) -> "TextModel":
        """Load a GGUF. ``cache_dir``: None = default (~/.cache/imochain/text or
        $IMOCHAIN_TEXT_CACHE), a path, or False for no cache (always convert from the GGUF)."""
        from . import gguf_file as gf

        path = os.fspath(path)
        gf.check_magic(path)
        cdir = gf.default_cache_dir() if cache_dir is None else (cache_dir or None)
        model_hash = gf.file_hash(path, cdir)
        cached = gf.read_cache(cdir, model_hash) if cdir else None
        if cached is not None:
            cfg, weights = cached
        else:
            import torch

            cfg, raw = gf.read_gguf(path)
            fused = gf.fuse(cfg, raw)
            del raw
            if cdir:
                try:
                    gf.write_cache(cdir, model_hash, cfg, fused)
                except OSError:
                    pass  # a read-only or full cache disk only costs speed
            weights = {k: torch.from_numpy(v) for k, v in fused.items()}
        return cls(path, model_hash, cfg, weights, threads or default_threads())

    # ------------------------------------------------------------------ metadata and gas

    def info(self) -> dict:
        c = self.cfg
        return {
            "kind": "text",
            "name": self.name,
            "hash": "0x" + self.model_hash.hex(),
            "architecture": "llama",
            "params": self.params,
            "layers": c.layers,
            "width": c.width,
            "ffn": c.ffn,
            "heads": c.heads,
            "kv_heads": c.kv_heads,
            "vocab": c.vocab,
            "context_length": c.context_length,
            "rope_base": c.rope_base,
            "quantization": c.file_type,
            "macs_per_token": self.arch.macs_per_token,
            "chat_template": self.template.kind,
            "max_new_tokens": MAX_NEW_TOKENS,
            "numeric_mode": "fp32",  # reproducible on the same machine and thread count only
            "threads": self.threads,
        }

    def encode_prompt(self, prompt: str | bytes) -> list[int]:
        """Token ids of the chat-templated prompt (user message = prompt)."""
        return self.template.encode(check_prompt(prompt))

    def gas_cost(self, prompt_tokens: int, max_new_tokens: int, io_bytes: int = 0) -> int:
        """Gas before running: G_call + g_mac*MACs + g_byte*bytes for the worst case (the cap)."""
        check_quote_args(prompt_tokens, max_new_tokens)
        return _gas.gas(self.arch, prompt_tokens, max_new_tokens, io_bytes)

    @property
    def context_length(self) -> int:
        return self.cfg.context_length

    # ------------------------------------------------------------------ generation

    def generate(
        self,
        prompt: str | bytes,
        max_new_tokens: int = 64,
        seed: int | None = None,
        stream: Callable[[str], object] | None = None,
    ) -> str:
        """Answer ``prompt``. Greedy when ``seed`` is None, else seeded sampling. Stops at
        end-of-sequence or after ``max_new_tokens``; ``stream`` gets each text piece as made (an
        exception it raises aborts the generation). Run at batch 1 on purpose: fp32 results
        change with batch size, and a challenger re-running one request must match exactly."""
        check_cap(max_new_tokens)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64):
            raise TextModelError(BAD_CALL_DATA, f"seed must be an integer in 0..2**64-1, got {seed!r}")
        ids = self.encode_prompt(prompt)
        self._check_fits(len(ids), max_new_tokens)
        with self._lock:
            return self._generate(ids, max_new_tokens, seed, stream)

    def _generate(self, ids, max_new_tokens, seed, stream) -> str:
        import numpy as np
        import torch

        from .llama import KVCache

        rng = np.random.Generator(np.random.PCG64(seed)) if seed is not None else None
        prev_threads = torch.get_num_threads()
        if prev_threads != self.threads:
            torch.set_num_threads(self.threads)
        try:
            cache = KVCache(self.cfg, len(ids) + max_new_tokens)
            utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
            pieces: list[str] = []
            out_ids: list[int] = []
            t0 = time.perf_counter()
            # Prefill in chunks: attention scores are heads x chunk x context floats, so a prompt
            # filling an 8 k context takes ~0.15 GB instead of ~2.4 GB per layer. Prompts up to
            # one chunk run exactly as before.
            for start in range(0, len(ids), PREFILL_CHUNK):
                logits = self.net.forward(ids[start:start + PREFILL_CHUNK], cache)
            t1 = time.perf_counter()
            stop = self.template.stop_ids
            for i in range(max_new_tokens):
                tok = int(torch.argmax(logits)) if rng is None else _sample(logits.numpy(), rng)
                if tok in stop:
                    break
                out_ids.append(tok)
                piece = utf8.decode(self.tokenizer.token_bytes[tok])
                if piece:
                    pieces.append(piece)
                    if stream is not None:
                        stream(piece)
                if i + 1 < max_new_tokens:
                    logits = self.net.forward([tok], cache)
            # Bytes still buffered are a character cut off by the token cap: dropped, so the
            # answer is the longest valid prefix (invalid bytes mid-text became U+FFFD above).
            t2 = time.perf_counter()
        finally:
            if prev_threads != self.threads:
                torch.set_num_threads(prev_threads)
        self.last_stats = {
            "prompt_tokens": len(ids),
            "new_tokens": len(out_ids),
            "token_ids": out_ids,
            "prefill_s": t1 - t0,
            "decode_s": t2 - t1,
        }
        return "".join(pieces)

    def logits(self, ids: list[int]):
        """Logits of the last position after ``ids`` (a fresh cache); for tests and tools."""
        import torch

        from .llama import KVCache

        with self._lock:
            prev = torch.get_num_threads()
            torch.set_num_threads(self.threads)
            try:
                return self.net.forward(list(ids), KVCache(self.cfg, len(ids)))
            finally:
                torch.set_num_threads(prev)
