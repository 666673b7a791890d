"""Helpers of the chain tests: blocks of raw transactions mined on a bare node."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from imochain.chain import Node, NodeConfig, speedups

GENESIS_TIME = 1_700_000_000


@contextlib.contextmanager
def mined(blocks: list[list[bytes]]) -> Iterator[Node]:
    """A node without the genesis contracts that mined each list of raw transactions as one
    block, a second apart (the same timestamps every run, so two runs can be compared)."""
    node = Node(NodeConfig(genesis_contracts=False, automine=False, genesis_timestamp=GENESIS_TIME))
    try:
        for n, txs in enumerate(blocks, 1):
            for raw in txs:
                node.send_raw_transaction(raw)
            node.mine(1, timestamp=GENESIS_TIME + n)
        yield node
    finally:
        node.close()


def with_stock_py_evm(run, *args):
    """`run(*args)` with every speed-up off (stock py-evm, py-trie, pyrlp), installed again after."""
    speedups.uninstall()
    try:
        return run(*args)
    finally:
        speedups.install()
