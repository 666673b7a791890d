"""The remote chain at the pinned block: accounts, slots and headers, fetched once and cached.

Values at a pinned block never change, so each is fetched once. The cache is in memory, or an
LMDB store at `--fork-cache PATH` that a restart reuses; its keys name the pinned block's hash,
so caches of several forks (and of other remotes) share one folder safely.
"""

from __future__ import annotations

import json
import logging

import rlp

from ..errors import ChainError
from ..store import LMDBStore, MemoryStore
from .rules import remote_hardfork
from .remote import GarbageAnswer, RemoteClient, RemoteError, data, quantity

log = logging.getLogger("imochain.fork")

HISTORY = 256  # block hashes BLOCKHASH can read


class ForkSource:
    def __init__(self, client: RemoteClient, chain_id: int, number: int, block: dict, store):
        self.client = client
        self.chain_id = chain_id
        self.number = number
        self.block = block  # the pinned block as the remote returned it (eth_getBlockByNumber)
        self.hash = data(block.get("hash"), "block hash", 32)
        self.store = store
        self.tag = hex(number)

    @classmethod
    def connect(cls, url: str, number: int | None = None, chain_id: int | None = None,
                retries: int = 3, cache_path: str | None = None, timeout: float = 10.0,
                store=None) -> "ForkSource":
        """Pin the remote at `number` (default: its latest block now). `store`: an open cache
        to reuse (a reset's; its keys name blocks, so any remote can share it)."""
        client = RemoteClient(url, retries=retries, timeout=timeout)
        owned = store is None  # closed here on failure; a reused one stays its owner's
        if owned:
            try:
                store = LMDBStore(cache_path) if cache_path else MemoryStore()
            except Exception as exc:  # lmdb.Error, OSError: a folder we cannot use
                raise ChainError(f"fork cache {cache_path}: {exc}") from None
        try:
            if chain_id is None:
                chain_id = client.call("eth_chainId", [], lambda r: quantity(r, "eth_chainId"))
            if number is None:
                number = client.call("eth_blockNumber", [], lambda r: quantity(r, "eth_blockNumber"))
            block = _cached_block(store, chain_id, number)
            if block is None:
                block = client.call("eth_getBlockByNumber", [hex(number), False], lambda b: _check_block(b, number))
                store[_block_key(chain_id, number)] = json.dumps(block).encode()
                store.commit()
        except Exception:
            if owned:
                store.close()
            raise
        return cls(client, chain_id, number, block, store)

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------ state

    def account(self, address: bytes) -> tuple[int, int, bytes]:
        """(balance, nonce, code) at the pinned block."""
        try:
            balance, nonce, code = rlp.decode(self.store[self._account_key(address)])
            return int.from_bytes(balance, "big"), int.from_bytes(nonce, "big"), code
        except KeyError:
            pass
        self.prefetch([address])
        return self.account(address)

    def prefetch(self, addresses) -> None:
        """Fetch the accounts not cached yet in one batch (three calls each)."""
        missing = [a for a in dict.fromkeys(addresses) if self._account_key(a) not in self.store]
        if not missing:
            return
        calls = []
        for address in missing:
            hexaddr = "0x" + address.hex()
            calls += [("eth_getBalance", [hexaddr, self.tag]), ("eth_getTransactionCount", [hexaddr, self.tag]),
                      ("eth_getCode", [hexaddr, self.tag])]
        fetched = self.client.batch(calls, lambda got: [
            (quantity(got[3 * i], "eth_getBalance"), quantity(got[3 * i + 1], "eth_getTransactionCount"),
             data(got[3 * i + 2], "eth_getCode")) for i in range(len(missing))])
        for address, values in zip(missing, fetched):  # every answer checked before any is kept
            self.store[self._account_key(address)] = rlp.encode(list(values))
        self.store.commit()
        log.debug("fork: %d account(s) fetched", len(missing))

    def _account_key(self, address: bytes) -> bytes:
        return b"fork:acct:" + self.hash + address

    def storage(self, address: bytes, slot: int) -> int:
        key = b"fork:slot:" + self.hash + address + slot.to_bytes(32, "big")
        try:
            return int.from_bytes(self.store[key], "big")
        except KeyError:
            pass
        value = self.client.call("eth_getStorageAt", ["0x" + address.hex(), hex(slot), self.tag],
                                 lambda got: int.from_bytes(data(got, "eth_getStorageAt", 32), "big"))
        self.store[key] = value.to_bytes(32, "big")
        self.store.commit()
        return value

    def hardfork(self) -> str:
        """The remote's hardfork at the pinned block (see `rules`), asked once."""
        key = b"fork:rules:" + self.hash
        try:
            return self.store[key].decode()
        except KeyError:
            pass
        name = remote_hardfork(self.client, self.block)
        self.store[key] = name.encode()
        self.store.commit()
        return name

    # ------------------------------------------------------------------ history

    def ancestors(self) -> list[dict]:
        """The pinned block's ancestors BLOCKHASH can reach, oldest first (one batch, cached)."""
        numbers = list(range(max(0, self.number - HISTORY), self.number))
        blocks = {n: _cached_block(self.store, self.chain_id, n) for n in numbers}
        missing = [n for n, b in blocks.items() if b is None]
        for start in range(0, len(missing), 64):
            chunk = missing[start:start + 64]
            got = self.client.batch([("eth_getBlockByNumber", [hex(n), False]) for n in chunk],
                                    lambda got: [_check_block(b, n) for n, b in zip(chunk, got)])
            for n, block in zip(chunk, got):
                blocks[n] = block
                self.store[_block_key(self.chain_id, n)] = json.dumps(block).encode()
            self.store.commit()
        return [blocks[n] for n in numbers]


def _block_key(chain_id: int, number: int) -> bytes:
    return b"fork:block:" + chain_id.to_bytes(8, "big") + number.to_bytes(8, "big")


def _cached_block(store, chain_id: int, number: int) -> dict | None:
    try:
        return json.loads(store[_block_key(chain_id, number)])
    except KeyError:
        return None


def _check_block(block, number: int) -> dict:
    if block is None:
        raise RemoteError(f"fork remote has no block {number}")
    if not isinstance(block, dict) or quantity(block.get("number"), "block number") != number:
        raise GarbageAnswer(f"garbage for block {number}")
    data(block.get("hash"), "block hash", 32)
    return block
