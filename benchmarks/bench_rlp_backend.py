"""pyrlp's Rust backend (rusty-rlp) against the Python RLP loops: in-process and over HTTP.

In-process: one warm node, raw RLP switched between the two (speedups.set_rust_rlp) in
alternating chunks; CPU ms and Python function calls per automined ETH transfer, ERC-20
transfer and balanceOf eth_call. Over HTTP: one node as its own process, switched by a signal
between chunks of automined transfers (two nodes side by side differed by ±10 % from run to
run on the shared machine, more than the effect). Skipped, saying so, without rusty-rlp.
Run: .venv/bin/python -m pytest benchmarks/bench_rlp_backend.py --benchmark-enable -s -p no:xdist
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import statistics
import sys
import time

import pytest
import sidebyside as sb
from bench_chain import SINK, _before_after, _three_kinds
from bench_node import _token_creation_code

from imochain.builder import build_node
from imochain.chain import NodeConfig, rlp_speedups, speedups

pytestmark = pytest.mark.skipif(rlp_speedups.rusty_rlp is None,
                                reason="rusty-rlp is not installed: nothing to compare the Python RLP with")
MODES = ("python", "rust")


def test_rlp_backend_in_process(benchmark):
    per, rounds = 40, 8  # each way: small chunks, many turns (the shared machine's load drifts)
    count = per * (2 * rounds + 3)  # a warm-up chunk, the turns, then one profiled chunk each way
    node = build_node(NodeConfig())
    kinds = _three_kinds(node, count)
    results = {}

    def measure():
        results.update(_before_after(kinds, per, MODES, lambda mode: speedups.set_rust_rlp(mode == "rust"),
                                     profile=True))

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


# `imochain node` whose raw RLP flips between rusty-rlp and Python on SIGUSR1 (the bench's A/B)
FLIPPING_NODE = """
import signal, sys
from imochain.chain import speedups
rust = [True]
def flip(*_):
    rust[0] = not rust[0]
    speedups.set_rust_rlp(rust[0])
signal.signal(signal.SIGUSR1, flip)
from imochain.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _cpu_s(pid: int) -> float:
    """CPU seconds of all the process's threads, to the nanosecond (/proc's stat counts 10 ms ticks)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/schedstat") as f:
            total += int(f.read().split()[0])
    return total / 1e9


def test_rlp_backend_over_http(benchmark):
    """One node as its own process, its raw RLP switched (SIGUSR1) between chunks of automined
    transactions sent over HTTP: the same warm node, so the two modes differ in nothing else."""
    per, rounds = 60, 8  # chunks each way
    code = _token_creation_code()
    argv = [sys.executable, "-c", FLIPPING_NODE, "node", "--quiet", "--host", "127.0.0.1"]
    peer = sb.Peer("imochain", lambda port: [*argv, "--port", str(port)])
    figures = {}
    with sb.started(peer) as p:
        sb.warm_up(p)
        token = sb.deploy_token(p, code)
        transfer = sb.erc20_transfer_data()
        kinds = {"ETH transfers": lambda n: sb.signed(n, SINK, start=p.nonce),
                 "ERC-20 transfers": lambda n: sb.signed(n, token, transfer, 100_000, start=p.nonce)}

        def measure():
            rust = True
            for kind, make in kinds.items():
                spent = {True: ([], []), False: ([], [])}
                for i in range(2 * rounds + 1):
                    raws = make(per)
                    p.nonce += per
                    cpu0 = _cpu_s(p.pid)
                    wall = sb.send_and_wait(p.client, raws)
                    if i:  # the first chunk warms up
                        spent[rust][0].append(wall / per)
                        spent[rust][1].append((_cpu_s(p.pid) - cpu0) / per)
                    os.kill(p.pid, signal.SIGUSR1)
                    rust = not rust
                    time.sleep(0.05)  # the node takes the signal between requests
                figures[kind] = {mode: [statistics.median(v) for v in spent[mode]] for mode in (False, True)}

        benchmark.pedantic(measure, rounds=1, iterations=1)
    print(f"\nraw RLP in Python vs rusty-rlp, one node over HTTP switched between chunks of {per} "
          f"(median of {rounds} each; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
    for kind, by_mode in figures.items():
        (py_wall, py_cpu), (rs_wall, rs_cpu) = by_mode[False], by_mode[True]
        print(f"{kind:17s} {1 / py_wall:5.0f} -> {1 / rs_wall:5.0f} tx/s ({py_wall / rs_wall:.3f}x); "
              f"node CPU {py_cpu * 1e3:.2f} -> {rs_cpu * 1e3:.2f} ms/tx ({py_cpu / rs_cpu:.3f}x)")
        benchmark.extra_info[kind] = {"python_tx_s": 1 / py_wall, "rust_tx_s": 1 / rs_wall}
