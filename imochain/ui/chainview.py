"""What the explorer reads: the node's own JSON-RPC called in-process, and an activity index."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address

from .abis import AbiRegistry, decode_output, encode_call

MAX_PER_ADDRESS = 200  # transactions remembered per address (newest kept)
MAX_LOGS = 200_000  # logs remembered in all


class RpcFailed(Exception):
    def __init__(self, error: dict):
        super().__init__(error.get("message", "error"))
        self.error = error


@dataclass
class Activity:
    """Transactions by address and every log, of the blocks with transactions."""
    txs: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # address → [(block, tx)]
    logs: list[dict] = field(default_factory=list)

    def drop_from(self, number: int) -> None:
        """Forget blocks ≥ number (they were replaced: evm_revert, anvil_reset)."""
        for rows in self.txs.values():
            rows[:] = [r for r in rows if r[0] < number]
        self.logs = [e for e in self.logs if int(e["blockNumber"], 16) < number]


class ChainView:
    """Reads go through the node's JSON-RPC dispatcher in-process; new blocks are announced by
    the same subscription fan-out WebSocket clients use, so the index reads only blocks that
    have transactions, once each."""

    def __init__(self, ctx, registry: AbiRegistry):
        from imochain.rpc.dispatch import handle_one
        self.ctx = ctx
        self.node = ctx.node
        self.registry = registry
        self._handle = handle_one
        self.activity = Activity()
        self._index_lock = threading.Lock()
        self._event_lock = threading.Lock()
        self._backfill_to = self.head()  # blocks from before the explorer started (a --db chain)
        self._last_seen = self._backfill_to
        self._pending: list[int] = []
        self._cut: int | None = None
        self._cache: dict = {}
        ctx.filters.subscribers.append(self._on_event)

    def _on_event(self, event: str, info) -> None:
        if event != "block":
            return
        with self._event_lock:
            if info.number <= self._last_seen:  # the chain went back and grew again
                self._cut = info.number if self._cut is None else min(self._cut, info.number)
                self._pending = [n for n in self._pending if n < info.number]
            self._last_seen = info.number
            if getattr(info, "transactions", True):
                self._pending.append(info.number)

    def rpc(self, method: str, *params: Any) -> Any:
        resp = self._handle(self.ctx, {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        if "error" in resp:
            raise RpcFailed(resp["error"])
        return resp["result"]

    def cached(self, key, build):
        """What never changes for a key that names it exactly (a mined transaction in its block)."""
        if key not in self._cache:
            if len(self._cache) > 2048:
                self._cache.clear()
            self._cache[key] = build()
        return self._cache[key]

    def head(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def call(self, address: str | bytes, abi: list, name: str, *args: Any, block: str = "latest"):
        """A view function of a contract, decoded; None when the call reverts."""
        if isinstance(address, bytes):
            address = "0x" + address.hex()
        data, entry = encode_call(abi, name, list(args))
        try:
            out = self.rpc("eth_call", {"to": address, "data": "0x" + data.hex()}, block)
        except RpcFailed:
            return None
        return decode_output(entry, bytes.fromhex(out[2:]))

    def code(self, address: str) -> bytes:
        return bytes.fromhex(self.rpc("eth_getCode", address, "latest")[2:])

    def contract_name(self, address: str | None) -> str | None:
        if not address:
            return None
        raw = bytes.fromhex(address[2:])
        known = self.registry.contract_at(raw)
        if known is None:
            code = self.code(address)
            known = self.registry.contract_at(raw, code) if code else None
        return known[0] if known else None

    # -- the activity index -------------------------------------------------------------------
    def index(self) -> Activity:
        with self._index_lock:
            with self._event_lock:
                pending, self._pending = self._pending, []
                cut, self._cut = self._cut, None
            act = self.activity
            if cut is not None:
                act.drop_from(cut)
                self._backfill_to = min(self._backfill_to, cut - 1)
            if self._backfill_to >= 0:  # once: the chain as it was when the explorer started
                for number in range(self._backfill_to + 1):
                    self._index_block(act, number)
                self._backfill_to = -1
            for number in sorted(set(pending)):
                self._index_block(act, number)
            return act

    def _index_block(self, act: Activity, number: int) -> None:
        for receipt in self.rpc("eth_getBlockReceipts", hex(number)) or []:
            for who in (receipt["from"], receipt.get("to"), receipt.get("contractAddress")):
                if who:
                    rows = act.txs.setdefault(who.lower(), [])
                    rows.append((number, receipt["transactionHash"]))
                    if len(rows) > MAX_PER_ADDRESS:
                        del rows[0]
            act.logs.extend(receipt["logs"])
        if len(act.logs) > MAX_LOGS:
            del act.logs[:len(act.logs) - MAX_LOGS]

    def logs(self, address: str, event: str | None = None, contract: str | None = None) -> list[dict]:
        """Logs a contract emitted, oldest first, each with its decoded event under "decoded"."""
        address = address.lower()
        out = []
        act, head = self.index(), self.head()
        for entry in act.logs:
            if entry["address"].lower() != address or int(entry["blockNumber"], 16) > head:
                continue
            topics = [bytes.fromhex(t[2:]) for t in entry["topics"]]
            decoded = self.registry.decode_log(topics, bytes.fromhex(entry["data"][2:]))
            if decoded is None or (event and decoded.name != event):
                continue
            out.append(dict(entry, decoded=decoded, args={n: v for n, _, v in decoded.args}))
        return out

    def transactions_of(self, address: str) -> list[tuple[int, str]]:
        act, head = self.index(), self.head()
        return [r for r in reversed(act.txs.get(address.lower(), [])) if r[0] <= head]


def checksum(address: str | bytes | None) -> str:
    if address is None:
        return ""
    if isinstance(address, bytes):
        address = "0x" + address.hex()
    return to_checksum_address(address)
