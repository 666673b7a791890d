"""Key-value stores under py-evm: in memory, or LMDB on disk with one commit per block.

py-evm writes trie nodes, headers and bodies as it goes. Here every write is buffered until
`commit()`, which the node calls once a block (and its index entries) is complete: LMDB then
writes the whole batch in one transaction. A `kill -9` at any moment therefore leaves the
store at the last committed block, never half of one.
"""

from __future__ import annotations

import os
from typing import Iterator

from eth.db.backends.base import BaseDB

_DELETED = object()


class MemoryStore(BaseDB):
    """A dict; `commit` is a no-op, kept so the node treats both stores alike."""

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}

    def __getitem__(self, key: bytes) -> bytes:
        return self._data[key]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._data[key] = value

    def __delitem__(self, key: bytes) -> None:
        del self._data[key]

    def _exists(self, key: bytes) -> bool:
        return key in self._data

    def is_empty(self) -> bool:
        return not self._data

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass

    def items_with_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        for k, v in list(self._data.items()):
            if k.startswith(prefix):
                yield k, v


class LMDBStore(BaseDB):
    """LMDB with a write buffer; reads see buffered writes first."""

    def __init__(self, path: str, map_size: int = 1 << 40) -> None:
        import lmdb  # imported here: only --db needs it

        os.makedirs(path, exist_ok=True)
        # sync=False: a killed process loses nothing LMDB already committed (the OS holds
        # the pages); only a power cut can drop the newest blocks, never corrupt older ones.
        self._env = lmdb.open(path, map_size=map_size, sync=False, metasync=False,
                              max_dbs=0, lock=True)
        self._pending: dict[bytes, object] = {}

    def __getitem__(self, key: bytes) -> bytes:
        # One lookup, not `in` then `[]`: calls read from other threads while `commit` (which
        # writes LMDB first, then clears the buffer) may run in between.
        value = self._pending.get(key)
        if value is not None:
            if value is _DELETED:
                raise KeyError(key)
            return value  # type: ignore[return-value]
        with self._env.begin(buffers=False) as txn:
            value = txn.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._pending[bytes(key)] = bytes(value)

    def __delitem__(self, key: bytes) -> None:
        if not self._exists(key):
            raise KeyError(key)
        self._pending[bytes(key)] = _DELETED

    def _exists(self, key: bytes) -> bool:
        try:
            self[key]
        except KeyError:
            return False
        return True

    def is_empty(self) -> bool:
        return not self._pending and self._env.stat()["entries"] == 0

    def commit(self) -> None:
        if not self._pending:
            return
        with self._env.begin(write=True) as txn:
            for key, value in self._pending.items():
                if value is _DELETED:
                    txn.delete(key)
                else:
                    txn.put(key, value)  # type: ignore[arg-type]
        self._pending.clear()

    def rollback(self) -> None:
        self._pending.clear()

    def close(self) -> None:
        self.commit()
        self._env.close()

    def items_with_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        seen = set()
        for k, v in list(self._pending.items()):
            if k.startswith(prefix):
                seen.add(k)
                if v is not _DELETED:
                    yield k, v  # type: ignore[misc]
        with self._env.begin() as txn:
            cursor = txn.cursor()
            if cursor.set_range(prefix):
                for k, v in cursor:
                    if not k.startswith(prefix):
                        break
                    if k not in seen:
                        yield k, v
