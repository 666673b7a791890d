"""WebSocket limits: subscriptions per connection, and a client that stops reading is dropped
with close code 1008 instead of growing the node's memory."""

from __future__ import annotations

import json
import socket

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from imochain.rpc.websocket import SLOW_CONSUMER, WsLimits
from imochain.testing import rpc, running_node

BIG = "0x" + "22" * 20
RETURN_256K = "0x62040000" + "6000f3"  # PUSH3 0x40000, PUSH1 0, RETURN: 256 KiB of zeros


def request(ws, method: str, params: list, req_id: int = 1) -> dict:
    ws.send(json.dumps({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params}))
    while True:
        reply = json.loads(ws.recv(timeout=30))
        if reply.get("id") == req_id:
            return reply


def test_subscriptions_per_connection_are_capped():
    with running_node() as url:
        ws_url = url.replace("http", "ws")
        with connect(ws_url) as ws:
            limit = WsLimits().max_subscriptions
            ids = [request(ws, "eth_subscribe", ["newHeads"], i)["result"] for i in range(limit)]
            refused = request(ws, "eth_subscribe", ["newHeads"], limit)
            assert refused["error"]["code"] == -32000
            assert f"at most {limit}" in refused["error"]["message"]
            assert request(ws, "eth_unsubscribe", [ids[0]], limit + 1)["result"] is True
            assert request(ws, "eth_subscribe", ["logs", {}], limit + 2)["result"].startswith("0x")
        with connect(ws_url) as other:  # the cap is per connection
            assert request(other, "eth_subscribe", ["newHeads"])["result"].startswith("0x")


class RawClient:
    """A WebSocket client over a bare socket (websockets' sans-I/O protocol) that reads only
    when told: the library clients read in the background, so they are never slow."""

    def __init__(self, port: int):
        from websockets.client import ClientProtocol
        from websockets.protocol import State
        from websockets.uri import parse_uri
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: no autotuning
        self.sock.settimeout(60)
        self.sock.connect(("127.0.0.1", port))
        self.proto = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}"), max_size=None)
        self.proto.send_request(self.proto.connect())
        self._flush()
        while self.proto.state is not State.OPEN:
            self.proto.receive_data(self.sock.recv(65536))
        self.proto.events_received()

    def _flush(self) -> None:
        for chunk in self.proto.data_to_send():
            self.sock.sendall(chunk)

    def send(self, obj) -> None:
        self.proto.send_text(json.dumps(obj).encode())
        self._flush()

    def read_to_close(self) -> tuple[int, object]:
        """Read everything; (messages received, the close frame or None)."""
        messages = 0
        while self.proto.close_rcvd is None:
            data = self.sock.recv(1 << 20)
            if not data:
                self.proto.receive_eof()
                break
            self.proto.receive_data(data)
            messages += sum(1 for e in self.proto.events_received() if e.fin and e.opcode.name in ("TEXT", "CONT"))
        return messages, self.proto.close_rcvd


def test_a_client_that_stops_reading_is_dropped_with_1008():
    limits = WsLimits(max_queued_bytes=2 * 1024 * 1024)
    with running_node(ws_limits=limits) as url:
        slow = RawClient(int(url.rsplit(":", 1)[1]))
        with connect(url.replace("http", "ws")) as healthy:
            assert request(healthy, "eth_subscribe", ["newHeads"])["result"]
            slow.send({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]})
            # ~40 MiB of answers and notifications that the slow client does not read
            for i in range(80):
                slow.send({"jsonrpc": "2.0", "id": 100 + i, "method": "eth_call",
                           "params": [{"to": BIG}, "latest", {BIG: {"code": RETURN_256K}}]})
            for _ in range(20):
                rpc(url, "evm_mine")
            # the healthy subscriber still gets its heads, the node still answers
            heads = [json.loads(healthy.recv(timeout=60)) for _ in range(20)]
            assert all(h["method"] == "eth_subscription" for h in heads)
            assert "result" in rpc(url, "eth_blockNumber")
        # now read what the slow one was sent: it ends in a close frame with our code
        got, close = slow.read_to_close()
        assert close is not None, "closed without a close frame"
        assert close.code == SLOW_CONSUMER and "slow consumer" in close.reason
        assert got < 1 + 80 + 20  # not everything was delivered: the queue was cut off
        slow.sock.close()
