"""Forking: time to first answer and per-call latency on forked state, beside anvil --fork-url.

The remote is an imochain node in its own process. Baseline in the same run: the same calls
sent to the remote itself, so the ratio is what the fork adds (a first touch fetches from the
remote; later ones are local). `anvil --fork-url` against the same remote runs beside it when
`node_modules/.bin/anvil` exists (Foundry's anvil-linux-amd64 npm package).
Run: .venv/bin/python -m pytest benchmarks/bench_fork.py --benchmark-enable -s -p no:xdist
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from imochain.testing import free_port, node_process

from bench_node import Client

ANVIL = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "anvil"
READER = "0x" + "00" * 19 + "42"
READER_CODE = "0x60003554600052602060" + "00f3"  # return SLOAD(calldata[0:32])
SLOTS = 16
ACCOUNTS = 40


def _call(client: Client, method: str, params: list):
    client.id += 1
    answer = client.post(json.dumps({"jsonrpc": "2.0", "id": client.id, "method": method, "params": params}))
    assert "error" not in answer, answer
    return answer["result"]


def _populate(url: str) -> None:
    remote = Client(url)
    _call(remote, "anvil_setCode", [READER, READER_CODE])
    for slot in range(SLOTS):
        _call(remote, "anvil_setStorageAt", [READER, hex(slot), "0x" + f"{slot + 1:064x}"])
    for i in range(ACCOUNTS):
        _call(remote, "anvil_setBalance", ["0x" + f"{0x1000 + i:040x}", hex(10**18 + i)])
    _call(remote, "evm_mine", [])


def _first_answer(start) -> tuple[float, subprocess.Popen | None, str]:
    t = time.perf_counter()
    proc, url = start()
    client = Client(url)
    while True:
        try:
            _call(client, "eth_getBalance", ["0x" + f"{0x1000:040x}", "latest"])
            return time.perf_counter() - t, proc, url
        except (OSError, ConnectionError):
            time.sleep(0.02)
            client = Client(url)


def _latencies(url: str) -> dict:
    client = Client(url)
    out = {}
    for kind, addresses in (("cold", range(1, ACCOUNTS)), ("warm", range(1, ACCOUNTS))):
        times = []
        for i in addresses:
            t = time.perf_counter()
            _call(client, "eth_getBalance", ["0x" + f"{0x1000 + i:040x}", "latest"])
            times.append(time.perf_counter() - t)
        out[f"getBalance {kind}"] = statistics.median(times) * 1e3
    for kind in ("cold", "warm"):
        times = []
        for slot in range(SLOTS):
            t = time.perf_counter()
            _call(client, "eth_call", [{"to": READER, "data": "0x" + f"{slot:064x}"}, "latest"])
            times.append(time.perf_counter() - t)
        out[f"eth_call SLOAD {kind}"] = statistics.median(times) * 1e3
    return out


def test_fork_latency(benchmark):
    with node_process("--no-imo", "--no-oracle", "--no-challenger") as remote_url:
        _populate(remote_url)
        baseline = _latencies(remote_url)  # the remote itself: every call local to it
        rows = {}
        with node_process("--fork-url", remote_url, "--no-oracle", "--no-challenger", timeout=120) as fork_url:
            pass  # warms the interpreter's file cache so both timed starts are alike
        t = time.perf_counter()
        with node_process("--fork-url", remote_url, "--no-oracle", "--no-challenger", timeout=120) as fork_url:
            _call(Client(fork_url), "eth_getBalance", ["0x" + f"{0x1000:040x}", "latest"])
            rows["imochain"] = dict(first=time.perf_counter() - t, **_latencies(fork_url))
            client = Client(fork_url)
            benchmark.pedantic(lambda: _call(client, "eth_getBalance", ["0x" + f"{0x1001:040x}", "latest"]),
                               rounds=200, iterations=1)
        if ANVIL.exists() and shutil.which(str(ANVIL)):
            port = free_port()

            def start():
                proc = subprocess.Popen([str(ANVIL), "--fork-url", remote_url, "--port", str(port), "--silent"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                return proc, f"http://127.0.0.1:{port}"
            first, proc, url = _first_answer(start)
            try:
                rows["anvil"] = dict(first=first, **_latencies(url))
            finally:
                proc.terminate()
                proc.wait(timeout=20)
    print("\nfork of an imochain node in its own process (loopback HTTP, medians, ms):")
    print(f"  {'':24s}" + "".join(f"{name:>12s}" for name in ("remote", *rows)))
    print(f"  {'start to first answer':24s}{'':>12s}" + "".join(f"{r['first'] * 1e3:12.0f}" for r in rows.values()))
    for key, base in baseline.items():
        cells = "".join(f"{r[key]:12.2f}" for r in rows.values())
        ratios = "  ".join(f"{name} {r[key] / base:.1f}x" for name, r in rows.items())
        print(f"  {key:24s}{base:12.2f}{cells}   ({ratios} the remote)")
    if "anvil" not in rows:
        print("  anvil: not installed (node_modules/.bin/anvil); add @foundry-rs/anvil-linux-amd64 to compare")
