"""Trie reads answered from the values of recent roots (a diff-layer cache for py-trie).

A trie root is the hash of the trie's whole contents, so "the value of key K under root R"
never changes: caching it is always correct. The state root changes with every block, though,
so a plain (root, key) cache would miss on every new block. Each `set`/`delete` is therefore
recorded as a layer: the new root's layer holds the key it changed and points at the old
root's layer, where every other key still has its old value. A read walks at most MAX_DEPTH
layers up the chain and only then walks the trie (and remembers what it found in the
requested root's layer). This is geth's diff-layer idea, applied to py-trie's `HexaryTrie`.

What is skipped is only work: a missing trie node still raises when the trie itself is
walked, and every write still goes through py-trie, which computes the roots.
"""

from __future__ import annotations

MAX_LAYERS = 8192  # roots remembered (oldest dropped first): a few per block and per storage trie
MAX_DEPTH = 32  # layers a read walks before it walks the trie instead
MAX_VALUES = 50_000  # reads remembered under one root (a state dump reads every account)
MAX_TOTAL = 100_000  # values remembered in all (~20 MiB at most): then everything is dropped


class _Layer:
    __slots__ = ("parent", "values", "depth")

    def __init__(self, parent: _Layer | None, values: dict, depth: int):
        self.parent = parent
        self.values = values
        self.depth = depth


_layers: dict[bytes, _Layer] = {}
_stored = 0  # values added since the last clear (an upper bound on what is held)


def _count(n: int = 1) -> None:
    global _stored
    _stored += n
    if _stored > MAX_TOTAL:
        clear()


def _layer(root: bytes, parent: _Layer | None = None, values: dict | None = None) -> _Layer:
    layer = _layers.get(root)
    if layer is None:
        depth = parent.depth + 1 if parent is not None else 0
        if depth > MAX_DEPTH:
            parent, depth = None, 0
        layer = _layers[root] = _Layer(parent, values or {}, depth)
        if len(_layers) > MAX_LAYERS:
            try:  # other threads (calls run off the node lock) may evict at the same moment
                _layers.pop(next(iter(_layers)), None)
            except (RuntimeError, StopIteration):
                pass
    elif values:
        layer.values.update(values)
    return layer


def make_get(original_get):
    """HexaryTrie.get through the layers; `original_get` walks the trie."""

    def get(self, key):
        if type(key) is not bytes:
            return original_get(self, key)  # py-trie's own error for bad keys
        root = self.root_hash
        layer = top = _layers.get(root)
        while layer is not None:
            value = layer.values.get(key)
            if value is not None:
                return value
            layer = layer.parent
        value = original_get(self, key)
        if top is None:
            top = _layer(root)
        if len(top.values) < MAX_VALUES:
            top.values[key] = value
            _count()
        return value

    return get


def make_set(original_set):
    def set(self, key, value):
        old = self.root_hash
        original_set(self, key, value)
        _record(old, self.root_hash, key, value)

    return set


def make_delete(original_delete):
    def delete(self, key):
        old = self.root_hash
        original_delete(self, key)
        _record(old, self.root_hash, key, b"")

    return delete


def _record(old_root: bytes, new_root: bytes, key, value) -> None:
    if type(key) is not bytes or type(value) is not bytes:
        return
    _count()
    if old_root == new_root:  # the key already held this value
        _layer(old_root, values={key: value})
    else:
        _layer(new_root, _layers.get(old_root), {key: value})


def record_many(old_root: bytes, new_root: bytes, values: dict) -> None:
    """Many sets at once (trie_batch) as one layer: `values` over the old root's layer."""
    _count(len(values))
    if old_root == new_root:
        _layer(old_root, values=dict(values))
    else:
        _layer(new_root, _layers.get(old_root), dict(values))


def clear() -> None:
    global _stored
    _layers.clear()
    _stored = 0
