"""Gas schedule of the inference (0xA1) and quote (0xA2) precompiles.

    gas = G_CALL + g_mac * MACs + g_byte * bytes

computed from the graph and the input shape before anything runs. ``MACs`` is the number of
multiply-accumulates of Linear and Conv2d for the whole batch; ``bytes`` is the input tensor's
data plus the bytes every op writes for the whole batch (the output included): elementwise ops
(requantise, ReLU, pooling, adds) cost per byte they produce, so a per-MAC price alone would
under-charge a conv net with large activations.

Constants are in milli-gas (integer arithmetic; the total is rounded up). They were calibrated
with ``benchmarks/bench_precompile.py`` (``test_gas_calibration``) against Ethereum's 100 Mgas/s
anchor, 1 gas = 10 ns of this machine's CPU: the constants are chosen so that the charged gas
covers the measured time of every zoo model at batch 1, 8 and 64 (time/gas <= ~1), with the
per-call base as small as the measurements allow. A least-squares fit is printed as well but
is dominated by the large batched rows, where the real cost per MAC is ~10x lower (gemm vs
gemv); a linear schedule must price the batch-1 (gemv, dispatch-bound) case, so large batches
are over-charged, which is the safe side.

Measured 2026-11-25, torch 2.13.0+cpu, 1 torch thread, best of 3-5 rounds, process CPU time
(the 2-core machine was shared with other jobs at load 5-8, so 2-thread wall times were
unusable; see the benchmark's CLOCK):

    model                    batch      MACs    bytes       µs      gas   time/gas
    mlp-784-32-10                1     25408     1016     47.6     6576     0.72
    mlp-784-32-10               64   1626112    65024    186.3   105813     0.18
    mlp-784-256-256-10           1    268800     3896    195.7    19609     1.00
    mlp-784-256-256-10          64  17203200   249344    795.3   939964     0.08
    cnn-28-residual              1    741664   129400    589.6    80904     0.73
    cnn-28-residual             64  47466496  8281600  18789.0  4862805     0.39
    mlp-3072-1024-1024-10        1   4204544    15400   1373.0   219848     0.62
    mlp-3072-1024-1024-10       64 269090816   985600   9281.3 13755221     0.07
    mlp-784-256-256-10-fp32      1    268800     7272    105.3    12558     0.84

i.e. ~50 µs fixed per call (ABI decode, checks, ~6 torch or numpy dispatches, encode), up to
~0.5 ns per int8 MAC at batch 1 (float32/float64 gemv of int8-valued weights is memory-bound),
~0.2 ns per fp32 MAC, ~3 ns per activation byte written (elementwise ops).
mlp-784-32-10 in int8 at batch 1 costs 6 576 gas (target <= 10 000).
"""

from __future__ import annotations

import math

from .errors import PrecompileError
from .graph import ITEMSIZE, Graph

# milli-gas
G_CALL_MILLI = 5_000_000          # 5 000 gas = 50 µs per call
G_MAC_INT8_MILLI = 50             # 0.05 gas/MAC  = 0.5 ns per int8 MAC
G_MAC_FP32_MILLI = 20             # 0.02 gas/MAC  = 0.2 ns per fp32 MAC
G_BYTE_MILLI = 300                # 0.3 gas/byte  = 3 ns per byte of input + activations

# The quote precompile (0xA2) only reads metadata and parses a header: a small fixed price
# plus the identity precompile's per-word price for its call data.
QUOTE_GAS_BASE = 1_000
QUOTE_GAS_PER_WORD = 3

# A call above this many MACs, or whose ops write more than this many activation bytes, is
# refused before it runs (dry runs have no gas limit): the runtime holds a few float copies of
# the activations, so the byte budget bounds a call's memory to well under a GiB.
MAX_CALL_MACS = 1 << 36
MAX_CALL_ACTIVATION_BYTES = 64 * 1024 * 1024


def check_budget(graph: Graph, batch: int) -> None:
    """Refuse a batch whose MACs or activation bytes exceed the per-call budget."""
    macs = graph.macs_per_sample * batch
    if macs > MAX_CALL_MACS:
        raise PrecompileError(f"call needs {macs} MACs, limit {MAX_CALL_MACS}")
    moved = graph.activation_bytes_per_sample * batch
    if moved > MAX_CALL_ACTIVATION_BYTES:
        raise PrecompileError(f"call of batch {batch} writes {moved} activation bytes, limit "
                              f"{MAX_CALL_ACTIVATION_BYTES} (at most "
                              f"{MAX_CALL_ACTIVATION_BYTES // max(1, graph.activation_bytes_per_sample)} samples)")


def inference_gas(graph: Graph, batch: int, input_bytes: int) -> int:
    macs = graph.macs_per_sample * batch
    moved = input_bytes + graph.activation_bytes_per_sample * batch
    per_mac = G_MAC_INT8_MILLI if graph.mode == "int8" else G_MAC_FP32_MILLI
    milli = G_CALL_MILLI + per_mac * macs + G_BYTE_MILLI * moved
    return -(-milli // 1000)


def batch1_gas(graph: Graph) -> int:
    return inference_gas(graph, 1, math.prod(graph.input_shape) * ITEMSIZE[graph.input_dtype])


def quote_gas(data_len: int) -> int:
    return QUOTE_GAS_BASE + QUOTE_GAS_PER_WORD * ((data_len + 31) // 32)
