"""Integer primitives of the int8 text runtime: rounding shifts, per-row int8 quantisation,
mantissa/shift scales, exact matmuls, and the lookup tables (built from floats once, at export).

Every runtime function here takes and returns integers (numpy int64/int8); nothing whose result
depends on float rounding happens at run time. Floats appear only in the *builders*
(``scale_of``, ``exp2_table``, ``sigmoid_table``, ``rope_tables``), whose integer output is
stored in the model file, so every device reads the same tables.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MAX = (1 << 31) - 1
MANTISSA_BITS = 15          # scales are m * 2^-s with 2^14 <= m < 2^15
CHUNK_K = 1024              # float32 sums of int8*int8 products are exact up to 1024 terms (< 2^24)
EXP2_BITS = 10              # exp2 table: 1024 entries over one octave
SIGMOID_STEP_BITS = 8       # sigmoid table step 1/256 ...
SIGMOID_RANGE = 16          # ... over [-16, 16)
ROPE_BITS = 14              # cos/sin in Q14
ONE_Q15 = 1 << 15


def clip32(v: np.ndarray) -> np.ndarray:
    """Saturate to int32's range (kept in int64 so later products have headroom)."""
    return np.clip(v, -INT32_MAX, INT32_MAX)


def round_shift(v, s):
    """round(v / 2^s) for int64 ``v`` and shift ``s`` (scalar or broadcastable array, may be <= 0:
    then a left shift). Ties round up (towards +inf); every bound in this package keeps
    |v| * 2^max(-s, 0) + 2^(s-1) below 2^63."""
    v = np.asarray(v, dtype=np.int64)
    s = np.asarray(s, dtype=np.int64)
    right = np.clip(s, 0, 62)
    left = np.clip(-s, 0, 62)
    half = (np.int64(1) << right) >> 1
    return ((v << left) + half) >> right


def round_div(num, den):
    """round(num / den) for int64 arrays, den > 0, ties away from zero (symmetric in sign)."""
    num = np.asarray(num, dtype=np.int64)
    den = np.asarray(den, dtype=np.int64)
    q = (2 * np.abs(num) + den) // (2 * den)
    return np.where(num < 0, -q, q)


def normalize(m: int, e: int) -> tuple[int, int]:
    """A positive Python int scale m * 2^e rounded to a MANTISSA_BITS mantissa: (m', e')."""
    extra = max(0, m.bit_length() - MANTISSA_BITS)
    if extra:
        m = (m + (1 << (extra - 1))) >> extra
        e += extra
        if m >> MANTISSA_BITS:  # rounding carried into a new bit
            m >>= 1
            e += 1
    return m, e


def quant_rows(v: np.ndarray) -> tuple[np.ndarray, list[int], list[int]]:
    """Per-row (last axis) symmetric int8 quantisation of int64 ``v`` (|v| < 2^47).

    Row r's scale is S_r = am_r * 2^ae_r >= max|v_r| (am < 2^15, rounded up so |q| <= 127) and
    q = round(127 * v / S_r): v ~= q * S_r / 127. Returns (q int8, am list, ae list)."""
    v = np.asarray(v, dtype=np.int64)
    rows = v.reshape(-1, v.shape[-1])
    amax = np.abs(rows).max(axis=1)
    am, ae = [], []
    for a in amax.tolist():
        a = max(int(a), 1)
        e = max(0, a.bit_length() - MANTISSA_BITS)
        m = -(-a >> e)  # ceiling, so S >= max|v|
        if m >> MANTISSA_BITS:
            m = -(-m >> 1)
            e += 1
        am.append(m)
        ae.append(e)
    S = np.array([m << e for m, e in zip(am, ae)], dtype=np.int64)[:, None]
    q = round_div(127 * rows, S).astype(np.int8)
    return q.reshape(v.shape), am, ae


def scale_of(real: float) -> tuple[int, int]:
    """Builder: a positive real as (m, s) with real ~= m * 2^-s, 2^14 <= m < 2^15."""
    if not real > 0 or not math.isfinite(real):
        raise ValueError(f"scale must be positive and finite, got {real}")
    f, e = math.frexp(real)  # real = f * 2^e, 0.5 <= f < 1 (exact)
    m = int(round(f * ONE_Q15))
    s = MANTISSA_BITS - e
    if m == ONE_Q15:
        m, s = m >> 1, s - 1
    return m, s


def scales_of(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Builder: ``scale_of`` over an array -> (m int32 array, s int32 array)."""
    pairs = [scale_of(float(r)) for r in np.asarray(reals, dtype=np.float64).ravel()]
    m = np.array([p[0] for p in pairs], dtype=np.int32)
    s = np.array([p[1] for p in pairs], dtype=np.int32)
    return m, s


def exp2_table() -> np.ndarray:
    """Builder: round(2^15 * 2^(-i/1024)) for i in 0..1023 (Q15; entry 0 is exactly 1.0)."""
    n = 1 << EXP2_BITS
    return np.array([round(ONE_Q15 * 2.0 ** (-i / n)) for i in range(n)], dtype=np.int32)


def sigmoid_table() -> np.ndarray:
    """Builder: round(2^15 * sigmoid(x)) at x = -16 + i/256, i in 0..8191 (Q15)."""
    step = 1 << SIGMOID_STEP_BITS
    n = 2 * SIGMOID_RANGE * step
    return np.array(
        [round(ONE_Q15 / (1.0 + math.exp(-(i - n // 2) / step))) for i in range(n)], dtype=np.int32
    )


def rope_tables(inv_freq: np.ndarray, positions: int) -> tuple[np.ndarray, np.ndarray]:
    """Builder: cos and sin of pos * inv_freq in Q14, shape (positions, head_dim // 2), int32."""
    ang = np.arange(positions, dtype=np.float64)[:, None] * np.asarray(inv_freq, dtype=np.float64)[None, :]
    one = 1 << ROPE_BITS
    return (np.rint(np.cos(ang) * one).astype(np.int32), np.rint(np.sin(ang) * one).astype(np.int32))


def exp2_neg(u: np.ndarray, table: np.ndarray) -> np.ndarray:
    """2^(-u / 2^16) in Q15 for int64 u >= 0: table lookup of the fraction, shift by the integer part."""
    whole = np.minimum(u >> 16, 31)
    frac = (u & 0xFFFF) >> (16 - EXP2_BITS)
    return table[frac].astype(np.int64) >> whole


def sigmoid_q15(g: np.ndarray, frac_bits: int, table: np.ndarray) -> np.ndarray:
    """sigmoid of fixed-point g (``frac_bits`` fractional bits) in Q15, nearest table step."""
    n = table.shape[0]
    idx = round_shift(g, frac_bits - SIGMOID_STEP_BITS) + n // 2
    return table[np.clip(idx, 0, n - 1)].astype(np.int64)


class ExactMatmul:
    """x_int8 @ W_int8 with int64 results, exact on any BLAS: W is held as float32 chunks of at most
    CHUNK_K input rows, so every partial sum any kernel forms (CPU or CUDA, TF32 off) is an integer
    below 2^24. ``device``: where the weights live and the products run; results come back as numpy."""

    def __init__(self, w_q: np.ndarray, device: str = "cpu"):
        import torch

        if w_q.dtype != np.int8 or w_q.ndim != 2:
            raise ValueError("ExactMatmul needs an int8 (in, out) matrix")
        self.w_q = w_q
        self.device = device
        self.k, self.n = w_q.shape
        self.chunks = [
            (k0, min(k0 + CHUNK_K, self.k),
             torch.from_numpy(np.ascontiguousarray(w_q[k0:k0 + CHUNK_K], dtype=np.float32)).to(device))
            for k0 in range(0, self.k, CHUNK_K)
        ]

    def to(self, device: str) -> "ExactMatmul":
        return self if device == self.device else ExactMatmul(self.w_q, device)

    def __call__(self, a_q: np.ndarray) -> np.ndarray:
        import torch

        a = torch.from_numpy(np.ascontiguousarray(a_q, dtype=np.float32)).to(self.device)
        out = None
        for k0, k1, w in self.chunks:
            part = (a[..., k0:k1] @ w).cpu().numpy().astype(np.int64)
            out = part if out is None else out + part
        return out
