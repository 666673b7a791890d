"""eth_getLogs, polling filters and WebSocket subscriptions (newHeads, logs, pendingTx)."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from imochain.chain.logs import log_matches

from . import format as fmt
from . import params as p
from .dispatch import Context, method
from .params import RpcError, hexb, invalid

FILTER_TTL = 300.0  # seconds a polling filter lives without being polled (geth: 5 min)
MAX_LOGS = 10_000


def log_criteria(obj: Any) -> dict:
    if obj is None:
        obj = {}
    if not isinstance(obj, dict):
        raise invalid("invalid filter: expected an object")
    addresses = obj.get("address")
    if addresses is None:
        addrs: list[bytes] = []
    elif isinstance(addresses, list):
        addrs = [p.address(a, "filter.address") for a in addresses]
    else:
        addrs = [p.address(addresses, "filter.address")]
    topics_in = obj.get("topics") or []
    if not isinstance(topics_in, list) or len(topics_in) > 4:
        raise invalid("invalid filter.topics: expected a list of at most 4 positions")
    topics: list = []
    for i, t in enumerate(topics_in):
        if t is None:
            topics.append(None)
        elif isinstance(t, list):
            topics.append([p.hash32(x, f"filter.topics[{i}]") for x in t if x is not None] or None)
        else:
            topics.append(p.hash32(t, f"filter.topics[{i}]"))
    block_hash = obj.get("blockHash")
    if block_hash is not None and (obj.get("fromBlock") is not None or obj.get("toBlock") is not None):
        raise invalid("invalid filter: blockHash cannot be combined with fromBlock/toBlock")
    return {
        "addresses": addrs,
        "topics": topics,
        "block_hash": p.hash32(block_hash, "filter.blockHash") if block_hash is not None else None,
        "from_block": p.block_id(obj.get("fromBlock"), "filter.fromBlock"),
        "to_block": p.block_id(obj.get("toBlock"), "filter.toBlock"),
    }


@dataclass
class Filter:
    kind: str  # "logs" | "blocks" | "pending"
    criteria: dict | None = None
    queue: list = field(default_factory=list)
    last_poll: float = field(default_factory=time.monotonic)


class FilterManager:
    """Polling filters fed by the node's block and pending listeners."""

    def __init__(self, node) -> None:
        self.node = node
        self.filters: dict[str, Filter] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.subscribers: list[Callable[[str, Any], None]] = []  # (kind, payload) fan-out
        node.block_listeners.append(self._on_block)
        node.pending_listeners.append(self._on_pending)

    def new_id(self) -> str:
        return hex(next(self._ids) * 0x9E3779B1 % (1 << 64) or 1)

    def add(self, f: Filter) -> str:
        with self._lock:
            self._expire()
            fid = self.new_id()
            self.filters[fid] = f
            return fid

    def _expire(self) -> None:
        now = time.monotonic()
        for fid in [k for k, f in self.filters.items() if now - f.last_poll > FILTER_TTL]:
            del self.filters[fid]

    def _on_block(self, info) -> None:
        receipts = None
        with self._lock:
            for f in self.filters.values():
                if f.kind == "blocks":
                    f.queue.append(hexb(info.hash))
                elif f.kind == "logs":
                    if receipts is None:
                        receipts = self.node.block_receipts(info.number)
                    c = f.criteria
                    if c["block_hash"] is not None and c["block_hash"] != info.hash:
                        continue
                    # a numbered range bounds the changes too (tags follow the head)
                    if isinstance(c["to_block"], int) and info.number > c["to_block"]:
                        continue
                    if isinstance(c["from_block"], int) and info.number < c["from_block"]:
                        continue
                    for r in receipts:
                        for entry in r.logs:
                            if log_matches(entry, c["addresses"], c["topics"]):
                                f.queue.append(fmt.log(entry))
        for sub in list(self.subscribers):
            sub("block", info)

    def _on_pending(self, tx_hash: bytes) -> None:
        with self._lock:
            for f in self.filters.values():
                if f.kind == "pending":
                    f.queue.append(hexb(tx_hash))
        for sub in list(self.subscribers):
            sub("pending", tx_hash)

    def changes(self, fid: str) -> list:
        with self._lock:
            f = self.filters.get(fid)
            if f is None:
                raise RpcError(-32000, "filter not found")
            f.last_poll = time.monotonic()
            out, f.queue = f.queue, []
            return out

    def get(self, fid: str) -> Filter:
        with self._lock:
            f = self.filters.get(fid)
            if f is None:
                raise RpcError(-32000, "filter not found")
            return f

    def remove(self, fid: str) -> bool:
        with self._lock:
            return self.filters.pop(fid, None) is not None


def query_logs(node, c: dict) -> list:
    entries = node.get_logs(c["from_block"], c["to_block"], c["addresses"], c["topics"],
                            c["block_hash"], limit=MAX_LOGS)
    return [fmt.log(e) for e in entries]


@method("eth_getLogs")
def get_logs(ctx: Context, params: list):
    criteria = log_criteria(p.arg(params, 0, "filter"))
    lo, hi = criteria["from_block"], criteria["to_block"]
    if fmt.shapes.get() == fmt.GETH and isinstance(lo, int) and isinstance(hi, int) and lo > hi:
        raise invalid("invalid block range params")  # geth refuses; anvil answers []
    return query_logs(ctx.node, criteria)


@method("eth_newFilter")
def new_filter(ctx: Context, params: list):
    return ctx.filters.add(Filter("logs", log_criteria(p.arg(params, 0, "filter"))))


@method("eth_newBlockFilter")
def new_block_filter(ctx: Context, params: list):
    return ctx.filters.add(Filter("blocks"))


@method("eth_newPendingTransactionFilter")
def new_pending_filter(ctx: Context, params: list):
    return ctx.filters.add(Filter("pending"))


def _filter_id(params: list) -> str:
    fid = p.arg(params, 0, "filterId")
    if not isinstance(fid, str):
        raise invalid("invalid filterId: expected a hex string")
    return fid


@method("eth_getFilterChanges")
def get_filter_changes(ctx: Context, params: list):
    return ctx.filters.changes(_filter_id(params))


@method("eth_getFilterLogs")
def get_filter_logs(ctx: Context, params: list):
    f = ctx.filters.get(_filter_id(params))
    if f.kind != "logs":
        raise RpcError(-32000, "filter is not a log filter")
    return query_logs(ctx.node, f.criteria)


@method("eth_uninstallFilter")
def uninstall_filter(ctx: Context, params: list):
    return ctx.filters.remove(_filter_id(params))


# --------------------------------------------------------------------------- subscriptions

@method("eth_subscribe")
def subscribe(ctx: Context, params: list):
    conn = ctx.connection
    if conn is None:
        raise RpcError(-32601, "eth_subscribe needs a WebSocket connection")
    kind = p.arg(params, 0, "subscription type")
    if kind == "newHeads":
        criteria = None
    elif kind == "logs":
        criteria = log_criteria(p.arg(params, 1, "filter", False))
    elif kind in ("newPendingTransactions", "pendingTransactions"):
        criteria = None
        kind = "newPendingTransactions"
    else:
        raise invalid(f"invalid subscription type {str(kind)[:40]!r}: use newHeads, logs or newPendingTransactions")
    return conn.subscribe(kind, criteria)


@method("eth_unsubscribe")
def unsubscribe(ctx: Context, params: list):
    conn = ctx.connection
    if conn is None:
        raise RpcError(-32601, "eth_unsubscribe needs a WebSocket connection")
    sid = p.arg(params, 0, "subscription id")
    if not isinstance(sid, str):
        raise invalid("invalid subscription id")
    return conn.unsubscribe(sid)


def head_json(info) -> dict:
    out = fmt.block(info, False)
    out.pop("transactions", None)
    out.pop("uncles", None)
    return out


def subscription_payloads(node, kind: str, criteria, event: str, obj) -> list:
    """Messages one subscription gets for one node event."""
    if kind == "newHeads" and event == "block":
        return [head_json(obj)]
    if kind == "newPendingTransactions" and event == "pending":
        return [hexb(obj)]
    if kind == "logs" and event == "block":
        out = []
        for r in node.block_receipts(obj.number):
            for entry in r.logs:
                if log_matches(entry, criteria["addresses"], criteria["topics"]):
                    out.append(fmt.log(entry))
        return out
    return []
