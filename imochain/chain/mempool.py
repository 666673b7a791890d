"""Pending transactions: per sender by nonce; future nonces wait; replacement needs a higher fee."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any, Iterator

from .errors import TransactionRejected


@dataclass
class PendingTx:
    tx: Any  # a py-evm signed transaction (or our impersonated wrapper)
    hash: bytes
    sender: bytes
    nonce: int
    max_fee: int
    priority_fee: int
    raw: bytes = field(repr=False, default=b"")


class Mempool:
    def __init__(self) -> None:
        self._by_sender: dict[bytes, dict[int, PendingTx]] = {}
        self._by_hash: dict[bytes, PendingTx] = {}

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._by_hash

    def get(self, tx_hash: bytes) -> PendingTx | None:
        return self._by_hash.get(tx_hash)

    def add(self, ptx: PendingTx) -> PendingTx | None:
        """Insert; returns the transaction it replaced, if any."""
        if ptx.hash in self._by_hash:
            raise TransactionRejected("already known")
        slot = self._by_sender.setdefault(ptx.sender, {})
        old = slot.get(ptx.nonce)
        if old is not None:
            if ptx.max_fee <= old.max_fee or ptx.priority_fee <= old.priority_fee:
                raise TransactionRejected("replacement transaction underpriced")
            del self._by_hash[old.hash]
        slot[ptx.nonce] = ptx
        self._by_hash[ptx.hash] = ptx
        return old

    def remove(self, tx_hash: bytes) -> PendingTx | None:
        ptx = self._by_hash.pop(tx_hash, None)
        if ptx is not None:
            slot = self._by_sender[ptx.sender]
            slot.pop(ptx.nonce, None)
            if not slot:
                del self._by_sender[ptx.sender]
        return ptx

    def next_nonce(self, sender: bytes, account_nonce: int) -> int:
        """The nonce after the run of pooled transactions that follows the account's nonce."""
        slot = self._by_sender.get(sender, {})
        while account_nonce in slot:
            account_nonce += 1
        return account_nonce

    def clear(self) -> None:
        self._by_sender.clear()
        self._by_hash.clear()

    def prune(self, nonce_of) -> None:
        """Drop transactions whose nonce the chain has already passed."""
        for sender in list(self._by_sender):
            current = nonce_of(sender)
            for nonce in [n for n in self._by_sender[sender] if n < current]:
                self.remove(self._by_sender[sender][nonce].hash)

    def ready(self, nonce_of) -> list[PendingTx]:
        """Executable transactions in block order: each sender's consecutive nonces from its
        account nonce, senders interleaved by priority fee (highest first). Among equal fees
        the sender taken from last goes first, then the others by when they were last taken,
        then the rest in the order they entered the pool (a heap: a block of n transactions
        from many senders costs n log n, not a sort per transaction)."""
        heap = []
        for order, (sender, slot) in enumerate(self._by_sender.items()):
            nonce = nonce_of(sender)
            run = []
            while nonce in slot:
                run.append(slot[nonce])
                nonce += 1
            if run:
                run.reverse()  # popped from the end
                heap.append((-run[-1].priority_fee, order, run))
        heapq.heapify(heap)
        out = []
        taken = 0
        while heap:
            _, _, run = heapq.heappop(heap)
            out.append(run.pop())
            if run:
                taken += 1
                heapq.heappush(heap, (-run[-1].priority_fee, -taken, run))
        return out

    def split(self, nonce_of) -> tuple[dict, dict]:
        """(pending, queued) by sender and nonce, as txpool_content reports them."""
        pending: dict[bytes, dict[int, PendingTx]] = {}
        queued: dict[bytes, dict[int, PendingTx]] = {}
        for sender, slot in self._by_sender.items():
            nonce = nonce_of(sender)
            for n in sorted(slot):
                target = pending if n == nonce else queued
                if n == nonce:
                    nonce += 1
                target.setdefault(sender, {})[n] = slot[n]
        return pending, queued

    def __iter__(self) -> Iterator[PendingTx]:
        return iter(list(self._by_hash.values()))
