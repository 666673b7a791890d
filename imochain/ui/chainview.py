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
    """Transactions by address and every log, read lazily from blocks the index has not seen."""
    indexed_to: int = -1
    indexed_hash: str | None = None
    txs: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # address → [(block, tx)]
    logs: list[dict] = field(default_factory=list)


class ChainView:
    def __init__(self, ctx, registry: AbiRegistry):
        from imochain.rpc.dispatch import handle_one
        self.ctx = ctx
        self.node = ctx.node
        self.registry = registry
        self._handle = handle_one
        self.activity = Activity()
        self._index_lock = threading.Lock()

    def rpc(self, method: str, *params: Any) -> Any:
        resp = self._handle(self.ctx, {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        if "error" in resp:
            raise RpcFailed(resp["error"])
        return resp["result"]

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
        """Bring the index to the head. A head that moved backwards or changed hash (evm_revert,
        anvil_reset) makes it start over."""
        with self._index_lock:
            act = self.activity
            head = self.head()
            if act.indexed_to >= 0:
                if act.indexed_to > head or self._hash_at(act.indexed_to) != act.indexed_hash:
                    act = self.activity = Activity()
            for number in range(act.indexed_to + 1, head + 1):
                self._index_block(act, number)
            if head > act.indexed_to or act.indexed_to < 0:
                act.indexed_to = head
                act.indexed_hash = self._hash_at(head)
            return act

    def _hash_at(self, number: int) -> str | None:
        block = self.rpc("eth_getBlockByNumber", hex(number), False)
        return block["hash"] if block else None

    def _index_block(self, act: Activity, number: int) -> None:
        block = self.rpc("eth_getBlockByNumber", hex(number), False)
        if not block or not block["transactions"]:
            return
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
        for entry in self.index().logs:
            if entry["address"].lower() != address:
                continue
            topics = [bytes.fromhex(t[2:]) for t in entry["topics"]]
            decoded = self.registry.decode_log(topics, bytes.fromhex(entry["data"][2:]))
            if decoded is None or (event and decoded.name != event):
                continue
            out.append(dict(entry, decoded=decoded, args={n: v for n, _, v in decoded.args}))
        return out

    def transactions_of(self, address: str) -> list[tuple[int, str]]:
        return list(reversed(self.index().txs.get(address.lower(), [])))


def checksum(address: str | bytes | None) -> str:
    if address is None:
        return ""
    if isinstance(address, bytes):
        address = "0x" + address.hex()
    return to_checksum_address(address)
