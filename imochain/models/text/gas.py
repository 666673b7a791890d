"""Gas of a text-model call, computed before running from the architecture alone.

Same method as tensor models: ``gas = G_call + g_mac * MACs + g_byte * bytes`` with 1 gas ≈ 10 ns
of this CPU (the 100 Mgas/s anchor). Text generation has two regimes, and the two terms map onto
them: prefill is compute-bound (MACs), token-by-token decode is bound by streaming every weight
from memory once per forward call (bytes). So ``bytes`` counts the float32 weights read per
forward call (one call for the prompt, one per further new token) plus the KV cache read.

The worst case is charged: generation may stop early at end-of-sequence, but the gas must be
known before running, so the cap ``max_new_tokens`` is priced in full.

Integer arithmetic only (milligas per unit), so every node computes the same number.
"""

from __future__ import annotations

from dataclasses import dataclass

# Calibration: benchmarks/bench_text.py::test_calibrate fits time = a*MACs + b*bytes on a
# 128-token prefill (compute-bound) and 16 decode steps (memory-bound); SmolLM2-135M float32,
# torch 2.13 CPU, 1 thread, this 2-core AMD EPYC (AVX2, no AVX-512) dev box, 2026-11-25. The
# box was shared with other jobs (load 6-9), so four runs spread 2-3x:
#   a = 0.032 / 0.046 / 0.063 / 0.083 ns/MAC,  b = 0.072 / 0.169 / 0.171 / 0.237 ns/byte
#   (best run: prefill 262 tokens/s, decode 43 ms/token; worst: 99 tokens/s, 139 ms/token).
# Priced at the medians, a = 0.06 ns/MAC and b = 0.17 ns/byte: ~2x the best case, so a quiet
# machine is never under-charged, and close to DESIGN's ~100 tokens/s prefill, ~12 tokens/s decode.
G_CALL_TEXT = 50_000        # tokenizing, KV-cache allocation, sampling set-up: < 0.5 ms
G_MAC_MILLI = 6             # milligas per multiply-accumulate    (0.06 ns/MAC at 10 ns/gas)
G_BYTE_MILLI = 17           # milligas per byte of weights/KV read (0.17 ns/byte)

FLOAT_BYTES = 4


@dataclass(frozen=True)
class Arch:
    layers: int
    width: int
    ffn: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int

    @property
    def linear_macs_per_token(self) -> int:
        """MACs of one token through every layer's matmuls (attention context excluded)."""
        d, kvd = self.width, self.kv_heads * self.head_dim
        per_layer = d * (d + 2 * kvd) + d * d + 3 * d * self.ffn
        return self.layers * per_layer

    @property
    def head_macs(self) -> int:
        return self.width * self.vocab

    @property
    def macs_per_token(self) -> int:
        """One generated token with a short context: all matmuls plus the LM head."""
        return self.linear_macs_per_token + self.head_macs

    @property
    def weight_bytes(self) -> int:
        """float32 bytes streamed from memory by one forward call (norms are negligible)."""
        return FLOAT_BYTES * (self.linear_macs_per_token + self.head_macs)


def work(arch: Arch, prompt_tokens: int, max_new_tokens: int) -> tuple[int, int]:
    """(MACs, bytes) of a prompt of ``prompt_tokens`` and up to ``max_new_tokens`` new tokens."""
    if prompt_tokens < 1 or max_new_tokens < 1:
        raise ValueError("prompt_tokens and max_new_tokens must be >= 1")
    fed = prompt_tokens + max_new_tokens - 1     # the last new token is never fed back
    calls = max_new_tokens                       # one prefill call + one per further token
    # Attention: the token at position p reads p+1 keys and values, 2*width MACs each, per layer.
    attn = 2 * arch.width * arch.layers * (fed * (fed + 1) // 2)
    macs = fed * arch.linear_macs_per_token + calls * arch.head_macs + attn
    kvd = arch.kv_heads * arch.head_dim
    # KV read per call: cached span so far; summed over the prefill (P) and decode calls.
    n = max_new_tokens - 1
    spans = prompt_tokens + n * prompt_tokens + n * (n + 1) // 2
    kv_bytes = FLOAT_BYTES * 2 * arch.layers * kvd * spans
    return macs, calls * arch.weight_bytes + kv_bytes


def gas(arch: Arch, prompt_tokens: int, max_new_tokens: int, io_bytes: int = 0) -> int:
    macs, nbytes = work(arch, prompt_tokens, max_new_tokens)
    milli = G_MAC_MILLI * macs + G_BYTE_MILLI * (nbytes + io_bytes)
    return G_CALL_TEXT + (milli + 999) // 1000
