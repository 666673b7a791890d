"""One WebSocket connection: its subscriptions and a bounded outbound queue.

Notifications are made on the miner's thread and queued for the connection's sender task.
A client that stops reading would let that queue grow with every block, so it is capped (in
bytes) and a connection that overflows it is closed with code 1008, as geth drops slow
subscribers; the number of subscriptions per connection is capped too.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from .filters import subscription_payloads
from .params import RpcError

log = logging.getLogger("imochain.rpc")

SLOW_CONSUMER = 1008  # policy violation: the close code a dropped slow reader gets


@dataclass(frozen=True)
class WsLimits:
    max_subscriptions: int = 256
    max_queued_bytes: int = 16 * 1024 * 1024  # unsent messages per connection


_COMPACT = json.JSONEncoder(separators=(",", ":"))  # built once: json.dumps builds one per call given options


def dumps(obj: Any) -> str:
    return _COMPACT.encode(obj)


class WsConnection:
    """One WebSocket's subscriptions and outbound queue, fed from any thread."""

    _ids = itertools.count(1)

    def __init__(self, node, loop: asyncio.AbstractEventLoop, limits: WsLimits = WsLimits()):
        self.node = node
        self.loop = loop
        self.limits = limits
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.queued_bytes = 0
        self.overflowed = asyncio.Event()
        self.subs: dict[str, tuple[str, Any]] = {}

    def subscribe(self, kind: str, criteria) -> str:
        if len(self.subs) >= self.limits.max_subscriptions:
            raise RpcError(-32000, f"too many subscriptions: at most {self.limits.max_subscriptions} "
                                   "per connection (eth_unsubscribe some first)")
        sid = hex(next(self._ids) * 0x9E3779B97F4A7C15 % (1 << 128))
        self.subs[sid] = (kind, criteria)
        return sid

    def unsubscribe(self, sid: str) -> bool:
        return self.subs.pop(sid, None) is not None

    def on_event(self, event: str, obj) -> None:
        """Called on the miner's thread: serialise here, queue on the event loop."""
        if self.overflowed.is_set():
            return
        for sid, (kind, criteria) in list(self.subs.items()):
            for payload in subscription_payloads(self.node, kind, criteria, event, obj):
                text = dumps({"jsonrpc": "2.0", "method": "eth_subscription",
                              "params": {"subscription": sid, "result": payload}})
                self.loop.call_soon_threadsafe(self.put, text)

    def put(self, text: str) -> None:
        """Queue one message (event loop only); past the cap, mark the connection for closing."""
        if self.overflowed.is_set():
            return
        self.queued_bytes += len(text)
        if self.queued_bytes > self.limits.max_queued_bytes:
            self.overflowed.set()
            return
        self.queue.put_nowait(text)

    async def pump(self, send: Callable[[str], Awaitable[None]]) -> None:
        while True:
            text = await self.queue.get()
            await send(text)
            self.queued_bytes -= len(text)

    def drop(self) -> None:
        """Forget everything queued (the connection is going away)."""
        self.overflowed.set()
        self.subs.clear()
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queued_bytes = 0
