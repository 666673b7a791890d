"""Gas schedule of the inference (0xA1) and quote (0xA2) precompiles.

    gas = G_CALL + g_mac * MACs + g_byte * bytes

computed from the graph and the input shape before anything runs. ``MACs`` is the number of
multiply-accumulates of Linear and Conv2d for the whole batch; ``bytes`` is the input tensor's
data plus the bytes every op writes for the whole batch (the output included): elementwise ops
(requantise, ReLU, pooling, adds) cost per byte they produce, so a per-MAC price alone would
under-charge a conv net with large activations.

Constants are in milli-gas (integer arithmetic; the total is rounded up). They come from
``imochain bench --calibrate`` (``imochain/bench/calibrate.py``) against Ethereum's 100 Mgas/s
anchor, 1 gas = 10 ns: the median wall time of whole calls (``gas_cost`` + ``execute``:
decode, checks, forward, encode) of every shipped model at batch 1, 8 and 64, torch at its
default threads; the schedule covers 1.5x every median (the margin) and charges batch-1 calls
as little as that allows. Batched calls are over-charged (a batch is a gemm, ~10x cheaper per
MAC than batch 1's gemv): the safe side.

Reference run, 2026-11-28, on the quietest CPU at hand: a 16-core Intel Xeon (load 0.3, torch
2.11, 16 threads; raw rows in ``docs/bench/gas_cover_h200.json``). time/gas = µs / (gas/100)
with these constants; 1.5x margin means <= 0.67 everywhere:

    model                    batch      MACs    bytes       µs      gas   time/gas
    digits-classifier            1      4736      488     28.1     5432     0.52
    digits-generator             1     16896     1616     42.4     6387     0.66
    mlp-784-32-10                1     25408     1016     34.5     6792     0.51
    mlp-784-32-10               64   1626112    65024    119.4   116533     0.10
    mlp-784-256-256-10           1    268800     3896    146.7    22184     0.66
    mlp-784-256-256-10-fp32      1    268800     7272     62.3     9382     0.66
    cnn-28-residual              1    741664   129400    494.4    74749     0.66
    cnn-28-residual             64  47466496  8281600   2610.1  4465729     0.06
    mlp-3072-1024-1024-10        1   4204544    15400    260.4   264438     0.10

i.e. ~50 µs fixed per call, ~0.6 ns per int8 MAC, ~0.1 ns per fp32 MAC, ~1.9 ns per byte.
mlp-784-32-10 in int8 at batch 1 costs 6 792 gas (target <= 10 000).
Not covered, measured and said plainly: (1) CUDA: a call there is launch- and copy-bound,
350-1 000 µs whatever its size, so small models run at up to ~10x their gas (gas is consensus
and cannot depend on the device); (2) an oversubscribed CPU: on the shared 2-core dev machine
at load ~10, torch's 2-thread pool spin-waits and medians grow 10-1000x; `imochain bench`
flags such rows (time/gas > 1) and states the load.
"""

from __future__ import annotations

import math

from imochain.models.errors import PrecompileError
from imochain.models.graph import ITEMSIZE, Graph

# milli-gas
G_CALL_MILLI = 5_050_000          # 5 050 gas   = 50.5 µs per call
G_MAC_INT8_MILLI = 61             # 0.061 gas/MAC  = 0.61 ns per int8 MAC
G_MAC_FP32_MILLI = 11             # 0.011 gas/MAC  = 0.11 ns per fp32 MAC
G_BYTE_MILLI = 189                # 0.189 gas/byte = 1.89 ns per byte of input + activations

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


# A layer step also runs the int8 Llama's integer element-wise work (norms, RoPE, softmax, SiLU)
# as numpy on one row: a fixed cost per layer call and row, calibrated with the int8 text runtime
# (imochain/models/text/int8/serve.py: 60 000 per layer call + 20 000 per row, 1 gas ~ 10 ns).
LAYER_STEP_FIXED_GAS = 80_000
# The KV digest check hashes each cached row (keccak of ~400 bytes at SmolLM2's shape): measured
# ~10 µs a row on the shared 2-core machine at load ~4 (imochain/bench/bisection_gas.py).
KV_ROW_GAS = 1_000


def layer_step_gas(macs: int, call_bytes: int, kv_rows: int = 0) -> int:
    """One step of the opML bisection (one layer of one token, a head step or state 0): the int8
    inference schedule over that step's MACs and the call's bytes, the digest check of its KV
    rows, plus one layer call's element-wise work."""
    milli = G_CALL_MILLI + G_MAC_INT8_MILLI * macs + G_BYTE_MILLI * call_bytes
    return LAYER_STEP_FIXED_GAS + KV_ROW_GAS * kv_rows + -(-milli // 1000)
