"""imochain's node beside Hardhat's node and anvil: throughput, RPC latency, start time, memory.

All three run as their own processes, driven by one client the same way (benchmarks/sidebyside.py);
figures are measured interleaved in one run and printed with imochain's ratio to each. The run
writes docs/bench/node_vs_hardhat.json and .md (the README quotes them). A baseline in the same
run, the in-process Node (no HTTP, no JSON), shows what the RPC layer costs.
Run: make bench  (installs Hardhat into benchmarks/hardhat first), or
     .venv/bin/python -m pytest benchmarks/bench_node.py -o python_files='bench_*.py' --benchmark-enable -s
Sizes: IMOCHAIN_BENCH_TX (transfers per figure, default 300), IMOCHAIN_BENCH_SAMPLES (latency
samples, default 500), IMOCHAIN_BENCH_SOAK (transfers before the last memory reading, default 10000).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

import pytest

from imochain.builder import build_node
from imochain.chain import NodeConfig
from sidebyside import (ADDR0, KEY0, ROWS, SINK, Client, balance_of_call, deploy_token,  # noqa: F401  (Client: bench_fork)
                        erc20_transfer_data, interleaved_latency, interleaved_rate, machine, markdown_table,
                        peers, signed, soak, started, tool_versions, warm_up)

N_TX = int(os.environ.get("IMOCHAIN_BENCH_TX", "300"))
SAMPLES = int(os.environ.get("IMOCHAIN_BENCH_SAMPLES", "500"))
SOAK = int(os.environ.get("IMOCHAIN_BENCH_SOAK", "10000"))
REPORT = Path(__file__).resolve().parent.parent / "docs" / "bench" / "node_vs_hardhat"
TOKEN_SOURCE = Path(__file__).resolve().parent / "BenchToken.sol"


def _token_creation_code() -> bytes:
    from imochain.contracts.solc import compile_standard_json, toolchain_missing
    why = toolchain_missing(openzeppelin=True)
    if why:
        pytest.skip(f"cannot compile the benchmark's ERC-20: {why}")
    out = compile_standard_json({
        "language": "Solidity", "sources": {"BenchToken.sol": {"content": TOKEN_SOURCE.read_text()}},
        "settings": {"optimizer": {"enabled": True, "runs": 200}, "evmVersion": "cancun",
                     "outputSelection": {"*": {"*": ["evm.bytecode.object"]}}}})
    errors = [e for e in out.get("errors", []) if e["severity"] == "error"]
    assert not errors, errors
    return bytes.fromhex(out["contracts"]["BenchToken.sol"]["BenchToken"]["evm"]["bytecode"]["object"])


def _in_process_rate(count: int) -> float:
    node = build_node(NodeConfig(genesis_contracts=False))
    raws = signed(count, SINK)
    t0 = time.perf_counter()
    for raw in raws:
        assert node.get_receipt(node.send_raw_transaction(raw)).status == 1
    rate = count / (time.perf_counter() - t0)
    node.close()
    return rate


@pytest.mark.timeout(3600)  # three nodes, and 10 000 transfers each on a shared 2-core machine
def test_side_by_side(benchmark):
    creation = _token_creation_code()
    everyone = peers()
    absent = {p.name: p.missing for p in everyone if p.missing}
    present = [p for p in everyone if not p.missing]
    in_process = _in_process_rate(N_TX)
    with contextlib.ExitStack() as stack:
        for p in present:  # one at a time: each start is timed on a machine otherwise idle
            stack.enter_context(started(p))
        for p in present:
            warm_up(p)
        for name, rate in interleaved_rate(present, N_TX, lambda p, n: signed(n, SINK, start=p.nonce)).items():
            next(p for p in present if p.name == name).figures["eth_tx_per_s"] = rate
        for p in present:
            p.figures["eth_tx_cpu_ms"] = p.last_cpu_ms
        tokens = {p.name: deploy_token(p, creation) for p in present}
        data = erc20_transfer_data()
        for name, rate in interleaved_rate(
                present, N_TX, lambda p, n: signed(n, tokens[p.name], data, gas=100_000, start=p.nonce)).items():
            next(p for p in present if p.name == name).figures["erc20_tx_per_s"] = rate
        requests = {
            "eth_call": lambda p: p.client.call("eth_call", [balance_of_call(tokens[p.name]), "latest"]),
            "eth_blockNumber": lambda p: p.client.call("eth_blockNumber", []),
        }
        for method, request in requests.items():
            per_peer = interleaved_latency(present, SAMPLES, request)
            for p in present:
                p.figures[f"{method}_p50_ms"], p.figures[f"{method}_p99_ms"] = per_peer[p.name]
                p.figures[f"{method}_cpu_ms"] = p.last_cpu_ms
        batch = json.dumps([{"jsonrpc": "2.0", "id": i, "method": "eth_getBalance", "params": [ADDR0, "latest"]}
                            for i in range(100)])
        batch_ms = interleaved_latency(present, 30, lambda p: len(p.client.post(batch)) == 100 or 1 / 0)
        for p in present:
            p.figures["batch100_getBalance_ms"] = batch_ms[p.name][0]
        imochain = present[0]
        benchmark.pedantic(imochain.client.call, args=("eth_blockNumber", []), rounds=50, iterations=1)
        for p in present:  # last: the soak changes the chain's size, not the figures above
            soak(p, SOAK)

    figures = {p.name: p.figures for p in present}
    table = markdown_table(figures)
    http_ratio = figures["imochain"]["eth_tx_per_s"] / in_process
    print(f"\n{table}\n\nimochain in-process Node (no HTTP, same run): {in_process:.0f} transfers/s; "
          f"over HTTP {http_ratio:.2f}× of that")
    benchmark.extra_info.update(figures=figures, in_process_tx_per_s=in_process)
    if absent:
        pytest.skip("side-by-side comparison incomplete, report not written: "
                    + "; ".join(f"{n}: {why}" for n, why in absent.items()))
    report = {"machine": {**machine(), "load_avg_1m_at_end": os.getloadavg()[0]}, "versions": tool_versions(),
              "method": {"transfers_per_figure": N_TX, "latency_samples": SAMPLES, "soak_transfers": SOAK,
                         "client": "Python stdlib http.client, one persistent connection, each tx signed "
                                   "beforehand and waited to its receipt; the nodes take turns (6 turns per transfer figure, 10 "
                                   "per latency figure), so load swings hit all alike"},
              "figures": figures, "imochain_in_process_tx_per_s": in_process,
              "rows": [{"label": label, "key": key, "higher_is_better": up} for label, key, _, up in ROWS]}
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    m = report["machine"]
    REPORT.with_suffix(".md").write_text(
        "# imochain beside Hardhat and anvil\n\n"
        f"Written by `make bench` (benchmarks/bench_node.py). Machine: {m['cpu']}, {m['cores']} cores, "
        f"{m['os']}, Python {m['python']}; load average {m['load_avg_1m_at_start']:.1f} at start, "
        f"{m['load_avg_1m_at_end']:.1f} at end (shared machine). Versions: "
        + ", ".join(f"{k} {v}" for k, v in report["versions"].items()) + ".\n\n"
        f"{report['method']['client']}. {N_TX} transfers per figure, {SAMPLES} latency samples, "
        f"RSS after {SOAK} more transfers.\n\n{table}\n\n"
        f"imochain's in-process Node (no HTTP, same run): {in_process:.0f} transfers/s; over HTTP "
        f"{http_ratio:.2f}× of that.\n")
