"""Round 7: tx_frame (a transaction's frame around the interpreter: validation, the first message,
value transfer, refund, fee, sweep, with fewer layers) off and on, alternating on one warm node:
CPU and Python calls per automined ETH transfer, ERC-20 transfer and eth_call of balanceOf.

Run: .venv/bin/python -m pytest benchmarks/bench_tx_frame.py --benchmark-enable -s -p no:xdist
"""

from __future__ import annotations

from bench_chain import _switched_off_and_on

from imochain.chain import tx_frame


def test_tx_frame_before_after(benchmark):
    def set_frame(on: bool) -> None:
        tx_frame.enabled = on

    results = _switched_off_and_on(benchmark, set_frame, "round 7 (tx_frame)")
    for kind in ("ETH transfer", "ERC-20 transfer"):  # fewer calls: the short path ran
        assert results[kind][True][1] < results[kind][False][1]
