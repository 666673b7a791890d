"""A block's writes to one trie applied in one pass: py-trie's per-key `HexaryTrie.set`, batched.

At the state root py-evm sets each changed storage slot, then each changed account, one key at a
time. Every `set` walks from the root, rebuilds the whole path, encodes and hashes each node on
it and prunes the ones it replaced, so the top of the trie is rebuilt, hashed, written and pruned
once per key. Here a trie's keys are sorted and applied in one recursive pass: each node the
block changes is built once, hashed once and written once, and the nodes it replaced are pruned
once. Tries are canonical (one shape per contents), so the root is py-trie's; nodes are written
and pruned through py-trie's own `_set_db_value` and `_complete_pruning`, so its reference
counts and the store come out as its per-key sets leave them (tests/chain/test_trie_batch.py
compares both, and the whole store after random blocks). The one thing left out: deleting a
stored node this trie never wrote from a store that never shows or commits the delete (py-evm's
read-through BatchDB), where py-trie's own delete changes nothing but costs a look-up and a write.

Only plain sets of 32-byte keys (hashed slots and addresses) to non-empty values are batched
(an account trie's deletes go first through py-evm, as it orders them; a storage trie with a slot
cleared goes through py-evm whole): anything else, and any node that cannot be read, leaves the
trie untouched and the caller runs py-evm's per-key path, which raises py-trie's own errors (MissingTrieNode and the rest). Nothing
is written before the new trie is complete, and only real hashes are ever written or cached, so
other threads reading committed roots see nothing half-done.
"""

from __future__ import annotations

import functools

import rlp.codec
from eth.db.account import AccountDB
from eth.db.batch import BatchDB
from eth.db.diff import DBDiffTracker
from eth.db.hash_trie import HashTrie
from eth.db.storage import AccountStorageDB
from eth_hash.auto import keccak as _keccak
from trie.constants import BLANK_NODE, BLANK_NODE_HASH
from trie.hexary import HexaryTrie
from trie.utils.db import ScratchDB
from trie.utils import nibbles as trie_nibbles
from trie.utils import nodes as trie_nodes

from . import trie_values

KEY_BYTES = 32
_keccak(b"")  # eth-hash picks its backend on the first call, then calls the backend directly
keccak = _keccak.hasher
batches = 0  # tries updated in one pass since start (the tests check the batch path ran)


def remember_written(node_hash: bytes, node: list) -> None:
    """Told of each node written (the speed-ups install their decoded-node cache here)."""


class _Unbatchable(Exception):
    """The batch does not apply (a missing or unusual node): py-evm's per-key path instead."""


@functools.lru_cache(maxsize=65536)
def _path_of(prefixed: bytes) -> tuple:
    return trie_nibbles.remove_nibbles_terminator(trie_nibbles.decode_nibbles(prefixed))


@functools.lru_cache(maxsize=65536)
def _leaf_key(path: tuple) -> bytes:
    return trie_nodes.compute_leaf_key(path)


@functools.lru_cache(maxsize=65536)
def _extension_key(path: tuple) -> bytes:
    return trie_nodes.compute_extension_key(path)


@functools.lru_cache(maxsize=65536)
def _nibbles(key: bytes) -> tuple:
    return tuple(trie_nibbles.bytes_to_nibbles(key))


def _groups(pairs: list, depth: int):
    """The sorted (path, value) `pairs` in runs sharing their nibble at `depth`: (nibble, run)."""
    i, n = 0, len(pairs)
    while i < n:
        nibble = pairs[i][0][depth]
        j = i + 1
        while j < n and pairs[j][0][depth] == nibble:
            j += 1
        yield nibble, pairs[i:j]
        i = j


class _Batch:
    """One trie's pass: the nodes it made (written at the end) and the stored ones it replaced."""

    __slots__ = ("trie", "written", "pruned")

    def __init__(self, trie: HexaryTrie):
        self.trie = trie
        self.written: list = []  # (hash, encoding, node), children before parents
        self.pruned: list = []  # hashes of stored nodes this pass replaced

    def ref(self, node: list):
        """How a parent refers to `node`: the node itself under 32 bytes, else its hash."""
        encoded = rlp.codec.encode_raw(node)
        if len(encoded) < 32:
            return node
        node_hash = keccak(encoded)
        self.written.append((node_hash, encoded, node))
        return node_hash

    def open(self, ref):
        """The node `ref` points at, to be replaced (a stored one is pruned, as py-trie does)."""
        if ref == BLANK_NODE:
            return BLANK_NODE
        if type(ref) is list:
            return ref
        if type(ref) is not bytes or len(ref) != 32:
            raise _Unbatchable
        node = self.trie.get_node(ref)  # a missing node's KeyError ends the batch
        self.pruned.append(ref)
        return node

    def insert(self, node, pairs: list, depth: int) -> list:
        """`node` (the subtrie at `depth` nibbles) with the sorted (path, value) `pairs` set."""
        if node == BLANK_NODE:
            return self.build(pairs, depth)
        if type(node) is not list:
            raise _Unbatchable
        if len(node) == 17:
            if node[16] != BLANK_NODE:
                raise _Unbatchable  # a value at a branch: keys of unequal length
            node = list(node)
            self.fill(node, pairs, depth)
            return node
        if len(node) != 2 or type(node[0]) is not bytes or not node[0] or node[0][0] >> 4 > 3:
            raise _Unbatchable
        path = _path_of(node[0])
        if node[0][0] & 0x20:  # a leaf
            if depth + len(path) != 2 * KEY_BYTES or _leaf_key(path) != node[0]:
                raise _Unbatchable  # py-trie would keep a leaf's odd encoding: its path instead
            full = pairs[0][0][:depth] + path
            if not any(p == full for p, _ in pairs):
                pairs = sorted(pairs + [(full, node[1])])
            return self.build(pairs, depth)
        if _extension_key(path) != node[0]:
            raise _Unbatchable
        return self.extend(path, node[1], pairs, depth)

    def extend(self, path: tuple, child, pairs: list, depth: int) -> list:
        """An extension (`path` → `child`) with `pairs` set: descend, or split it where they part."""
        if not path:
            raise _Unbatchable
        first, last = pairs[0][0], pairs[-1][0]
        shared = 0
        while shared < len(path) and first[depth + shared] == path[shared] == last[depth + shared]:
            shared += 1
        if shared == len(path):
            below = self.open(child)
            if type(below) is not list or len(below) != 17:
                raise _Unbatchable  # an extension leads to a branch
            return [_extension_key(path), self.ref(self.insert(below, pairs, depth + shared))]
        branch = [BLANK_NODE] * 17
        rest = path[shared + 1:]
        mine = path[shared]
        groups = self.fill(branch, pairs, depth + shared, skip=mine)
        if mine in groups:
            if rest:
                subtrie = self.extend(rest, child, groups[mine], depth + shared + 1)
            else:
                subtrie = self.insert(self.open(child), groups[mine], depth + shared + 1)
            branch[mine] = self.ref(subtrie)
        else:
            branch[mine] = self.ref([_extension_key(rest), child]) if rest else child
        if shared:
            return [_extension_key(path[:shared]), self.ref(branch)]
        return branch

    def fill(self, branch: list, pairs: list, depth: int, skip: int = -1) -> dict:
        """Sets `pairs` into `branch` by their nibble at `depth`; the group for nibble `skip`
        is returned instead of set (the caller merges it with what it holds there)."""
        skipped = {}
        for nibble, group in _groups(pairs, depth):
            if nibble == skip:
                skipped[nibble] = group
            else:
                branch[nibble] = self.ref(self.insert(self.open(branch[nibble]), group, depth + 1))
        return skipped

    def build(self, pairs: list, depth: int) -> list:
        """A new subtrie holding only `pairs` (distinct paths of one length)."""
        if len(pairs) == 1:
            path, value = pairs[0]
            return [_leaf_key(path[depth:]), value]
        first, last = pairs[0][0], pairs[-1][0]
        split = depth
        while first[split] == last[split]:
            split += 1
        branch = [BLANK_NODE] * 17
        for nibble, group in _groups(pairs, split):
            branch[nibble] = self.ref(self.build(group, split + 1))
        if split > depth:
            return [_extension_key(first[depth:split]), self.ref(branch)]
        return branch


def _deletes_unseen(db) -> bool:
    """Whether deleting a stored node from `db` changes nothing anyone sees: py-evm's tries write
    to a BatchDB that reads through deletes and is committed without them (directly, or under
    `squash_changes`' ScratchDB, which passes its deletes on to it)."""
    while type(db) is ScratchDB:
        db = db.wrapped_db
    return type(db) is BatchDB and db._read_through_deletes


def set_many(trie, items: dict) -> bool:
    """`trie.set(key, value)` for every item, in one pass; False (the trie untouched) when the
    batch does not apply: the caller then sets them one by one through py-trie."""
    global batches
    if type(trie) is not HexaryTrie or trie._pending_prune_keys is not None or not items:
        return False
    for key, value in items.items():
        if type(key) is not bytes or len(key) != KEY_BYTES or type(value) is not bytes or not value:
            return False
    old_root = trie.root_hash
    batch = _Batch(trie)
    pairs = [(_nibbles(key), items[key]) for key in sorted(items)]
    try:
        if old_root == BLANK_NODE_HASH:
            root = batch.build(pairs, 0)
        else:
            old = trie.get_node(old_root)
            root = batch.insert(old, pairs, 0)
            # py-trie prunes the old root by its hash: a large one as any node it replaces,
            # a small one (stored by hash all the same) only when the store holds it
            if old != BLANK_NODE and (len(rlp.codec.encode_raw(old)) >= 32 or old_root in trie.db):
                batch.pruned.append(old_root)
    except Exception:  # a missing or malformed node (or _Unbatchable): py-trie's path raises its error
        return False
    encoded_root = rlp.codec.encode_raw(root)
    new_root = keccak(encoded_root)
    write = trie._set_db_value
    for node_hash, encoded, node in batch.written:
        write(node_hash, encoded)
        remember_written(node_hash, node)
    write(new_root, encoded_root)
    remember_written(new_root, root)
    trie.root_hash = new_root
    if trie.is_pruning and batch.pruned:
        counts, unseen = trie._ref_count, _deletes_unseen(trie.db)
        pending = {}
        for node_hash in batch.pruned:
            # a node this trie never wrote ends at count 0 either way; py-trie would also delete
            # it from the store, which py-evm's stores never see (they read through deletes and
            # commit without them): that delete, a look-up and a write each, is skipped
            if not (unseen and node_hash not in counts):
                pending[node_hash] = pending.get(node_hash, 0) + 1
        if pending:
            trie._pending_prune_keys = pending
            try:
                trie._complete_pruning()
            finally:
                trie._pending_prune_keys = None
    trie_values.record_many(old_root, new_root, items)
    batches += 1
    return True


_stock_apply_account_diff = AccountDB._apply_account_diff_without_proof
_stock_make_storage_root = AccountStorageDB.make_storage_root


def _diff_of(deleted=(), pending=()):
    tracker = DBDiffTracker()
    for key in deleted:
        del tracker[key]
    for key, value in pending:
        tracker[key] = value
    return tracker.diff()


def _apply_account_diff(self, diff, trie) -> None:
    """py-evm's account writes at the state root, the sets in one pass. py-evm deletes first
    (self-destructs, empty accounts a transaction touched, as any call to a precompile does),
    then sets: its deletes are left to it as they are, the sets follow."""
    if type(trie) is not HashTrie:
        return _stock_apply_account_diff(self, diff, trie)
    deleted = diff.deleted_keys()
    if deleted:
        _stock_apply_account_diff(self, _diff_of(deleted=deleted), trie)
        diff = _diff_of(pending=diff.pending_items())
    if not set_many(trie._db, {keccak(address): account for address, account in diff.pending_items()}):
        _stock_apply_account_diff(self, diff, trie)


def _make_storage_root(self) -> None:
    """py-evm's `AccountStorageDB.make_storage_root`, the slots' writes in one pass when they are
    all plain sets (a slot set to zero is a delete: py-evm's path)."""
    self.lock_changes()
    locked = self._locked_changes
    diff = locked.diff()
    if not diff.deleted_keys():
        lookup = self._storage_lookup
        items = {lookup._decode_key(slot): value for slot, value in diff.pending_items()}
        if items and set_many(lookup._get_write_trie(), items):
            locked.reset()  # what persisting it would leave
            self._storage_cache.reset_cache()  # persisting refreshes the written slots: drop them
            return
    locked.persist()


def patches() -> list:
    return [
        (AccountDB, "_apply_account_diff_without_proof", _apply_account_diff),
        (AccountStorageDB, "make_storage_root", _make_storage_root),
    ]
