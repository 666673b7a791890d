"""pyrlp's Rust backend (rusty-rlp) against the Python RLP loops: in-process and over HTTP.

In-process: one warm node, raw RLP switched between the two (speedups.set_rust_rlp) in
alternating chunks; CPU ms and Python function calls per automined ETH transfer, ERC-20
transfer and balanceOf eth_call. Over HTTP: two nodes from this checkout side by side (one
with rusty-rlp hidden from it), interleaved as in the side-by-side benchmark, each order
once so neither node always goes first. Skipped, saying so, where rusty-rlp is not installed.
Run: .venv/bin/python -m pytest benchmarks/bench_rlp_backend.py --benchmark-enable -s -p no:xdist
"""

from __future__ import annotations

import contextlib
import cProfile
import gc
import os
import pstats
import statistics
import sys
import tempfile
from pathlib import Path

import pytest
import sidebyside as sb
from bench_chain import ADDR0, SINK, _cpu_per_op, _deploy_token, _send_all, _signed
from bench_node import _token_creation_code
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as selector

from imochain.builder import build_node
from imochain.chain import NodeConfig, rlp_speedups, speedups

pytestmark = pytest.mark.skipif(rlp_speedups.rusty_rlp is None,
                                reason="rusty-rlp is not installed: nothing to compare the Python RLP with")
MODES = ("python", "rust")


def _calls_per_op(run, items) -> float:
    profile = cProfile.Profile()
    profile.enable()
    run(items)
    profile.disable()
    return sum(v[1] for v in pstats.Stats(profile).stats.values()) / len(items)


def test_rlp_backend_in_process(benchmark):
    per, rounds = 40, 8  # each way: small chunks, many turns (the shared machine's load drifts)
    count = per * (2 * rounds + 2)
    node = build_node(NodeConfig())
    token = _deploy_token(node)
    transfer = selector("transfer(address,uint256)") + encode(["address", "uint256"], [SINK, 1])
    call = {"to": bytes.fromhex(token[2:]), "data": selector("balanceOf(address)") + encode(["address"], [ADDR0])}
    kinds = {"ETH transfer": (_signed(1, count, SINK), lambda raws: _send_all(node, raws)),
             "ERC-20 transfer": (_signed(1 + count, count, token, transfer, gas=200_000),
                                 lambda raws: _send_all(node, raws)),
             "eth_call balanceOf": ([None] * count, lambda items: [node.call(call) for _ in items])}
    results = {}

    def measure():
        gc.collect()
        gc.freeze()  # a full collection landing in one chunk would decide its median
        for kind, (items, run) in kinds.items():
            chunks = [items[i:i + per] for i in range(0, len(items), per)]
            run(chunks[0])  # warm-up
            spent = {mode: [] for mode in MODES}
            for i, chunk in enumerate(chunks[1:-2]):
                mode = MODES[i % 2]
                speedups.set_rust_rlp(mode == "rust")
                spent[mode].append(_cpu_per_op(run, chunk))
            calls = {}
            for mode, chunk in zip(MODES, chunks[-2:]):
                speedups.set_rust_rlp(mode == "rust")
                calls[mode] = _calls_per_op(run, chunk)
            results[kind] = {mode: (statistics.median(spent[mode]), calls[mode]) for mode in MODES}

    try:
        benchmark.pedantic(measure, rounds=1, iterations=1)
    finally:
        gc.unfreeze()
        speedups.set_rust_rlp(True)
        node.close()
    print(f"\nraw RLP in Python vs rusty-rlp, in-process, CPU ms (median of {rounds} chunks of {per}) and "
          f"Python calls per operation (load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
    for kind, by_mode in results.items():
        (py_s, py_calls), (rs_s, rs_calls) = by_mode["python"], by_mode["rust"]
        print(f"{kind:20s} {py_s * 1e3:6.3f} ms {py_calls:6.0f} calls -> {rs_s * 1e3:6.3f} ms {rs_calls:6.0f} calls"
              f"  ({py_s / rs_s:.3f}x)")
        benchmark.extra_info[kind] = {"python_ms": py_s * 1e3, "rust_ms": rs_s * 1e3}


def test_rlp_backend_over_http(benchmark):
    total = 600
    code = _token_creation_code()
    py = [sys.executable, "-m", "imochain.cli", "node", "--quiet", "--host", "127.0.0.1"]
    with tempfile.TemporaryDirectory() as hide, contextlib.ExitStack() as stack:
        # pyrlp falls back to Python when `import rusty_rlp` fails: a module that fails shadows it
        Path(hide, "rusty_rlp.py").write_text('raise ImportError("hidden for the benchmark")\n')
        peers = [sb.Peer("imochain (Python RLP)", lambda port: [*py, "--port", str(port)],
                         env={"PYTHONPATH": hide}),
                 sb.Peer("imochain (Rust RLP)", lambda port: [*py, "--port", str(port)])]
        ps = [stack.enter_context(sb.started(p)) for p in peers]
        for p in ps:
            sb.warm_up(p)
        tokens = {p.name: sb.deploy_token(p, code) for p in ps}
        transfer = sb.erc20_transfer_data()
        kinds = {"ETH transfers": lambda p, n: sb.signed(n, SINK, start=p.nonce),
                 "ERC-20 transfers": lambda p, n: sb.signed(n, tokens[p.name], transfer, 100_000, start=p.nonce)}
        figures = {}

        def measure():
            for kind, make in kinds.items():
                seconds, cpu = {p.name: 0.0 for p in ps}, {p.name: 0.0 for p in ps}
                for order in (ps, ps[::-1]):
                    rates = sb.interleaved_rate(order, total // 2, make)
                    for p in ps:
                        seconds[p.name] += total // 2 / rates[p.name]
                        cpu[p.name] += p.last_cpu_ms / 2
                figures[kind] = {name: (total // 2 * 2 / s, cpu[name]) for name, s in seconds.items()}
            figures["eth_call p50"] = sb.interleaved_latency(
                ps, 400, lambda p: p.client.call("eth_call", [sb.balance_of_call(tokens[p.name]), "latest"]))

        benchmark.pedantic(measure, rounds=1, iterations=1)
    python, rust = (p.name for p in ps)
    print(f"\nraw RLP in Python vs rusty-rlp, two nodes over HTTP, interleaved "
          f"(load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
    for kind in kinds:
        (py_rate, py_cpu), (rs_rate, rs_cpu) = figures[kind][python], figures[kind][rust]
        print(f"{kind:17s} {py_rate:5.0f} -> {rs_rate:5.0f} tx/s ({rs_rate / py_rate:.3f}x); "
              f"node CPU {py_cpu:.2f} -> {rs_cpu:.2f} ms/tx")
        benchmark.extra_info[kind] = {"python_tx_s": py_rate, "rust_tx_s": rs_rate}
    (py_p50, _), (rs_p50, _) = figures["eth_call p50"][python], figures["eth_call p50"][rust]
    print(f"{'eth_call p50':17s} {py_p50:.3f} -> {rs_p50:.3f} ms")
