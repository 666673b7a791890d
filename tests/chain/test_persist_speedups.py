"""Blocks stored by the one-pass `persist_block` leave the store byte for byte as py-evm's own
does: automined blocks on the head, blocks with several transactions, empty blocks, and blocks
mined again after evm_revert (siblings of blocks py-evm still calls canonical)."""

from __future__ import annotations

from eth.db.chain import ChainDB
from eth_account import Account

from imochain.chain import Node, NodeConfig, persist_speedups, speedups

GENESIS_TIME = 1_700_000_000
KEY = Account.from_mnemonic("test test test test test test test test test test test junk",
                            account_path="m/44'/60'/0'/0/0").key


def _transfer(nonce: int, value: int = 1) -> bytes:
    return bytes(Account.sign_transaction(dict(
        chainId=31337, nonce=nonce, gas=21_000, maxFeePerGas=10**11, maxPriorityFeePerGas=10**9, type=2,
        to="0x000000000000000000000000000000000000dEaD", value=value), KEY).raw_transaction)


def _scenario(counts: dict) -> dict:
    """Mine a fixed history and return the whole store; `counts` tallies the paths taken."""
    fast = ChainDB.persist_block

    def counting(self, block, *args, **kwargs):
        before = persist_speedups.stock_persist_block
        calls = []
        persist_speedups.stock_persist_block = lambda *a, **k: calls.append(1) or before(*a, **k)
        try:
            return fast(self, block, *args, **kwargs)
        finally:
            persist_speedups.stock_persist_block = before
            counts["stock" if calls else "fast"] = counts.get("stock" if calls else "fast", 0) + 1

    ChainDB.persist_block = counting
    node = Node(NodeConfig(genesis_contracts=False, automine=False, genesis_timestamp=GENESIS_TIME))
    try:
        nonce = 0
        for n in range(1, 6):  # one to three transactions, then an empty block
            for _ in range(n % 4):
                node.send_raw_transaction(_transfer(nonce))
                nonce += 1
            node.mine(1, timestamp=GENESIS_TIME + n)
        snap = node.snapshot()
        for n in range(6, 9):
            node.send_raw_transaction(_transfer(nonce + n - 6, value=2))
            node.mine(1, timestamp=GENESIS_TIME + n)
        assert node.revert(snap)
        for n in range(6, 10):  # the same numbers again, other blocks: py-evm keeps its head
            node.send_raw_transaction(_transfer(nonce + n - 6, value=3))
            node.mine(1, timestamp=GENESIS_TIME + 100 + n)
        node.set_block_timestamp_interval(1)  # automined blocks off the wall clock: both runs alike
        node.set_automine(True)
        for i in range(3):
            node.send_raw_transaction(_transfer(nonce + 4 + i))
        return dict(node.storage.store._data)
    finally:
        node.close()
        ChainDB.persist_block = fast


def test_one_pass_persist_writes_what_py_evm_writes():
    speedups.install()  # as the node builder does
    assert ChainDB.persist_block is persist_speedups.persist_block
    counts = {}
    with_patch = _scenario(counts)
    assert counts.get("fast", 0) >= 8 and counts.get("stock", 0) >= 4, counts  # both paths taken
    ChainDB.persist_block = persist_speedups.stock_persist_block
    try:
        stock = _scenario({})
    finally:
        ChainDB.persist_block = persist_speedups.persist_block
    assert stock.keys() == with_patch.keys()
    assert stock == with_patch
