"""Fixtures of the chain tests: a bare node with every speed-up installed."""

import pytest

from imochain.chain import Node, NodeConfig, speedups


@pytest.fixture(scope="module")
def evm_node():
    """A node without the genesis contracts, speed-ups on; a test may switch the
    per-transaction group off (stock py-evm for comparison): it is on again afterwards."""
    speedups.install()
    node = Node(NodeConfig(genesis_contracts=False))
    yield node
    speedups.set_tx_speedups(True)
    node.close()
