"""The node façade's dev-chain controls (anvil_*, evm_*, hardhat_*): state edits, block knobs,
impersonation, time, snapshots, reset and state dumps. Mixed into `Node`, which owns the lock
and the services these methods drive (cheats, clock, states, snapshots)."""

from __future__ import annotations

import os

from .dbfolder import remove_store_files

from . import forking


class DevControls:
    def set_balance(self, address: bytes, value: int) -> None:
        with self.lock:
            self.states.edit_head(lambda s: s.set_balance(address, value))

    def set_nonce(self, address: bytes, nonce: int) -> None:
        with self.lock:
            self.states.edit_head(lambda s: s.set_nonce(address, nonce))

    def set_code(self, address: bytes, code: bytes) -> None:
        with self.lock:
            self.states.edit_head(lambda s: s.set_code(address, code))

    def set_storage_at(self, address: bytes, slot: int, value: int) -> None:
        with self.lock:
            self.states.edit_head(lambda s: s.set_storage(address, slot, value))

    @property
    def block_gas_limit(self) -> int | None:
        """The gas limit set for the next blocks (anvil_setBlockGasLimit), or None."""
        return self.cheats.block_gas_limit

    def set_block_gas_limit(self, limit: int) -> None:
        with self.lock:
            self.cheats.block_gas_limit = limit

    def set_next_block_base_fee(self, fee: int) -> None:
        with self.lock:
            self.cheats.next_base_fee = fee

    def set_block_timestamp_interval(self, interval: int | None) -> bool:
        """Each next block `interval` seconds after its parent (None: back to the clock);
        returns whether an interval was set before."""
        with self.lock:
            had = self.clock.interval is not None
            self.clock.interval = interval
            return had

    def set_coinbase(self, address: bytes) -> None:
        with self.lock:
            self.config.coinbase = address

    def set_auto_impersonate(self, enabled: bool) -> None:
        with self.lock:
            self.cheats.auto_impersonate = bool(enabled)

    @property
    def instance_id(self) -> bytes:
        """Random per start and per reset (anvil_metadata)."""
        return self._instance_id

    def impersonate(self, address: bytes) -> None:
        with self.lock:
            self.impersonated.add(address)

    def stop_impersonating(self, address: bytes) -> None:
        with self.lock:
            self.impersonated.discard(address)

    def snapshot(self) -> int:
        with self.lock:
            return self.snapshots.take()

    def snapshot_heads(self) -> dict[int, int]:
        """Snapshot id → the head block number it returns to (anvil_metadata)."""
        with self.lock:
            return self.snapshots.heads()

    def revert(self, sid: int) -> bool:
        with self.lock:
            return self.snapshots.revert(sid)

    def reset(self, fork_url: str | None = None, fork_block_number: int | None = None) -> None:
        """Back to genesis (or the fork's pinned block); with `fork_url`, fork it (anvil_reset)."""
        with self.lock:
            if fork_url:  # pinned first: a remote that fails leaves the node as it was
                forking.repin(self.config, fork_url, fork_block_number, self._make_chain_class)
            interval, automine = self.interval, self.automine  # the mining mode survives a reset
            self.stop_interval_mining()
            if self.config.db_path:
                self.storage.close()
                remove_store_files(self.config.db_path)
            self._open()
            self._instance_id = os.urandom(32)
            self.cheats.reset_block_knobs()
            self.miner.automine = automine
            if interval:
                self.set_interval_mining(interval)

    def dump_state(self) -> dict:
        """Every account the chain has touched: balance, nonce, code, storage (anvil's shape)."""
        with self.lock:
            return self.states.dump()

    def load_state(self, dump: dict) -> None:
        with self.lock:
            self.states.load(dump)


    # ------------------------------------------------------------------ time

    def increase_time(self, seconds: int) -> int:
        with self.lock:
            return self.clock.increase(self.head, seconds)

    def set_next_block_timestamp(self, ts: int) -> None:
        with self.lock:
            self.clock.set_next(self.head, ts)

    def set_time(self, ts: int) -> None:
        with self.lock:
            self.clock.set_time(ts)
