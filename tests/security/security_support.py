"""Helpers for the hostile-client suite: a node in its own process (so a crash or a runaway
allocation shows as the process dying or its peak RSS), raw JSON-RPC over loopback, and a
fingerprint of the chain to show a refused request changed nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from imochain.testing import free_port

DEV = ["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "0x70997970C51812dc3A010C7d01b50e0d1b3f04D6"]


def _strict(text: bytes):
    """Parse as strict JSON: NaN/Infinity are not JSON, so a reply holding them fails here."""
    def refuse(name):
        raise ValueError(f"{name} in a reply")
    return json.loads(text, parse_constant=refuse)


def raw_post(url: str, body: bytes, timeout: float = 120) -> tuple[int, object]:
    """POST bytes; (HTTP status, strictly parsed JSON reply or None for an empty body)."""
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            data = resp.read()
            return resp.status, (_strict(data) if data else None)
    except urllib.error.HTTPError as exc:
        data = exc.read()
        return exc.code, (_strict(data) if data else None)


def rpc(url: str, method: str, params: list | None = None, timeout: float = 120) -> dict:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    status, reply = raw_post(url, body, timeout)
    assert isinstance(reply, dict), (status, reply)
    return reply


def error_of(url: str, method: str, params: list | None = None) -> dict:
    reply = rpc(url, method, params)
    assert "error" in reply and "result" not in reply, reply
    return reply["error"]


def fingerprint(url: str) -> tuple:
    """Head and dev balances: equal before and after means nothing was written."""
    head = rpc(url, "eth_getBlockByNumber", ["latest", False])["result"]
    balances = tuple(rpc(url, "eth_getBalance", [a, "latest"])["result"] for a in DEV)
    return head["number"], head["hash"], head["stateRoot"], balances


class NodeProcess:
    """`imochain node` as a subprocess on a free loopback port."""

    def __init__(self, *args: str, models: str, start_timeout: float = 240):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "imochain.cli", "node", "--port", str(self.port), "--quiet",
             "--models", models, "--no-oracle", "--no-challenger", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + start_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited {self.proc.returncode}: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                rpc(self.url, "eth_blockNumber", timeout=5)
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("node did not start") from None
                time.sleep(0.1)

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            return False
        return "result" in rpc(self.url, "eth_chainId", timeout=60)

    def peak_rss(self) -> int:
        """Peak resident memory of the node so far (VmHWM), bytes."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmHWM")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stderr.close()
        return self.proc.returncode
