"""What happened to each AI-oracle request, as the node's worker and challenger saw it.

A request is `pending` until the worker's transaction is mined, then `answered`, `rejected`
(the worker refused its input: `reason` says why) or `callback failed` (the consumer's
`aiOracleCallback` reverted or ran out of gas: the whole `invokeCallback` reverted and the
request stays pending on-chain). An answer run off the lock (oracle.offlock) whose request left
the chain meanwhile (evm_revert, anvil_reset) is never sent: `dropped`. The challenger marks it `challenged`; `finalized` is read from
the oracle when asked. `imo_getRequest` and `imo_oracleStatus` answer from here.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field

from eth.exceptions import OutOfGas
from eth_utils import to_checksum_address

from imochain.chain.errors import decode_revert_reason

log = logging.getLogger("imochain.oracle")

MAX_RECORDS = 10_000  # the oldest records are dropped beyond this (bounded memory)


@dataclass
class RequestRecord:
    request_id: int
    model_id: int
    account: bytes
    callback: bytes
    gas_limit: int
    input_size: int
    block: int
    state: str = "pending"
    reason: str | None = None
    model: str | None = None
    batch_size: int = 0
    micros: float = 0.0
    output_size: int | None = None
    transactions: dict = field(default_factory=dict)  # role → tx hash

    def to_json(self, finalized: bool = False) -> dict:
        state = "finalized" if finalized and self.state in ("answered", "challenged") else self.state
        return {"requestId": self.request_id, "modelId": self.model_id, "model": self.model,
                "account": to_checksum_address(self.account),
                "callbackContract": to_checksum_address(self.callback) if any(self.callback) else None,
                "gasLimit": self.gas_limit, "inputBytes": self.input_size, "block": self.block,
                "state": state, "reason": self.reason, "batchSize": self.batch_size,
                "micros": round(self.micros, 1), "outputBytes": self.output_size,
                "transactions": {role: "0x" + tx.hex() for role, tx in self.transactions.items()}}


class RequestBook:
    """Records keyed by request id; the worker and challenger report to it, RPC reads it."""

    def __init__(self) -> None:
        self.records: OrderedDict[int, RequestRecord] = OrderedDict()
        self._by_tx: dict[bytes, tuple[int, str]] = {}  # worker tx → (request id, "answer"|"error")

    def get(self, request_id: int) -> RequestRecord | None:
        return self.records.get(request_id)

    def requested(self, request_id: int, model_id: int, account: bytes, callback: bytes, gas_limit: int,
                  input_size: int, block: int, tx_hash: bytes | None) -> None:
        record = RequestRecord(request_id, model_id, account, callback, gas_limit, input_size, block)
        if tx_hash:
            record.transactions["request"] = tx_hash
        self.records[request_id] = record
        self.records.move_to_end(request_id)
        while len(self.records) > MAX_RECORDS:
            self.records.popitem(last=False)

    def ran(self, request_id: int, model: str, batch_size: int, micros: float, output: bytes | None,
            rejection: str | None) -> None:
        record = self.records.get(request_id)
        if record is None:
            return
        record.model, record.batch_size, record.micros = model, batch_size, micros
        record.output_size = None if output is None else len(output)
        if rejection is not None:
            record.reason = rejection
            log.info("oracle: request #%d REJECTED: %s", request_id, rejection)

    def sent(self, request_id: int, tx_hash: bytes, answer: bool) -> None:
        record = self.records.get(request_id)
        if record is not None:
            record.transactions["answer" if answer else "error"] = tx_hash
        self._by_tx[tx_hash] = (request_id, "answer" if answer else "error")

    def challenged(self, request_id: int, tx_hash: bytes) -> None:
        record = self.records.get(request_id)
        if record is not None:
            record.state = "challenged"
            record.reason = "the challenger re-ran the model, got another output and disputed the result"
            record.transactions["challenge"] = tx_hash

    def failed(self) -> list[RequestRecord]:
        return [r for r in self.records.values() if r.state == "callback failed"]

    def mined(self, node, tx_hash: bytes, receipt, delivered: bool = False) -> str | None:
        """Settle the request a mined worker transaction belongs to; returns the log line's
        outcome (None for a transaction that is not the worker's)."""
        entry = self._by_tx.pop(tx_hash, None)
        if entry is None:
            return None
        request_id, role = entry
        record = self.records.get(request_id)
        ok = receipt is not None and receipt.status == 1
        if role == "answer":
            if ok:
                state, reason = "answered", None
            else:
                state, reason = "callback failed", failure_reason(node, tx_hash, record)
        else:
            state = "rejected"
            reason = record.reason if record is not None else None
            if not ok:
                reason = f"{reason}; the error report itself reverted: {failure_reason(node, tx_hash, record)}"
            elif not delivered and record is not None and any(record.callback):
                reason = (f"{reason}; the consumer was not told: its aiOracleCallbackError is missing or "
                          "reverted (ORA's published consumer ABI has no such function)")
        if record is not None:
            record.state, record.reason = state, reason
        return state if reason is None else f"{state}: {reason}"


def failure_reason(node, tx_hash: bytes, record: RequestRecord | None) -> str:
    """Why a worker transaction reverted: the consumer's revert reason, or out of gas."""
    from imochain.chain.tracers import NoopTracer
    try:
        _, comp = node.replay_transaction(tx_hash, NoopTracer())
    except Exception as exc:  # a replay that fails says nothing more than the receipt
        return f"reverted ({exc.__class__.__name__} on replay)"
    callback = record.callback if record is not None else None
    for child in _walk(comp):
        if callback and child.msg.depth >= 1 and child.msg.storage_address == callback and child.is_error:
            if isinstance(child.error, OutOfGas):
                return f"the consumer's aiOracleCallback ran out of its {record.gas_limit} gas"
            why = decode_revert_reason(bytes(child.output)) if child.output else None
            return f"the consumer's aiOracleCallback reverted: {why or child.error}"
    if isinstance(comp.error, OutOfGas):
        return "the callback transaction ran out of gas"
    why = decode_revert_reason(bytes(comp.output)) if comp.output else None
    return f"reverted: {why or comp.error}"


def _walk(comp):
    yield comp
    for child in comp.children:
        yield from _walk(child)
