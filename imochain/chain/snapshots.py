"""evm_snapshot / evm_revert: what a snapshot keeps and how a revert rewinds the chain to it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Snapshot:
    head_number: int
    head_root: bytes
    time_offset: float
    next_timestamp: int | None
    pool: list
    impersonated: set


class Snapshots:
    def __init__(self, storage, clock, pool, impersonated: set):
        self.storage = storage
        self.clock = clock
        self.pool = pool
        self.impersonated = impersonated  # the node's set, edited in place
        self._taken: dict[int, Snapshot] = {}
        self._next_id = 1

    def take(self) -> int:
        sid = self._next_id
        self._next_id += 1
        self._taken[sid] = Snapshot(self.storage.head.block_number, self.storage.head_root, self.clock.offset,
                                    self.clock.next_timestamp, list(self.pool), set(self.impersonated))
        return sid

    def heads(self) -> dict[int, int]:
        """Snapshot id → the head block number it returns to (anvil_metadata)."""
        return {sid: snap.head_number for sid, snap in self._taken.items()}

    def revert(self, sid: int) -> bool:
        """Back to snapshot `sid`; it and every later snapshot are used up (anvil)."""
        snap = self._taken.get(sid)
        if snap is None:
            return False
        for k in [k for k in self._taken if k >= sid]:
            del self._taken[k]
        self.storage.rewind(snap.head_number, snap.head_root)
        self.clock.offset = snap.time_offset
        self.clock.next_timestamp = snap.next_timestamp
        self.pool.clear()
        for ptx in snap.pool:
            self.pool.add(ptx)
        self.impersonated.clear()
        self.impersonated.update(snap.impersonated)
        return True
