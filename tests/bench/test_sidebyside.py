"""The side-by-side node benchmark's plumbing (benchmarks/sidebyside.py), without timing: the
table's ratios, absent peers saying why, and one imochain node driven through the harness."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import sidebyside as sb  # noqa: E402


def test_table_gives_imochains_ratio_to_each_node():
    figures = {"imochain": {"eth_tx_per_s": 300.0, "eth_call_p50_ms": 0.5},
               "hardhat": {"eth_tx_per_s": 400.0, "eth_call_p50_ms": 1.0},
               "anvil": {"eth_tx_per_s": 1000.0}}
    table = sb.markdown_table(figures).splitlines()
    assert table[0] == "| | imochain | hardhat | anvil | imochain ÷ hardhat | imochain ÷ anvil |"
    rate = next(line for line in table if line.startswith("| ETH transfers / s"))
    assert rate == "| ETH transfers / s | 300 | 400 | 1000 | 0.75× | 0.30× |"
    call = next(line for line in table if line.startswith("| eth_call p50 |"))
    assert call == "| eth_call p50 | 0.500 ms | 1.000 ms | n/a | 0.50× | n/a |"


def test_absent_nodes_say_why(monkeypatch, tmp_path):
    monkeypatch.setattr(sb, "HARDHAT_BIN", tmp_path / "no-hardhat")
    monkeypatch.setattr(sb, "ANVIL_BIN", tmp_path / "no-anvil")
    missing = {p.name: p.missing for p in sb.peers()}
    assert missing["imochain"] is None
    assert "make bench" in missing["hardhat"] and "anvil" in missing["anvil"]


def test_one_node_through_the_harness():
    if sb.cpu_seconds(1) is None:
        pytest.skip("no /proc here: the harness reads each node's CPU and memory from it")
    imochain = sb.peers()[0]
    with sb.started(imochain) as peer:
        assert peer.figures["ready_s"] > 0 and peer.figures["rss_ready_mib"] > 0
        rate = sb.interleaved_rate([peer], 4, lambda p, n: sb.signed(n, sb.SINK, start=p.nonce), slices=2)
        assert rate["imochain"] > 0 and peer.nonce == 4
        assert int(peer.client.call("eth_getTransactionCount", [sb.ADDR0, "latest"]), 16) == 4
        p50, p99 = sb.interleaved_latency([peer], 5, lambda p: p.client.call("eth_blockNumber", []))["imochain"]
        assert 0 < p50 <= p99
