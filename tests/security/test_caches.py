"""Bounded caches: freshly mined blocks evict old ones (the block and receipt caches used to be
checked only on a miss, so a mining node never evicted anything)."""

from __future__ import annotations

import pytest

import imochain.chain.storage as storage_module
from imochain.chain import Node, NodeConfig
from imochain.chain.lru import LRUCache


def test_lru_evicts_the_least_recently_used_by_weight():
    cache = LRUCache(10, weigh=len)
    cache["a"] = [1] * 4
    cache["b"] = [1] * 4
    assert cache.get("a") == [1] * 4  # a is now the most recent
    cache["c"] = [1] * 4  # 12 > 10: b goes
    assert "b" not in cache and "a" in cache and "c" in cache
    assert cache.weight == 8
    cache["huge"] = [1] * 50  # heavier than the cap on its own: kept alone
    assert len(cache) == 1 and cache.weight == 50
    cache["a"] = [1]
    assert "huge" not in cache and cache.weight == 1
    assert cache.pop("a") == [1] and cache.weight == 0 and cache.get("a", "none") == "none"
    with pytest.raises(ValueError):
        LRUCache(0)


def test_mined_blocks_keep_the_node_caches_bounded(monkeypatch):
    monkeypatch.setattr(storage_module, "CACHE_WEIGHT", 64)
    node = Node(NodeConfig(automine=False))
    me, you = node.accounts[0].address, node.accounts[1].address
    for _ in range(3):  # a block with transactions weighs more than an empty one
        node.send_transaction({"from": me, "to": you, "value": 1, "gas": 21000})
    node.mine(1)
    node.mine(200)
    for n in range(202):  # every block's receipts read once: the derived-receipt cache fills too
        node.block_receipts(n)
    storage = node.storage
    for cache in (storage._block_cache, storage._receipt_cache, storage._receipt_info_cache):
        assert 0 < len(cache) and cache.weight <= 64
    # evicted blocks are read back from the store, unchanged
    block = node.get_block(1)
    assert len(block.transactions) == 3
    assert [r.status for r in node.block_receipts(1)] == [1, 1, 1]
    assert node.get_block("latest").number == 201
    node.close()
