"""Helpers for the fork suite: a recording (and, on demand, misbehaving) proxy before a remote node,
the test ERC-20, and JSON-RPC calls through a node's dispatcher."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from eth_abi import encode
from eth_utils import keccak

HOLDER = "0x" + "ab" * 20  # a token whale without a key: impersonated on the fork
OTHER = "0x" + "cd" * 20

TOKEN_SOURCE = r"""
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

contract Token {
    mapping(address => uint256) public balanceOf; // slot 0
    uint256 public totalSupply;                   // slot 1
    event Transfer(address indexed from, address indexed to, uint256 value);

    constructor(uint256 supply) { balanceOf[msg.sender] = supply; totalSupply = supply; }

    function transfer(address to, uint256 value) external returns (bool) {
        require(balanceOf[msg.sender] >= value, "balance too low");
        balanceOf[msg.sender] -= value;
        balanceOf[to] += value;
        emit Transfer(msg.sender, to, value);
        return true;
    }

    function hashOf(uint256 n) external view returns (bytes32) { return blockhash(n); }
}
"""


def selector(signature: str) -> str:
    from eth_utils import keccak
    return "0x" + keccak(text=signature)[:4].hex()


def transfer_data(to: str, value: int) -> str:
    return selector("transfer(address,uint256)") + encode(["address", "uint256"], [to, value]).hex()


def send(client: Client, sender: str, to: str | None, data: str = "0x", value: int = 0) -> dict:
    tx = {"from": sender, "data": data, "value": hex(value), "gas": hex(300_000)}
    if to:
        tx["to"] = to
    tx_hash = client.call("eth_sendTransaction", [tx])
    receipt = client.call("eth_getTransactionReceipt", [tx_hash])
    assert receipt["status"] == "0x1", receipt
    return receipt


def balance_slot(holder: str) -> int:
    """Where Token keeps `balanceOf[holder]` (mapping at slot 0)."""
    return int.from_bytes(keccak(bytes.fromhex(holder[2:].rjust(64, "0")) + bytes(32)), "big")


class Proxy:
    """Forwards JSON-RPC to `target`, recording each method; `mode` makes it misbehave:
    "429" (rate limited), "garbage" (not JSON), "bad-value" (a result that is no quantity),
    "slow" (answers after `delay` seconds), "no-batches" (refuses JSON-RPC batches)."""

    def __init__(self, target: str):
        self.target = target
        self.methods: list[str] = []
        self.mode: str | None = None
        self.delay = 2.0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                payload = json.loads(body)
                for item in payload if isinstance(payload, list) else [payload]:
                    proxy.methods.append(item["method"])
                mode = proxy.mode
                if mode == "no-batches" and isinstance(payload, list):
                    return self._send(200, b'{"jsonrpc": "2.0", "id": null, "error": '
                                           b'{"code": -32600, "message": "batch requests are not supported"}}')
                if mode == "429":
                    return self._send(429, b'{"error": "too many requests"}')
                if mode == "garbage":
                    return self._send(200, b"<html>bad gateway</html>")
                if mode == "slow":
                    time.sleep(proxy.delay)
                req = urllib.request.Request(proxy.target, body, {"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=60) as resp:
                    answer = resp.read()
                if mode == "bad-value":
                    data = json.loads(answer)
                    for item in data if isinstance(data, list) else [data]:
                        item["result"] = "0xnot-a-number"
                    answer = json.dumps(data).encode()
                self._send(200, answer)

            def _send(self, status: int, body: bytes):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up waiting (a timeout test)
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Proxy":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class Client:
    """JSON-RPC through a node's dispatcher (no HTTP): `call` must succeed, `error` must fail."""

    def __init__(self, node):
        from imochain.rpc import server  # noqa: F401  (registers every method, forked.py last)
        from imochain.rpc.dispatch import Context, handle_one
        from imochain.rpc.filters import FilterManager
        self.ctx = Context(node, FilterManager(node))
        self._handle = handle_one

    def raw(self, method: str, params: list | None = None) -> dict:
        return self._handle(self.ctx, {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})

    def call(self, method: str, params: list | None = None):
        resp = self.raw(method, params)
        assert "error" not in resp, (method, params, resp)
        return resp["result"]

    def error(self, method: str, params: list | None = None) -> dict:
        resp = self.raw(method, params)
        assert "error" in resp, (method, params, resp)
        return resp["error"]
