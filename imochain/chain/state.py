"""State at a block: read-only views, the warm head reader, head edits, dump/load, call overrides."""

from __future__ import annotations

from typing import Any, Callable

from .forking.accountdb import MARKER
from .storage import HEAD_TAGS, ChainStorage


class StateAccess:
    def __init__(self, storage: ChainStorage, vm_class, chain_context):
        self.storage = storage
        self.vm_class = vm_class
        self.chain_context = chain_context
        self._head_reader = None

    def state_for(self, header):
        """A py-evm state for the block's post-state."""
        return self.vm_class.build_state(
            self.storage.db, header.copy(state_root=self.storage.state_root_of(header)), self.chain_context)

    def state_at(self, block_id: Any = "latest"):
        return self.state_for(self.storage.resolve(block_id))

    def reader(self, block_id: Any = "latest"):
        """A state for reads only. The head's is kept while the head stays, so its account
        cache stays warm across the many reads a transaction's admission and a client's
        polling make; older blocks get a fresh one."""
        if block_id is None or block_id in HEAD_TAGS:
            root = self.storage.head_root
            if self._head_reader is None or self._head_reader[0] != root:
                self._head_reader = (root, self.state_at("latest"))
            return self._head_reader[1]
        return self.state_at(block_id)

    def adopt_head(self, state) -> None:
        """A block just built and persisted: its post-state is the new head's reader, so the
        next transaction's admission does not build another state (and finds it warm)."""
        self._head_reader = (self.storage.head_root, state)

    def edit_head(self, edit: Callable) -> None:
        """Change the head's state in place (dev controls): no new block, as anvil does."""
        state = self.state_at("latest")
        edit(state)
        witness = state.persist()
        self.storage.set_head_root(state.state_root, witness)

    def dump(self) -> dict:
        """Every account the chain has touched: balance, nonce, code, storage (anvil's shape)."""
        state = self.state_at("latest")
        accounts = {}
        for addr, slots in sorted(self.storage.touched.items()):
            if addr == MARKER:  # a fork's bookkeeping, not an account
                continue
            if not state.account_exists(addr) and not state.get_balance(addr):
                continue
            storage = {}
            for slot in sorted(slots):
                value = state.get_storage(addr, slot)
                if value:
                    storage[slot] = value
            accounts[addr] = dict(balance=state.get_balance(addr), nonce=state.get_nonce(addr),
                                  code=state.get_code(addr), storage=storage)
        return {"block": self.storage.head.block_number, "accounts": accounts}

    def load(self, dump: dict) -> None:
        touched = self.storage.touched

        def edit(state):
            for addr, acct in dump["accounts"].items():
                state.set_balance(addr, acct.get("balance", 0))
                state.set_nonce(addr, acct.get("nonce", 0))
                if acct.get("code"):
                    state.set_code(addr, acct["code"])
                for slot, value in (acct.get("storage") or {}).items():
                    state.set_storage(addr, slot, value)
                    touched.setdefault(addr, set()).add(slot)
                touched.setdefault(addr, set())
        self.edit_head(edit)


def account_summary(state, address: bytes) -> dict:
    """eth_getAccount: nonce, balance, code hash and storage root of one account."""
    return {"nonce": state.get_nonce(address), "balance": state.get_balance(address),
            "codeHash": state.get_code_hash(address),
            "storageRoot": state._account_db._get_storage_root(address)}  # py-evm has no public reader


def apply_state_overrides(state, overrides: dict) -> None:
    """eth_call state overrides: balance, nonce, code, state (replace all), stateDiff."""
    for addr, o in overrides.items():
        if "balance" in o and o["balance"] is not None:
            state.set_balance(addr, o["balance"])
        if "nonce" in o and o["nonce"] is not None:
            state.set_nonce(addr, o["nonce"])
        if "code" in o and o["code"] is not None:
            state.set_code(addr, o["code"])
        if o.get("state") is not None:
            state.delete_storage(addr)
            for slot, value in o["state"].items():
                state.set_storage(addr, slot, value)
        for slot, value in (o.get("stateDiff") or {}).items():
            state.set_storage(addr, slot, value)
