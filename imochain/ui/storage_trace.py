"""Which storage slots a mined transaction read and wrote: one replay with a tracer that keeps only SLOAD/SSTORE."""

from __future__ import annotations

from imochain.chain.tracing import Tracer

MAX_ROWS = 200
SLOAD, SSTORE = 0x54, 0x55


class StorageTracer(Tracer):
    """Records (contract, slot) → read?, last value written; the storage address, not the code's,
    so DELEGATECALL lands on the caller's storage as the EVM does."""

    all_steps = True

    def __init__(self) -> None:
        self.rows: dict[tuple[bytes, int], dict] = {}
        self._steps = 0

    def step(self, comp, pc, op, name) -> None:
        self._steps += 1
        if not self._steps & 0x3FF:
            self.check_deadline()
        if op != SLOAD and op != SSTORE:
            return
        values = comp._stack.values
        if not values or (op == SSTORE and len(values) < 2):
            return
        slot = _word(values[-1])
        key = (bytes(comp.msg.storage_address), slot)
        row = self.rows.get(key)
        if row is None:
            if len(self.rows) >= MAX_ROWS:
                return
            row = self.rows[key] = {"address": "0x" + key[0].hex(), "slot": hex(slot), "read": False, "written": None}
        if op == SLOAD:
            row["read"] = True
        else:
            row["written"] = hex(_word(values[-2]))


def _word(v) -> int:
    return v if v.__class__ is int else int.from_bytes(v, "big")


def storage_accesses(node, tx_hash: bytes, seconds: float = 5.0) -> list[dict]:
    import time
    tracer = StorageTracer()
    tracer.deadline = time.monotonic() + seconds
    node.replay_transaction(tx_hash, tracer)
    return list(tracer.rows.values())
