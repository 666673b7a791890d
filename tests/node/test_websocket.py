"""JSON-RPC over WebSocket on the same port: plain calls, batches, eth_subscribe (newHeads,
logs, newPendingTransactions), eth_unsubscribe, and web3.py's WebSocket provider."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from web3 import AsyncWeb3, WebSocketProvider
from websockets.sync.client import connect

from node_support import call, deploy

HUNG = 60.0  # seconds: a bound on a hung test, not a speed requirement (a paused CI machine misses 6 s)
SET_TOPIC = "0x" + AsyncWeb3.keccak(text="Set(address,uint256,string)").hex().removeprefix("0x")


class Ws:
    """A raw JSON-RPC WebSocket client that keeps notifications apart from responses."""

    def __init__(self, url: str):
        self.conn = connect(url, max_size=None, open_timeout=10).__enter__()
        self.notes: list[dict] = []
        self.next_id = 1

    def request(self, method: str, params: list | None = None) -> dict:
        rid = self.next_id
        self.next_id += 1
        self.conn.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params or []}))
        return self._until(lambda m: m.get("id") == rid)

    def send_raw(self, text: str):
        self.conn.send(text)

    def _until(self, pred, timeout: float = HUNG):
        deadline = time.time() + timeout
        while True:
            msg = json.loads(self.conn.recv(timeout=max(0.01, deadline - time.time())))
            if pred(msg):
                return msg
            if isinstance(msg, dict) and msg.get("method") == "eth_subscription":
                self.notes.append(msg)

    def result(self, method: str, params: list | None = None):
        resp = self.request(method, params)
        assert "error" not in resp, resp
        return resp["result"]

    def notifications(self, sid: str, count: int, timeout: float = HUNG) -> list:
        """Wait until `count` notifications for `sid` have arrived; return their results."""
        deadline = time.time() + timeout
        while len([n for n in self.notes if n["params"]["subscription"] == sid]) < count:
            try:
                msg = json.loads(self.conn.recv(timeout=max(0.01, deadline - time.time())))
            except TimeoutError:
                break
            if msg.get("method") == "eth_subscription":
                self.notes.append(msg)
        got = [n["params"]["result"] for n in self.notes if n["params"]["subscription"] == sid]
        self.notes = [n for n in self.notes if n["params"]["subscription"] != sid]
        return got

    def quiet(self, sid: str, wait: float = 0.3) -> bool:
        """True when nothing arrives for `sid` within `wait` seconds."""
        return self.notifications(sid, 1, timeout=wait) == []

    def close(self):
        self.conn.close()


@pytest.fixture
def ws(ws_url):
    client = Ws(ws_url)
    yield client
    client.close()


def test_plain_calls_and_batch_over_ws(ws, w3):
    assert ws.result("eth_chainId") == "0x7a69"
    assert int(ws.result("eth_blockNumber"), 16) == w3.eth.block_number
    ws.send_raw(json.dumps([{"jsonrpc": "2.0", "id": 7, "method": "eth_chainId"},
                            {"jsonrpc": "2.0", "id": 8, "method": "nope_nope"},
                            {"jsonrpc": "2.0", "method": "eth_chainId"}]))
    batch = ws._until(lambda m: isinstance(m, list))
    assert [r["id"] for r in batch] == [7, 8]
    assert batch[0]["result"] == "0x7a69" and batch[1]["error"]["code"] == -32601
    ws.send_raw("{not json")
    err = ws._until(lambda m: isinstance(m, dict) and "error" in m and m.get("id") is None)
    assert err["error"]["code"] == -32700
    assert ws.result("net_version") == "31337"  # still serving on the same socket
    # binary frames (what web3.py's WebSocketProvider sends) are requests too
    ws.conn.send(json.dumps({"jsonrpc": "2.0", "id": 99, "method": "eth_chainId"}).encode())
    assert ws._until(lambda m: isinstance(m, dict) and m.get("id") == 99)["result"] == "0x7a69"


def test_subscribe_needs_websocket(node_url):
    from imochain.testing import rpc
    resp = rpc(node_url, "eth_subscribe", ["newHeads"])
    assert resp["error"]["code"] in (-32601, -32600, -32000)


def test_new_heads(ws, w3, node_url):
    sid = ws.result("eth_subscribe", ["newHeads"])
    assert isinstance(sid, str) and sid.startswith("0x")
    call(node_url, "anvil_mine", ["0x2"])
    heads = ws.notifications(sid, 2)
    assert len(heads) == 2
    latest = w3.eth.get_block("latest")
    assert heads[1]["hash"] == latest.hash.to_0x_hex()
    assert int(heads[1]["number"], 16) == latest.number
    assert int(heads[0]["number"], 16) == latest.number - 1
    for key in ("parentHash", "stateRoot", "timestamp", "baseFeePerGas", "gasLimit", "logsBloom", "miner"):
        assert key in heads[1], key
    assert ws.result("eth_unsubscribe", [sid]) is True
    call(node_url, "evm_mine")
    assert ws.quiet(sid)
    assert ws.result("eth_unsubscribe", [sid]) is False


def test_logs_subscription_with_filter(ws, w3, store_artifact):
    s1 = deploy(w3, store_artifact, 0)
    s2 = deploy(w3, store_artifact, 0)
    sid_addr = ws.result("eth_subscribe", ["logs", {"address": s1.address}])
    sid_topic = ws.result("eth_subscribe", ["logs", {"topics": [SET_TOPIC]}])
    sid_all = ws.result("eth_subscribe", ["logs"])
    h1 = s1.functions.set(1).transact({"from": w3.eth.accounts[0]})
    h2 = s2.functions.set(2).transact({"from": w3.eth.accounts[0]})
    h3 = s1.functions.ping(3).transact({"from": w3.eth.accounts[0]})
    for h in (h1, h2, h3):
        w3.eth.wait_for_transaction_receipt(h)
    by_addr = ws.notifications(sid_addr, 2)
    assert [e["transactionHash"] for e in by_addr] == [h1.to_0x_hex(), h3.to_0x_hex()]
    assert all(e["address"] == s1.address for e in by_addr)
    by_topic = ws.notifications(sid_topic, 2)
    assert [e["transactionHash"] for e in by_topic] == [h1.to_0x_hex(), h2.to_0x_hex()]
    assert len(ws.notifications(sid_all, 3)) == 3
    assert by_addr[0]["removed"] is False and "logIndex" in by_addr[0]
    for sid in (sid_addr, sid_topic, sid_all):
        assert ws.result("eth_unsubscribe", [sid]) is True


def test_pending_transactions_subscription(ws, w3, ws_url):
    sid = ws.result("eth_subscribe", ["newPendingTransactions"])
    other = Ws(ws_url)  # another connection without subscriptions gets nothing
    try:
        h = w3.eth.send_transaction({"from": w3.eth.accounts[2], "to": w3.eth.accounts[3], "value": 1})
        assert ws.notifications(sid, 1) == [h.to_0x_hex()]
        assert other.result("eth_chainId") == "0x7a69"
        assert other.notes == []
    finally:
        other.close()
    assert ws.result("eth_unsubscribe", [sid]) is True


def test_subscribe_errors(ws):
    assert ws.request("eth_subscribe", ["nonsense"])["error"]["code"] == -32602
    assert ws.request("eth_subscribe", ["logs", {"address": "0x12"}])["error"]["code"] == -32602
    assert ws.request("eth_subscribe", [])["error"]["code"] == -32602
    assert ws.request("eth_unsubscribe", [])["error"]["code"] == -32602
    assert ws.result("eth_unsubscribe", ["0x1234"]) is False


def test_web3_websocket_provider(ws_url, store_artifact):
    async def main():
        async with AsyncWeb3(WebSocketProvider(ws_url)) as w3:
            assert await w3.eth.chain_id == 31337
            accounts = await w3.eth.accounts
            sub = await w3.eth.subscribe("newHeads")
            factory = w3.eth.contract(abi=store_artifact["abi"], bytecode=store_artifact["bytecode"])
            tx_hash = await factory.constructor(3).transact({"from": accounts[0]})
            receipt = await w3.eth.wait_for_transaction_receipt(tx_hash, timeout=HUNG)
            assert receipt.status == 1
            store = w3.eth.contract(address=receipt.contractAddress, abi=store_artifact["abi"])
            assert await store.functions.value().call() == 3
            async def first_head():
                async for msg in w3.socket.process_subscriptions():
                    return msg
            msg = await asyncio.wait_for(first_head(), 10)
            assert msg["subscription"] == sub
            assert msg["result"]["number"] == receipt.blockNumber
            assert await w3.eth.unsubscribe(sub) is True
    asyncio.run(main())


def test_subscriptions_and_filters_survive_reset(ws, node_url, w3):
    """anvil_reset drops old polling filters, but WebSocket subscriptions keep working and
    new filters see each block once."""
    sid = ws.result("eth_subscribe", ["newHeads"])
    old = call(node_url, "eth_newBlockFilter")
    call(node_url, "anvil_reset")
    from node_support import rpc_error
    assert rpc_error(node_url, "eth_getFilterChanges", [old])["code"] == -32000
    fid = call(node_url, "eth_newBlockFilter")
    call(node_url, "evm_mine")
    assert call(node_url, "eth_getFilterChanges", [fid]) == [w3.eth.get_block("latest").hash.to_0x_hex()]
    heads = ws.notifications(sid, 1)
    assert [h["number"] for h in heads] == ["0x1"]
    assert ws.quiet(sid)


def test_oversized_ws_message_closes_only_that_socket(ws_url, node_url):
    from websockets.exceptions import ConnectionClosed
    big = Ws(ws_url)
    try:
        with pytest.raises((ConnectionClosed, TimeoutError, OSError)):
            big.send_raw('{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":["' + "0" * (70 * 1024 * 1024) + '"]}')
            big._until(lambda m: True, timeout=20)
    finally:
        big.close()
    fresh = Ws(ws_url)
    try:
        assert fresh.result("eth_chainId") == "0x7a69"
        deep = "[" * 50_000 + "]" * 50_000
        fresh.send_raw(deep)
        assert fresh._until(lambda m: isinstance(m, dict) and "error" in m)["error"]["code"] == -32700
        assert fresh.result("eth_chainId") == "0x7a69"
    finally:
        fresh.close()
    assert call(node_url, "eth_chainId") == "0x7a69"


def test_new_heads_from_the_interval_miner():
    """Blocks mined by the interval-mining thread reach WebSocket subscribers too."""
    from imochain.testing import running_node
    from node_support import node_config
    with running_node(node_config(block_time=1)) as url:
        client = Ws("ws" + url[len("http"):])
        try:
            sid = client.result("eth_subscribe", ["newHeads"])
            heads = client.notifications(sid, 2)
            assert len(heads) == 2
            assert int(heads[1]["number"], 16) == int(heads[0]["number"], 16) + 1
            assert int(heads[1]["timestamp"], 16) > int(heads[0]["timestamp"], 16)
            assert client.result("eth_unsubscribe", [sid]) is True
        finally:
            client.close()
            call(url, "evm_setIntervalMining", [0])
