"""Round 6: evm_state_ops (SLOAD, SSTORE, KECCAK256, LOGn, RETURN on py-evm's objects with fewer
layers) off and on, alternating on one warm node: CPU and Python calls per automined ETH transfer
(the control: it runs no code), ERC-20 transfer and eth_call of balanceOf.

Run: .venv/bin/python -m pytest benchmarks/bench_state_ops.py --benchmark-enable -s -p no:xdist
"""

from __future__ import annotations

from bench_chain import _switched_off_and_on

from imochain.chain import evm_loop, evm_state_ops


def test_state_ops_before_after(benchmark):
    replacements = dict(evm_state_ops.FAST)

    def set_state_ops(on: bool) -> None:
        evm_loop.FAST_STATE_OPS.clear()
        if on:
            evm_loop.FAST_STATE_OPS.update(replacements)
        evm_loop._tables.clear()  # the opcode tables are rebuilt with py-evm's functions or these

    results = _switched_off_and_on(benchmark, set_state_ops, "round 6 (evm_state_ops)")
    assert results["ERC-20 transfer"][True][1] < results["ERC-20 transfer"][False][1]  # fewer calls: it ran
