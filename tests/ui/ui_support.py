"""Helpers for the explorer's tests: a node with the oracle services, served on a free port."""

from __future__ import annotations

import contextlib
import time

from eth_abi import encode as abi_encode
from eth_utils import keccak

from imochain.builder import build_node
from imochain.chain import NodeConfig
from imochain.testing import rpc, running_node

HTML = {"accept": "text/html"}


@contextlib.contextmanager
def served_node(**config):
    node = build_node(NodeConfig(**config), services=True)
    services = node.services
    try:
        with running_node(node=node) as url:
            yield url, node
    finally:
        for s in services:
            s.stop()


def call(url: str, method: str, *params):
    resp = rpc(url, method, list(params))
    assert "error" not in resp, resp
    return resp["result"]


def wait_for(what: str, fn, timeout: float = 60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def reverting_runtime(reason: str) -> bytes:
    """Runtime code that reverts every call with Error(reason)."""
    payload = keccak(text="Error(string)")[:4] + abi_encode(["string"], [reason])
    n = len(payload)
    # PUSH2 n, PUSH1 start, PUSH1 0, CODECOPY, PUSH2 n, PUSH1 0, REVERT, then the payload
    head = bytes([0x61, n >> 8, n & 0xFF, 0x60, 0, 0x60, 0, 0x39, 0x61, n >> 8, n & 0xFF, 0x60, 0, 0xFD])
    head = head[:4] + bytes([len(head)]) + head[5:]
    return head + payload


def digit_tensor(ink: list[int]) -> bytes:
    """The classifier's input: 64 int8 pixels (ink 0..16 × 7)."""
    return abi_encode(["uint8", "uint32[]", "bytes"], [1, [64], bytes(v * 7 for v in ink)])


SEVEN = [0, 16, 16, 16, 16, 16, 16, 0,
         0, 0, 0, 0, 0, 12, 16, 0,
         0, 0, 0, 0, 4, 16, 4, 0,
         0, 0, 0, 0, 12, 12, 0, 0,
         0, 0, 0, 4, 16, 4, 0, 0,
         0, 0, 0, 12, 12, 0, 0, 0,
         0, 0, 4, 16, 4, 0, 0, 0,
         0, 0, 12, 12, 0, 0, 0, 0]
