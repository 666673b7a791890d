"""The library speed-ups (py-trie, pyrlp, py-evm), installed once by the node; reversible.

py-evm rebuilds its state objects for every block, and every account read walks the state
trie from the root, RLP-decoding each node again in pure Python. Trie nodes are addressed by
the hash of their contents, so a node once decoded can never change: caching decoded nodes by
key is always correct. Measured on this machine: one-transfer blocks 99.5 → 149.6 per second.
Trie keys' nibble expansions and hex-prefix encodings are memoised for the same reason; values
of recent roots are kept too (trie_values), a block's sets to each trie are applied in one pass
(trie_batch), and pyrlp's Serializable bookkeeping has faster equivalents (rlp_speedups).

`HexaryTrie` edits branch nodes in place, so every hit returns a fresh copy of the node's
lists (a node has at most 17 items, and embedded children are under 32 bytes, so two levels
are all there is).

Every patch is recorded with what it replaced, so `uninstall()` restores stock py-trie,
pyrlp and py-evm (the equivalence tests run the same blocks both ways). The per-transaction
patches (tx_speedups, with evm_loop and chaindb_speedups) are a second group on top, which
`set_tx_speedups` switches alone (the benchmark's before/after on one warm node).
"""

from __future__ import annotations

import functools
import itertools

import rlp
import rlp.codec
import trie.hexary
import trie.utils.nodes
from trie.constants import BLANK_NODE, BLANK_NODE_HASH
from trie.hexary import HexaryTrie
from trie.utils import nibbles as trie_nibbles
from trie.utils.nibbles import bytes_to_nibbles

from . import (bloom_speedups, evm_speedups, persist_speedups, rlp_speedups, trie_batch, trie_values, tx_speedups,
               type_byte_speedups)
from .rlp_speedups import encode_raw as _encode_raw
from .rlp_speedups import slow_encode_raw as _slow_encode_raw  # noqa: F401  (the tests compare against it)

MAX_NODES = 100_000  # ~ tens of MB at most; cleared wholesale when full

_decoded: dict[bytes, tuple] = {}  # as tuples: the garbage collector need not scan them
_originals: list[tuple[object, str, object]] = []  # (owner, name, what the patch replaced)
_tx_originals: list[tuple[object, str, object]] = []  # the same, for tx_speedups (on top)


def _get_node(self, node_hash):
    if node_hash == BLANK_NODE or node_hash == BLANK_NODE_HASH:
        return BLANK_NODE
    if type(node_hash) is list:  # an embedded node (under 32 bytes): py-trie returns it as is
        return node_hash
    node = _decoded.get(node_hash)
    if node is None:
        encoded = self.db[node_hash] if len(node_hash) >= 32 else node_hash
        decoded = rlp.decode(encoded)
        frozen = _frozen(decoded) if type(decoded) is list else None
        if frozen is not None:
            if len(_decoded) >= MAX_NODES:
                _decoded.clear()
            _decoded[node_hash] = frozen
        return decoded  # fresh: py-trie edits branch nodes in place
    return _listify(node)


def _frozen(node):
    """A node's lists as tuples, or None when it holds anything but bytes and lists (then
    the cache is left to what decoding the stored bytes gives). Cached nodes are tuples of
    bytes: Python's garbage collector stops tracking them, so a full collection does not
    walk the whole cache (it ran once every few hundred blocks, ~0.1 s each)."""
    out = []
    for item in node:
        kind = type(item)
        if kind is bytes:
            out.append(item)
        elif kind is list:
            item = _frozen(item)
            if item is None:
                return None
            out.append(item)
        else:
            return None
    return tuple(out)


def _remember_written(node_hash, node) -> None:
    """A node just written is the node its hash decodes to: cache it now, so the next block
    does not decode what this one encoded."""
    if type(node_hash) is bytes and len(node_hash) == 32 and type(node) is list and node_hash not in _decoded:
        frozen = _frozen(node)
        if frozen is not None:
            if len(_decoded) >= MAX_NODES:
                _decoded.clear()
            _decoded[node_hash] = frozen


def _make_persist_node(original):
    def persist_node(self, node):
        key = original(self, node)
        _remember_written(key, node)
        return key
    return persist_node


def _make_set_raw_node(original):
    def set_raw_node(self, raw_node):
        node_hash = original(self, raw_node)
        _remember_written(node_hash, raw_node)
        return node_hash
    return set_raw_node


def _tuplify(node):
    # most nodes hold no embedded node: one C-level scan of the item types, then one copy
    if not any(map(isinstance, node, _LISTS)):
        return tuple(node)
    return tuple([_tuplify(sub) if isinstance(sub, list) else sub for sub in node])


def _listify(node):
    if not any(map(isinstance, node, _TUPLES)):
        return list(node)
    return [_listify(sub) if isinstance(sub, tuple) else sub for sub in node]


_LISTS, _TUPLES = itertools.repeat(list), itertools.repeat(tuple)

_stock_node_mapping = HexaryTrie._create_node_to_db_mapping  # uses nothing of the trie itself


@functools.lru_cache(maxsize=4096)  # ~2 KB each; a block looks up ~25, most from the block before
def _node_mapping_of(node: tuple):
    key, encoded = _stock_node_mapping(None, _listify(node))
    return (_tuplify(key), None) if type(key) is list else (key, encoded)


def _cached_node_mapping(self, node: tuple):
    """(hash, encoding) of a node, remembered across tries. py-trie's own cache is per trie
    object, and a new one is made for every state root: the nodes a block writes are hashed
    again when the next block prunes them. Small nodes come back as fresh lists."""
    key, encoded = _node_mapping_of(node)
    return (_listify(key), None) if type(key) is tuple else (key, encoded)


@functools.lru_cache(maxsize=65536)
def _decode_nibbles_of(value: bytes) -> tuple:
    return trie_nibbles.decode_nibbles(value)


def _decode_nibbles(value):
    return _decode_nibbles_of(value) if type(value) is bytes else trie_nibbles.decode_nibbles(value)


@functools.lru_cache(maxsize=65536)
def _key_of(prefixed_key: bytes) -> tuple:
    return trie_nibbles.remove_nibbles_terminator(trie_nibbles.decode_nibbles(prefixed_key))


_slow_extract_key = trie.utils.nodes.extract_key


def _extract_key(node):
    if type(node) is list and len(node) == 2 and type(node[0]) is bytes:
        return _key_of(node[0])
    return _slow_extract_key(node)


def _memo_of_nibbles(fn):
    """`fn(nibbles) -> bytes` memoised; lists of nibbles are looked up as tuples."""
    memo = functools.lru_cache(maxsize=65536)(fn)

    def cached(nibbles):
        return memo(tuple(nibbles))

    return cached


def _patches() -> list:
    nodes = trie.utils.nodes
    encode_nibbles = _memo_of_nibbles(trie_nibbles.encode_nibbles)
    leaf_key = _memo_of_nibbles(nodes.compute_leaf_key)
    extension_key = _memo_of_nibbles(nodes.compute_extension_key)
    trie_patches = [
        (HexaryTrie, "get_node", _get_node),
        # Trie keys are hashes of the same few addresses and slots again and again; their
        # nibble tuples are immutable, so memoising the conversion is safe (~6 % of a block).
        (trie.hexary, "bytes_to_nibbles", functools.lru_cache(maxsize=65536)(bytes_to_nibbles)),
        (trie.hexary, "decode_nibbles", _decode_nibbles),
        (trie.hexary, "encode_nibbles", encode_nibbles),
        (trie.hexary, "extract_key", _extract_key),
        (trie.hexary, "compute_leaf_key", leaf_key),
        (trie.hexary, "compute_extension_key", extension_key),
        (nodes, "decode_nibbles", _decode_nibbles),
        (nodes, "encode_nibbles", encode_nibbles),
        (HexaryTrie, "_persist_node", _make_persist_node(HexaryTrie._persist_node)),
        (HexaryTrie, "_set_raw_node", _make_set_raw_node(HexaryTrie._set_raw_node)),
        (trie.hexary, "tuplify", _tuplify),
        (trie.hexary, "listify", _listify),
        (HexaryTrie, "_cached_create_node_to_db_mapping", _cached_node_mapping),
        (HexaryTrie, "get", trie_values.make_get(HexaryTrie.get)),
        (HexaryTrie, "set", trie_values.make_set(HexaryTrie.set)),
        (HexaryTrie, "delete", trie_values.make_delete(HexaryTrie.delete)),
        # A block's sets to one trie in one pass (each changed node hashed and written once).
        (trie_batch, "remember_written", _remember_written),
        # Trie nodes and most chain data are plain bytes and lists: encode those directly.
        (rlp.codec, "encode_raw", _encode_raw),
        (trie.hexary, "encode_raw", _encode_raw),
    ]
    return (trie_patches + rlp_speedups.PATCHES + evm_speedups.patches()
            + persist_speedups.PATCHES + type_byte_speedups.PATCHES + trie_batch.patches()
            + bloom_speedups.PATCHES)


def install(tx: bool = True) -> None:
    """Every speed-up; `tx=False` leaves out tx_speedups (the bench's before/after)."""
    if not _originals:
        _apply(_patches(), _originals)
    set_tx_speedups(tx)


def set_tx_speedups(enabled: bool) -> None:
    """tx_speedups on or off, on top of the others, keeping every cache (the benchmark
    alternates both ways on one warm node)."""
    if enabled and _originals and not _tx_originals:
        _apply(tx_speedups.patches(), _tx_originals)
    elif not enabled:
        _restore(_tx_originals)


def set_rust_rlp(enabled: bool) -> None:
    """Raw RLP by rusty-rlp (the default where it is installed) or by the Python loops, at every
    place the speed-ups put it (the backend benchmark's and byte-equality test's A/B)."""
    if not _originals or (enabled and rlp_speedups.rusty_rlp is None):
        raise RuntimeError("needs the speed-ups installed, and rusty-rlp for the Rust backend")
    encode = rlp_speedups.rust_encode_raw if enabled else rlp_speedups.python_encode_raw
    rlp.codec.encode_raw = trie.hexary.encode_raw = tx_speedups._encode_raw = encode
    rlp.codec.decode_raw = rlp_speedups.rust_decode_raw if enabled else rlp_speedups.python_decode_raw


def _apply(patches: list, record: list) -> None:
    for owner, name, value in patches:
        record.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, value)


def _restore(record: list) -> None:
    while record:
        owner, name, original = record.pop()
        setattr(owner, name, original)


def uninstall() -> None:
    """Stock libraries again (for equivalence tests); install() puts the speed-ups back."""
    _restore(_tx_originals)
    _restore(_originals)
    _decoded.clear()
    trie_values.clear()
    evm_speedups.clear()


def installed() -> bool:
    return bool(_originals)
