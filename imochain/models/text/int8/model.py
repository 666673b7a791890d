"""Int8Llama: the integer Llama forward pass, one layer of one token at a time or a batch of rows.

Numbers (see the package README for the error of each step against fp32):
* residual stream x: int32, fixed point with ``fx`` fractional bits (saturating adds);
* every matmul: int8 activations (per-row dynamic scale S = am * 2^ae) times int8 weights
  (per-output-channel scale m * 2^-s), exact int sums (``fixed.ExactMatmul``), requantised by
  integer multiply and rounding shift;
* RMSNorm: x * gamma (integer) is quantised per row; 1/rms is an integer square root of a
  rational (Python ints, exact) folded into the row's scale;
* RoPE: Q14 cos/sin tables; K and V cached as int8 with static per-channel scales;
* softmax: max-subtracted integer scores times a fixed multiplier, 2^-u by table (Q15), integer
  normalisation; SiLU: Q15 sigmoid table; argmax: ties go to the lowest id.
Rows are independent, so a batch of prompt positions gives the same bits as one at a time.
"""

from __future__ import annotations

from math import isqrt

import numpy as np

from ..errors import BAD_CALL_DATA, PROMPT_TOO_LONG, TextModelError
from . import fixed as fx_ops
from .fixed import ExactMatmul, clip32, normalize, quant_rows, round_div, round_shift

RMS_SQRT_BITS = 40     # 1/rms is computed as an integer with this many fractional bits
PREFILL_CHUNK = 128    # prompt rows per batched layer call (bounds the attention scores' memory)
_LAYER_TENSORS = ("attn_norm", "qkv.q", "qkv.m", "qkv.s", "k.m", "k.s", "v.m", "v.s", "qk.m", "vo.m",
                  "o.q", "o.m", "o.s", "ffn_norm", "gu.q", "gu.m", "gu.s", "down.q", "down.m", "down.s")


class _Layer:
    def __init__(self, t: dict, prefix: str, consts: dict):
        g = {n: t[prefix + n] for n in _LAYER_TENSORS}
        self.attn_norm = g["attn_norm"].astype(np.int64)
        self.ffn_norm = g["ffn_norm"].astype(np.int64)
        self.qkv = ExactMatmul(g["qkv.q"])
        self.o = ExactMatmul(g["o.q"])
        self.gu = ExactMatmul(g["gu.q"])
        self.down = ExactMatmul(g["down.q"])
        i64 = {n: g[n].astype(np.int64) for n in _LAYER_TENSORS if n.endswith((".m", ".s"))}
        self.m = i64
        self.score_m, self.score_s = int(consts["score_m"]), int(consts["score_s"])
        self.v_shift = int(consts["v_shift"])


class Int8Llama:
    """A Llama-family model in exact integer arithmetic. The forward methods are pure: they change
    neither the model nor their arguments."""

    kv_dtype = np.int8

    def __init__(self, cfg, tensors: dict, consts: dict, model_hash: bytes):
        fx_ops_torch()
        self.cfg = cfg
        self.model_hash = model_hash
        self.consts = consts
        self.tensors = tensors  # the file's integers, kept for export and hashing
        self.fx = int(consts["fx"])
        self.lf = int(consts["lf"])
        self.eps_m, self.eps_e = int(consts["eps_m"]), int(consts["eps_e"])
        self.q_dim = cfg.heads * cfg.head_dim
        self.kv_dim = cfg.kv_heads * cfg.head_dim
        self.group = cfg.heads // cfg.kv_heads
        self.embed_q = tensors["embed.q"]
        self.embed_m = tensors["embed.m"].astype(np.int64)
        self.embed_s = tensors["embed.s"].astype(np.int64)
        head_q = tensors.get("head.q", self.embed_q)  # tied embeddings: one matrix, two scales
        self.head_mm = ExactMatmul(np.ascontiguousarray(head_q.T))
        self.head_m = tensors["head.m"].astype(np.int64)
        self.head_s = tensors["head.s"].astype(np.int64)
        self.norm = tensors["norm"].astype(np.int64)
        self.rope_cos = tensors["rope.cos"].astype(np.int64)
        self.rope_sin = tensors["rope.sin"].astype(np.int64)
        self.exp2 = tensors["lut.exp2"]
        self.sigmoid = tensors["lut.sigmoid"]
        self.max_positions = int(self.rope_cos.shape[0])
        self.layers = [_Layer(tensors, f"blk.{i}.", consts["layers"][i]) for i in range(cfg.layers)]
        self.macs_per_token = sum(
            int(np.prod(t.shape)) for n, t in tensors.items() if n.endswith(".q") and n != "embed.q"
        ) + (cfg.vocab * cfg.width if "head.q" not in tensors else 0)

    def to(self, device: str) -> "Int8Llama":
        """Run the matmuls on ``device`` ("cpu", "cuda"); the integer steps stay in numpy. The bits
        do not change (see fixed.ExactMatmul)."""
        for L in self.layers:
            L.qkv, L.o, L.gu, L.down = (mm.to(device) for mm in (L.qkv, L.o, L.gu, L.down))
        self.head_mm = self.head_mm.to(device)
        return self

    # ------------------------------------------------------------------ public, step by step

    @classmethod
    def tiny(cls, seed: int = 0, layers: int = 2, width: int = 64, heads: int = 4, kv_heads: int = 2,
             ffn: int = 128, vocab: int = 256, context: int = 128) -> "Int8Llama":
        """A random small model (quantised from random float weights) for fast tests."""
        from .quantize import tiny_model

        return tiny_model(seed, layers, width, heads, kv_heads, ffn, vocab, context)

    def embed(self, token: int) -> np.ndarray:
        """The residual stream entering layer 0 for ``token``: int32 (width,)."""
        tok = self._check_token(token)
        x = round_shift(self.embed_q[tok].astype(np.int64) * self.embed_m[tok], self.embed_s[tok])
        return clip32(x).astype(np.int32)

    def layer(self, l: int, pos: int, x, k, v) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Layer ``l`` for one token at position ``pos``; ``k``/``v``: this layer's int8 cache for
        positions < pos, shape (pos, kv_dim). Returns (x_out int32 (width,), k_new, v_new int8)."""
        if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or not 0 <= l < self.cfg.layers:
            raise TextModelError(BAD_CALL_DATA, f"layer must be in 0..{self.cfg.layers - 1}, got {l!r}")
        if isinstance(pos, bool) or not isinstance(pos, (int, np.integer)) or not 0 <= pos < self.max_positions:
            raise TextModelError(BAD_CALL_DATA, f"position must be in 0..{self.max_positions - 1}, got {pos!r}")
        x = _int_array(x, (self.cfg.width,), -fx_ops.INT32_MAX - 1, fx_ops.INT32_MAX, "x")
        k = _int_array(k, (int(pos), self.kv_dim), -128, 127, "k cache")
        v = _int_array(v, (int(pos), self.kv_dim), -128, 127, "v cache")
        out, k_new, v_new = self._layer_rows(int(l), int(pos), x[None, :], k, v)
        return out[0].astype(np.int32), k_new[0], v_new[0]

    def head(self, x) -> int:
        """Final RMSNorm + LM head + argmax (ties go to the lowest id) of a residual row."""
        return int(np.argmax(self.logits(x)))

    def logits(self, x) -> np.ndarray:
        """Integer logits (int64, ``lf`` fractional bits) of a residual row, for tools and tests."""
        x = _int_array(x, (self.cfg.width,), -fx_ops.INT32_MAX - 1, fx_ops.INT32_MAX, "x")[None, :]
        q, am, ae = quant_rows(x * self.norm)
        cm, ce = self._rms_scales(x, am, ae)
        acc = self.head_mm(q)
        return round_shift(acc * self.head_m * cm[:, None], self.head_s - ce[:, None])[0]

    def generate(self, ids: list[int], max_new: int, stop_ids=()) -> list[int]:
        """Greedy continuation of ``ids``: up to ``max_new`` new ids, stopping before a stop id.
        The prompt runs as batched rows (bit-identical to ``embed``/``layer``/``head`` per token)."""
        return list(self.stream(ids, max_new, stop_ids))

    def stream(self, ids: list[int], max_new: int, stop_ids=(), threads: int | None = None):
        """``generate`` as a generator: yields each new id as soon as it is chosen. ``threads``:
        torch intra-op threads while running (None: IMOCHAIN_TEXT_THREADS or 1; the bits never
        depend on it, the speed does: 1 is fastest on a busy small machine)."""
        ids = [self._check_token(t) for t in ids]
        if not ids:
            raise TextModelError(BAD_CALL_DATA, "generate needs at least one prompt token")
        if isinstance(max_new, bool) or not isinstance(max_new, int) or max_new < 0:
            raise TextModelError(BAD_CALL_DATA, f"max_new must be a non-negative integer, got {max_new!r}")
        total = len(ids) + max_new
        if total > self.max_positions:
            raise TextModelError(
                PROMPT_TOO_LONG, f"{len(ids)} prompt + {max_new} new tokens exceed {self.max_positions} positions"
            )
        return self._stream(ids, max_new, {int(s) for s in stop_ids}, threads)

    def _stream(self, ids, max_new, stop, threads):
        import torch

        from ..model import default_threads

        want = threads or default_threads()
        prev = torch.get_num_threads()
        K = [np.zeros((len(ids) + max_new, self.kv_dim), np.int8) for _ in self.layers]
        V = [np.zeros((len(ids) + max_new, self.kv_dim), np.int8) for _ in self.layers]

        def run(rows, pos):
            x = self._embed_rows(rows)
            for li in range(len(self.layers)):
                x, kn, vn = self._layer_rows(li, pos, x, K[li][:pos], V[li][:pos])
                K[li][pos:pos + len(rows)] = kn
                V[li][pos:pos + len(rows)] = vn
            return x

        try:
            torch.set_num_threads(want)
            for start in range(0, len(ids), PREFILL_CHUNK):
                x = run(ids[start:start + PREFILL_CHUNK], start)
            pos = len(ids)
            for i in range(max_new):
                tok = self.head(x[-1])
                if tok in stop:
                    return
                torch.set_num_threads(prev)
                yield tok  # the consumer runs with the caller's thread setting
                torch.set_num_threads(want)
                if i + 1 < max_new:
                    x = run([tok], pos)
                    pos += 1
        finally:
            torch.set_num_threads(prev)

    # ------------------------------------------------------------------ rows

    def _check_token(self, t) -> int:
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t < self.cfg.vocab:
            raise TextModelError(BAD_CALL_DATA, f"token id must be in 0..{self.cfg.vocab - 1}, got {t!r}")
        return int(t)

    def _embed_rows(self, ids: list[int]) -> np.ndarray:
        idx = np.asarray(ids, dtype=np.int64)
        x = round_shift(self.embed_q[idx].astype(np.int64) * self.embed_m[idx, None], self.embed_s[idx, None])
        return clip32(x)

    def _rms_scales(self, x: np.ndarray, am: list[int], ae: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Per row: (S * r) as (cm, ce), with S = am * 2^ae and r = 1/sqrt(mean(x_real^2) + eps)."""
        n = x.shape[1]
        mx = np.abs(x).max(axis=1).tolist()
        sh = np.array([max(0, int(m).bit_length() - 24) for m in mx], dtype=np.int64)
        xs = x >> sh[:, None]                     # |xs| < 2^24, so each square < 2^48 ...
        sumsq = (xs * xs).sum(axis=1).tolist()     # ... and a sum over width <= 2^14 < 2^62
        fx, k = self.fx, RMS_SQRT_BITS
        cms, ces = [], []
        for s2, shift, m, e in zip(sumsq, sh.tolist(), am, ae):
            # r^2 = n 2^(2fx) 2^eps_e / (sumsq 2^(2 shift) 2^eps_e + eps_m n 2^(2fx)): exact rationals
            num = n << (2 * fx + self.eps_e + 2 * k)
            den = (int(s2) << (2 * shift + self.eps_e)) + ((self.eps_m * n) << (2 * fx))
            cm, ce = normalize(m * isqrt(num // den), e - k)
            cms.append(cm)
            ces.append(ce)
        return np.array(cms, dtype=np.int64), np.array(ces, dtype=np.int64)

    def _rms_linear(self, x, gamma, mm, m, s) -> np.ndarray:
        q, am, ae = quant_rows(x * gamma)
        cm, ce = self._rms_scales(x, am, ae)
        return clip32(round_shift(mm(q) * m * cm[:, None], s - ce[:, None]))

    @staticmethod
    def _linear(v, mm, m, s) -> np.ndarray:
        q, am, ae = quant_rows(v)
        am, ae = np.array(am, dtype=np.int64), np.array(ae, dtype=np.int64)
        return clip32(round_shift(mm(q) * m * am[:, None], s - ae[:, None]))

    def _rope(self, t: np.ndarray, pos0: int) -> np.ndarray:
        """Rotate adjacent pairs of (T, heads, head_dim) by each row's position (Q14 tables)."""
        T = t.shape[0]
        c = self.rope_cos[pos0:pos0 + T][:, None, :]
        s = self.rope_sin[pos0:pos0 + T][:, None, :]
        a, b = t[..., 0::2], t[..., 1::2]
        out = np.empty_like(t)
        out[..., 0::2] = round_shift(a * c - b * s, fx_ops.ROPE_BITS)
        out[..., 1::2] = round_shift(a * s + b * c, fx_ops.ROPE_BITS)
        return out

    def _layer_rows(self, li: int, pos0: int, x: np.ndarray, k_cache: np.ndarray, v_cache: np.ndarray):
        """Layer ``li`` for rows at positions pos0.. (T rows, causal); caches hold positions < pos0."""
        L, cfg = self.layers[li], self.cfg
        T, H, Hkv, D, G = x.shape[0], cfg.heads, cfg.kv_heads, cfg.head_dim, self.group
        if pos0 + T > self.max_positions:
            raise TextModelError(PROMPT_TOO_LONG, f"position {pos0 + T - 1} is beyond {self.max_positions - 1}")
        qd, kvd, m = self.q_dim, self.kv_dim, L.m
        qkv = self._rms_linear(x, L.attn_norm, L.qkv, m["qkv.m"], m["qkv.s"])
        q = self._rope(qkv[:, :qd].reshape(T, H, D), pos0)
        k = self._rope(qkv[:, qd:qd + kvd].reshape(T, Hkv, D), pos0).reshape(T, kvd)
        k_new = np.clip(round_shift(k * m["k.m"], m["k.s"]), -127, 127).astype(np.int8)
        v_new = np.clip(round_shift(qkv[:, qd + kvd:] * m["v.m"], m["v.s"]), -127, 127).astype(np.int8)
        keys = np.concatenate([k_cache, k_new]).astype(np.int64).reshape(-1, Hkv, D)
        vals = np.concatenate([v_cache, v_new]).astype(np.int64).reshape(-1, Hkv, D)
        # q * (key channel scale) so that q8 . k8 is the score; heads grouped by their kv head.
        qs = q.reshape(T, Hkv, G, D) * m["qk.m"].reshape(Hkv, 1, D)
        q8, am, ae = quant_rows(qs)
        am = np.array(am, dtype=np.int64).reshape(T, Hkv, G, 1)
        ae = np.array(ae, dtype=np.int64).reshape(T, Hkv, G, 1)
        scores = np.einsum("tkgd,skd->tkgs", q8.astype(np.int64), keys)
        S = keys.shape[0]
        valid = (np.arange(S)[None, :] <= (pos0 + np.arange(T))[:, None])[:, None, None, :]
        smax = np.where(valid, scores, np.iinfo(np.int64).min).max(axis=-1, keepdims=True)
        u = round_shift((smax - scores) * L.score_m * am, L.score_s - ae)
        p = np.where(valid, fx_ops.exp2_neg(np.where(valid, u, 0), self.exp2), 0)
        total = p.sum(axis=-1)                                              # >= 2^15 (the max)
        acc = np.einsum("tkgs,skd->tkgd", p, vals) * m["vo.m"].reshape(Hkv, 1, D)
        if L.v_shift >= 0:
            o = round_div(acc, (total << L.v_shift)[..., None])
        else:
            o = round_div(acc << -L.v_shift, total[..., None])
        x = clip32(x + self._linear(o.reshape(T, qd), L.o, m["o.m"], m["o.s"]))
        gu = self._rms_linear(x, L.ffn_norm, L.gu, m["gu.m"], m["gu.s"])
        g, up = gu[:, :cfg.ffn], gu[:, cfg.ffn:]
        silu = round_shift(g * fx_ops.sigmoid_q15(g, self.fx, self.sigmoid), 15)
        h = clip32(round_shift(silu * up, self.fx))
        x = clip32(x + self._linear(h, L.down, m["down.m"], m["down.s"]))
        return x, k_new, v_new


def fx_ops_torch():
    """Configure torch (TF32 off, highest float32 precision) before any exact matmul."""
    from imochain.models.runtime import torch_module

    torch_module()


def _int_array(a, shape: tuple, lo: int, hi: int, what: str) -> np.ndarray:
    """An integer array of exactly ``shape`` with values in [lo, hi], as int64 (or a clear error)."""
    arr = np.asarray(a)
    if arr.dtype.kind not in "iu":
        raise TextModelError(BAD_CALL_DATA, f"{what} must be an integer array, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise TextModelError(BAD_CALL_DATA, f"{what} must have shape {shape}, got {arr.shape}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise TextModelError(BAD_CALL_DATA, f"{what} values must lie in {lo}..{hi}")
    return arr
