"""Round 6: evm_state_ops (SLOAD, SSTORE, KECCAK256, LOGn, RETURN on py-evm's objects with fewer
layers) off and on, alternating on one warm node: CPU and Python calls per automined ETH transfer
(the control: it runs no code), ERC-20 transfer and eth_call of balanceOf.

Run: .venv/bin/python -m pytest benchmarks/bench_state_ops.py --benchmark-enable -s -p no:xdist
"""

from __future__ import annotations

import gc
import os

from bench_chain import _before_after, _three_kinds

from imochain.builder import build_node
from imochain.chain import NodeConfig, evm_loop, evm_state_ops


def test_state_ops_before_after(benchmark):
    replacements = dict(evm_state_ops.FAST)

    def set_state_ops(on: bool) -> None:
        evm_loop.FAST_STATE_OPS.clear()
        if on:
            evm_loop.FAST_STATE_OPS.update(replacements)
        evm_loop._tables.clear()  # the opcode tables are rebuilt with py-evm's functions or these

    per, rounds = 40, 6
    count = per * (2 * rounds + 3)  # a warm-up chunk, the turns, then one profiled chunk each way
    node = build_node(NodeConfig())
    kinds = _three_kinds(node, count)
    results = {}

    def measure():
        results.update(_before_after(kinds, per, (False, True), set_state_ops, profile=True))

    try:
        benchmark.pedantic(measure, rounds=1, iterations=1)
    finally:
        gc.unfreeze()
        set_state_ops(True)
        node.close()
    print(f"\nround 6 (evm_state_ops) off vs on, in-process (load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
    for kind, by_mode in results.items():
        (before, calls_before), (after, calls_after) = by_mode[False], by_mode[True]
        print(f"{kind:22s} CPU {before * 1e3:7.3f} -> {after * 1e3:7.3f} ms ({before / after:.2f}x); "
              f"Python calls {calls_before:.0f} -> {calls_after:.0f}")
        benchmark.extra_info[kind] = {"before_ms": before * 1e3, "after_ms": after * 1e3,
                                      "calls_before": calls_before, "calls_after": calls_after}
    assert results["ERC-20 transfer"][True][1] < results["ERC-20 transfer"][False][1]  # fewer calls: it ran
