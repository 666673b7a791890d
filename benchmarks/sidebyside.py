"""The side-by-side node benchmark: imochain, Hardhat's node and anvil under one client.

Each node runs as its own process on a loopback port. One client (stdlib, one persistent
HTTP/1.1 connection) drives them all the same way: every transaction is signed beforehand,
sent, and waited to its receipt. Figures are measured interleaved (a slice on each node in
turn), so a shared machine's load swings hit all three alike.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from eth_abi import encode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector as selector
from eth_utils import to_checksum_address

from imochain.testing import free_port, stop_process

REPO = Path(__file__).resolve().parent.parent
HARDHAT_DIR = REPO / "benchmarks" / "hardhat"
HARDHAT_BIN = HARDHAT_DIR / "node_modules" / ".bin" / "hardhat"
ANVIL_BIN = REPO / "node_modules" / ".bin" / "anvil"

KEY0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ADDR0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
SINK = "0x000000000000000000000000000000000000dEaD"


class Client:
    """One persistent HTTP/1.1 connection (stdlib), like a script holding a provider; a lean
    client so the figures are the node's, not the client library's."""

    def __init__(self, url: str):
        host, port = url.rsplit("/", 1)[-1].split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=120)
        self.id = 0

    def post(self, body: str):
        try:
            self.conn.request("POST", "/", body, {"Content-Type": "application/json"})
        except (BrokenPipeError, ConnectionResetError):  # an idle keep-alive the server closed
            self.conn.close()
            self.conn.request("POST", "/", body, {"Content-Type": "application/json"})
        return json.loads(self.conn.getresponse().read())

    def call(self, method: str, params: list):
        self.id += 1
        body = self.post(json.dumps({"jsonrpc": "2.0", "id": self.id, "method": method, "params": params}))
        if "error" in body:
            raise RuntimeError(body["error"])
        return body["result"]


def signed(count: int, to: str, data: bytes = b"", gas: int = 21000, start: int = 0) -> list[bytes]:
    return [bytes(Account.sign_transaction(
        dict(chainId=31337, nonce=n, maxPriorityFeePerGas=10**9, maxFeePerGas=10**11, gas=gas,
             to=to, value=0 if data else 1, data=data, type=2), KEY0).raw_transaction)
        for n in range(start, start + count)]


def receipt_of(client: Client, raw: bytes) -> dict:
    """Send one signed transaction and return its receipt (asked again while it is null:
    anvil answers the send a moment before its automined block is in)."""
    h = client.call("eth_sendRawTransaction", ["0x" + raw.hex()])
    receipt = client.call("eth_getTransactionReceipt", [h])
    while receipt is None:
        receipt = client.call("eth_getTransactionReceipt", [h])
    assert receipt["status"] == "0x1", receipt
    return receipt


def send_and_wait(client: Client, raws: list[bytes]) -> float:
    """Seconds to send each transaction and wait for its receipt, one after another."""
    t0 = time.perf_counter()
    for raw in raws:
        receipt_of(client, raw)
    return time.perf_counter() - t0


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process (Linux /proc), in MiB; None where there is no /proc."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc); None where there is none."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_quiet(pid: int, timeout: float = 120, quiet_s: float = 0.5) -> None:
    """Until the process has used under 5 % of a core for `quiet_s` seconds on end (or `timeout`)."""
    deadline = time.monotonic() + timeout
    last = cpu_seconds(pid)
    quiet_since = time.monotonic()
    while last is not None and time.monotonic() < deadline:
        time.sleep(0.25)
        now = cpu_seconds(pid)
        if now is None:
            return
        if now - last >= 0.0125:  # busy in this quarter second: start over
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return
        last = now


@dataclass
class Peer:
    """A node under test: how to start it, and what was measured on it."""
    name: str
    argv: Callable[[int], list[str]]
    cwd: Path = REPO
    env: dict = field(default_factory=dict)
    missing: str | None = None  # why it cannot run here
    url: str = ""
    pid: int = 0
    client: Client | None = None
    nonce: int = 0
    last_cpu_ms: float = 0.0  # node CPU per request (or transaction) in the last measurement
    figures: dict = field(default_factory=dict)


def peers() -> list[Peer]:
    """imochain (as `imochain node` runs), Hardhat's node, anvil; each says if it is absent."""
    py = [sys.executable, "-m", "imochain.cli", "node", "--quiet", "--host", "127.0.0.1"]
    out = [Peer("imochain", lambda port: [*py, "--port", str(port)])]
    hardhat = Peer("hardhat", lambda port: [str(HARDHAT_BIN), "node", "--hostname", "127.0.0.1", "--port", str(port)],
                   cwd=HARDHAT_DIR, env={"HARDHAT_DISABLE_TELEMETRY_PROMPT": "true"})
    if not HARDHAT_BIN.exists():
        hardhat.missing = "Hardhat is not installed (make bench runs `npm ci` in benchmarks/hardhat)"
    elif shutil.which("node") is None:
        hardhat.missing = "node is not installed"
    out.append(hardhat)
    anvil = Peer("anvil", lambda port: [str(ANVIL_BIN), "--host", "127.0.0.1", "--port", str(port), "--silent"])
    if not ANVIL_BIN.exists():
        anvil.missing = "anvil is not installed (node_modules/.bin/anvil: run `npm ci`)"
    out.append(anvil)
    return out


@contextlib.contextmanager
def started(peer: Peer, timeout: float = 120) -> Iterator[Peer]:
    """Start the peer; `ready_s` is process start → first answered eth_chainId."""
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen(peer.argv(port), cwd=peer.cwd, env={**os.environ, **peer.env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peer.url, peer.pid = f"http://127.0.0.1:{port}", proc.pid
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{peer.name} exited with {proc.returncode} before answering")
            try:
                client = Client(peer.url)
                assert int(client.call("eth_chainId", []), 16) == 31337
                break
            except OSError:
                if time.perf_counter() - t0 > timeout:
                    raise RuntimeError(f"{peer.name} did not answer within {timeout} s") from None
                time.sleep(0.01)
        peer.figures["ready_s"] = time.perf_counter() - t0
        peer.figures["ready_cpu_s"] = cpu_seconds(proc.pid)  # steadier than wall time under load
        peer.figures["rss_ready_mib"] = rss_mib(proc.pid)
        peer.client = client
        yield peer
    finally:
        stop_process(proc)


def warm_up(peer: Peer) -> None:
    """Steady state before measuring: imochain imports the precompile's runtime (torch) in the
    background shortly after start-up; one inference makes sure it is in, not mid-measurement."""
    c = peer.client
    if peer.name.startswith("imochain"):
        model = c.call("imo_listModels", [])[0]
        size = 1
        for d in model["input_shape"]:
            size *= d
        c.call("imo_dryRun", [model["hash"], "0x" + encode(["uint8", "uint32[]", "bytes"],
                                                           [1, model["input_shape"], bytes(size)]).hex()])
    # imochain's background warm-up (models' runtimes, then a full collection) starts after 2 s
    # without oracle work: quiet for longer than that means it has run
    wait_quiet(peer.pid, quiet_s=3.0)
    for _ in range(50):
        c.call("eth_blockNumber", [])
        c.call("eth_getBalance", [ADDR0, "latest"])
    peer.figures["rss_idle_mib"] = rss_mib(peer.pid)


def deploy_token(peer: Peer, creation_code: bytes) -> str:
    raw = Account.sign_transaction(dict(chainId=31337, nonce=peer.nonce, maxPriorityFeePerGas=10**9,
                                        maxFeePerGas=10**11, gas=3_000_000,
                                        data=creation_code + encode(["uint256"], [10**27]), type=2),
                                   KEY0).raw_transaction
    peer.nonce += 1
    return to_checksum_address(receipt_of(peer.client, bytes(raw))["contractAddress"])


def interleaved_rate(ps: list[Peer], total: int, make: Callable[[Peer, int], list[bytes]], slices: int = 6) -> dict:
    """Transactions per second on each peer, measured in `slices` turns taken in rotation."""
    spent = {p.name: 0.0 for p in ps}
    cpu = {p.name: 0.0 for p in ps}
    per = max(1, total // slices)
    for _ in range(slices):
        for p in ps:
            raws = make(p, per)
            p.nonce += per
            c0 = cpu_seconds(p.pid) or 0.0
            spent[p.name] += send_and_wait(p.client, raws)
            cpu[p.name] += (cpu_seconds(p.pid) or 0.0) - c0
    for p in ps:
        p.last_cpu_ms = cpu[p.name] / (per * slices) * 1e3
    return {name: per * slices / s for name, s in spent.items()}


def interleaved_latency(ps: list[Peer], samples: int, request: Callable[[Peer], None], slices: int = 10) -> dict:
    """(p50, p99) in ms of one request on each peer, the peers taking turns in `slices` runs of
    samples. Turns of one sample each would measure every request with the caches cold (the other
    nodes ran in between), which no client of a single node sees."""
    times: dict[str, list[float]] = {p.name: [] for p in ps}
    cpu = {p.name: 0.0 for p in ps}
    per = max(1, samples // slices)
    for _ in range(slices):
        for p in ps:
            c0 = cpu_seconds(p.pid) or 0.0
            for _ in range(per):
                t0 = time.perf_counter()
                request(p)
                times[p.name].append(time.perf_counter() - t0)
            cpu[p.name] += (cpu_seconds(p.pid) or 0.0) - c0
    for p in ps:  # the node's own CPU per request: steadier than wall time on a shared machine
        p.last_cpu_ms = cpu[p.name] / (per * slices) * 1e3
    out = {}
    for name, t in times.items():
        t.sort()
        out[name] = (statistics.median(t) * 1e3, t[min(len(t) - 1, int(len(t) * 0.99))] * 1e3)
    return out


def soak(peer: Peer, count: int, chunk: int = 500) -> None:
    """`count` more automined transfers, then the node's RSS."""
    done = 0
    while done < count:
        n = min(chunk, count - done)
        send_and_wait(peer.client, signed(n, SINK, start=peer.nonce))
        peer.nonce += n
        done += n
    peer.figures["soak_tx"] = count
    peer.figures["rss_after_soak_mib"] = rss_mib(peer.pid)


def erc20_transfer_data() -> bytes:
    return selector("transfer(address,uint256)") + encode(["address", "uint256"], [SINK, 1])


def balance_of_call(token: str) -> dict:
    return {"to": token, "data": "0x" + (selector("balanceOf(address)") + encode(["address"], [ADDR0])).hex()}


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    return {"cpu": cpu, "cores": os.cpu_count(), "os": platform.platform(terse=True),
            "python": platform.python_version(), "load_avg_1m_at_start": os.getloadavg()[0]}


def tool_versions() -> dict:
    out = {}
    with contextlib.suppress(Exception):
        out["hardhat"] = json.loads((HARDHAT_DIR / "node_modules" / "hardhat" / "package.json").read_text())["version"]
    with contextlib.suppress(Exception):
        out["anvil"] = subprocess.run([str(ANVIL_BIN), "--version"], capture_output=True, text=True,
                                      timeout=30).stdout.split("\n")[0]
    with contextlib.suppress(Exception):
        out["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    return out


# (label, key, unit, higher is better)
ROWS = [
    ("ETH transfers / s", "eth_tx_per_s", "", True),
    ("ERC-20 transfers / s (OZ ERC20)", "erc20_tx_per_s", "", True),
    ("eth_call p50", "eth_call_p50_ms", " ms", False),
    ("eth_call p99", "eth_call_p99_ms", " ms", False),
    ("eth_blockNumber p50", "eth_blockNumber_p50_ms", " ms", False),
    ("eth_blockNumber p99", "eth_blockNumber_p99_ms", " ms", False),
    ("node CPU per ETH transfer (send + receipt)", "eth_tx_cpu_ms", " ms", False),
    ("node CPU per eth_call", "eth_call_cpu_ms", " ms", False),
    ("node CPU per eth_blockNumber", "eth_blockNumber_cpu_ms", " ms", False),
    ("batch of 100 eth_getBalance (median)", "batch100_getBalance_ms", " ms", False),
    ("ready after start (to first eth_chainId)", "ready_s", " s", False),
    ("node CPU used until ready", "ready_cpu_s", " s", False),
    ("RSS when ready", "rss_ready_mib", " MiB", False),
    ("RSS idle (warmed up)", "rss_idle_mib", " MiB", False),
    ("RSS after the soak transfers", "rss_after_soak_mib", " MiB", False),
]


def _fmt(value, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == " ms":
        return f"{value:.3f}{unit}"
    if unit == " s":
        return f"{value:.2f}{unit}"
    return f"{value:.0f}{unit}"


def markdown_table(figures: dict[str, dict]) -> str:
    """Figures per node → a Markdown table with imochain's ratio to each other node
    (imochain ÷ other: above 1 is better for rates, below 1 is better for times and memory)."""
    others = [n for n in figures if n != "imochain"]
    head = "| | " + " | ".join(figures) + " | " + " | ".join(f"imochain ÷ {n}" for n in others) + " |"
    lines = [head, "|---" * (1 + len(figures) + len(others)) + "|"]
    for label, key, unit, _ in ROWS:
        cells = [_fmt(figures[n].get(key), unit) for n in figures]
        mine = figures["imochain"].get(key)
        ratios = []
        for n in others:
            theirs = figures[n].get(key)
            ratios.append(f"{mine / theirs:.2f}×" if mine and theirs else "n/a")
        lines.append(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    return "\n".join(lines)
