"""Lazy forked state: py-evm's AccountDB that copies accounts and slots from the remote on first touch.

A forked chain's state is a normal local trie that starts empty. The first time an account
(or one of its slots) is read in a state, its value at the pinned remote block is written
into that state before the read answers, so py-evm executes on ordinary local data and every
write stays local.

Which accounts and slots a state has already copied is itself part of that state: a marker
in the storage of a reserved account. So every state knows its own history: a slot set to
zero locally (deleted from the trie) stays zero instead of being fetched again; an older
block's state, from before an account was copied, still reads the remote value; evm_revert,
snapshots and reverted sub-calls drop copies and markers together.
"""

from __future__ import annotations

from eth.db.account import AccountDB
from eth.rlp.accounts import Account
from eth_utils import keccak

# An address nobody can hold a key for or deploy to by accident (a keccak of a label).
MARKER = keccak(b"imochain fork: copied accounts and slots")[12:]

COPIED = 1  # the account is local; its slots are copied one by one
STORAGE_LOCAL = 2  # the account is local and so is all its storage (created or wiped here)


def _account_key(address: bytes) -> int:
    return int.from_bytes(keccak(address), "big")


def _slot_key(address: bytes, slot: int) -> int:
    return int.from_bytes(keccak(address + slot.to_bytes(32, "big")), "big")


class ForkAccountDB(AccountDB):
    """Configured per node with `source` (a `ForkSource`): see `fork_account_db_class`."""

    source = None

    # ------------------------------------------------------------------ markers

    def _mark(self, key: int, from_journal: bool = True) -> int:
        return super().get_storage(MARKER, key, from_journal)

    def _set_mark(self, key: int, value: int) -> None:
        super().set_storage(MARKER, key, value)

    def _copy_account(self, address: bytes) -> int:
        """Copy `address` from the remote unless this state has it; its marker value."""
        key = _account_key(address)
        mark = self._mark(key)
        if mark:
            return mark
        balance, nonce, code = self.source.account(address)
        if balance or nonce or code:
            code_hash = keccak(code)
            if code:
                self._journaldb[code_hash] = code
            super()._set_account(address, Account(nonce=nonce, balance=balance, code_hash=code_hash))
        # an account without code or nonce has no storage worth asking the remote for
        mark = COPIED if (code or nonce) else STORAGE_LOCAL
        self._set_mark(key, mark)
        return mark

    def _copy_slot(self, address: bytes, slot: int) -> None:
        if self._copy_account(address) == STORAGE_LOCAL:
            return
        key = _slot_key(address, slot)
        if self._mark(key):
            return
        value = self.source.storage(address, slot)
        self._set_mark(key, 1)
        if value:
            super().set_storage(address, slot, value)

    # ------------------------------------------------------------------ py-evm's entry points

    def _get_encoded_account(self, address, from_journal: bool = True) -> bytes:
        if from_journal and address != MARKER:
            self._copy_account(address)
        return super()._get_encoded_account(address, from_journal)

    def get_storage(self, address, slot: int, from_journal: bool = True) -> int:
        if address == MARKER:
            return super().get_storage(address, slot, from_journal)
        if from_journal:
            self._copy_slot(address, slot)
        elif (self._mark(_account_key(address), False) != STORAGE_LOCAL
              and not self._mark(_slot_key(address, slot), False)):
            # the value at the transaction's start (SSTORE gas): not copied before it began,
            # so it was the remote's
            self._copy_slot(address, slot)
            return self.source.storage(address, slot)
        return super().get_storage(address, slot, from_journal)

    def set_storage(self, address, slot: int, value: int) -> None:
        if address != MARKER:
            self._copy_slot(address, slot)  # else a later read would fetch over the local value
        super().set_storage(address, slot, value)

    def delete_storage(self, address) -> None:
        self._copy_account(address)
        super().delete_storage(address)
        self._set_mark(_account_key(address), STORAGE_LOCAL)

    def delete_account(self, address) -> None:
        self._copy_account(address)
        super().delete_account(address)
        self._set_mark(_account_key(address), STORAGE_LOCAL)


def fork_account_db_class() -> type[ForkAccountDB]:
    """A class of its own per node, whose `source` the node sets (and replaces on reset)."""
    return type("NodeForkAccountDB", (ForkAccountDB,), {"source": None})
