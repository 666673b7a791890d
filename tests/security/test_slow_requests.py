"""One slow request must not stall every client: calls run off the chain lock on their own
state and off the event loop; mining requests are bounded; call gas is capped."""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest

from imochain.testing import running_node

LOOPER = "0x" + "11" * 20
# JUMPDEST, 4 x (PUSH1 0, SLOAD, POP), PUSH1 0, JUMP: 432 gas a turn, forever (SLOADs make a
# turn cost the node more per gas than bare jumps, so 30 M gas takes seconds, not half a minute).
LOOP_CODE = "0x5b" + "60005450" * 4 + "600056"
ME = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def call(url: str, method: str, params: list | None = None, timeout: float = 300) -> dict:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def url():
    with running_node() as u:
        yield u


def test_a_30m_gas_call_does_not_stall_other_clients(url):
    """While a call loops to 30 M gas (asked for far more: the cap is the block gas limit),
    other clients read, send and mine; their answers all arrive before the call's."""
    events: list[str] = []
    answer: dict = {}

    def slow() -> None:
        answer.update(call(url, "eth_call", [{"from": ME, "to": LOOPER, "gas": hex(2**60)}, "latest",
                                             {LOOPER: {"code": LOOP_CODE}}]))
        events.append("call")

    worker = threading.Thread(target=slow)
    start = int(call(url, "eth_blockNumber")["result"], 16)
    worker.start()
    served = 0
    while worker.is_alive() and served < 20:
        assert "result" in call(url, "eth_blockNumber", timeout=60)
        assert "result" in call(url, "eth_getBalance", [ME, "latest"], timeout=60)  # takes the chain lock
        assert call(url, "evm_mine", timeout=60)["result"] == "0x0"  # a writer, meanwhile
        events.append("read")
        served += 1
    worker.join(timeout=600)
    assert answer["error"]["message"].startswith("Out of gas"), answer
    assert events.index("call") >= 3, events  # three rounds of reads, sends and mining finished first
    mined = int(call(url, "eth_blockNumber")["result"], 16) - start
    assert mined == served  # every evm_mine made its block


def test_call_gas_is_capped_at_the_block_gas_limit(url):
    reply = call(url, "eth_estimateGas", [{"from": ME, "to": LOOPER, "gas": hex(2**40)}, "latest",
                                          {LOOPER: {"code": "0x00"}}])
    assert reply["result"] == "0x5208"
    trace = call(url, "debug_traceCall", [{"from": ME, "to": LOOPER, "gas": hex(2**40)}, "latest",
                                          {"tracer": "callTracer", "stateOverrides": {LOOPER: {"code": "0x00"}}}])
    assert int(trace["result"]["gas"], 16) == 30_000_000


@pytest.mark.parametrize("method,params", [("evm_mine", [{"blocks": 10_001}]), ("anvil_mine", ["0x186a0"]),
                                           ("hardhat_mine", [10_001])])
def test_mining_requests_are_bounded(url, method, params):
    before = call(url, "eth_blockNumber")["result"]
    reply = call(url, method, params)
    assert reply["error"]["code"] == -32602
    assert "more than 10000 blocks per request" in reply["error"]["message"]
    assert call(url, "eth_blockNumber")["result"] == before


def test_reads_get_in_between_the_blocks_of_a_long_mine(url):
    """anvil_mine takes the chain lock block by block: a reader that needs the lock sees
    heads in the middle of the run, not only before and after it."""
    start = int(call(url, "eth_blockNumber")["result"], 16)
    worker = threading.Thread(target=call, args=(url, "anvil_mine", [hex(400)]))
    worker.start()
    seen = set()
    while worker.is_alive():
        block = call(url, "eth_getBlockByNumber", ["latest", False], timeout=60)["result"]
        seen.add(int(block["number"], 16) - start)
    worker.join()
    assert int(call(url, "eth_blockNumber")["result"], 16) == start + 400
    assert any(0 < n < 400 for n in seen), sorted(seen)


def test_the_cli_socket_gets_tcp_nodelay_connections():
    """The CLI binds its own socket; made without IPPROTO_TCP, asyncio skips TCP_NODELAY and
    every answer waits for a delayed ACK (~40 ms a request)."""
    import socket

    from imochain.rpc.server import _bind
    sock = _bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
