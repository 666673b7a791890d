"""Blocks with blob transactions count their blob gas in the header (EIP-4844) and stay under
the fork's per-block limit: a transaction that would pass it waits for the next block."""

from __future__ import annotations

from eth_account import Account

from imochain.chain import Node, NodeConfig
from imochain.chain.forks import FORKS, max_blob_gas
from imochain.chain.vm import make_chain_class

GENESIS_TIME = 1_700_000_000
KEYS = ["0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",  # dev accounts 0 and 1
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"]
GAS_PER_BLOB = 2**17


def _blob_tx(key, nonce: int, blobs: int) -> bytes:
    """The transaction without its sidecar (the node keeps no blobs and checks no KZG proofs;
    eth_account computes them in pure Python, seconds per blob)."""
    tx = dict(type=3, chainId=31337, nonce=nonce, gas=21_000, maxFeePerGas=10**11, maxPriorityFeePerGas=10**9,
              maxFeePerBlobGas=10**10, to="0x000000000000000000000000000000000000dEaD", value=1,
              blobVersionedHashes=[b"\x01" + bytes([i]) * 31 for i in range(blobs)])
    return bytes(Account.sign_transaction(tx, key).raw_transaction)


def _check_blobs(node, number: int) -> None:
    """py-evm's own check of a block's blob gas used and excess blob gas (Osaka's rules)."""
    storage = node.storage
    header = storage.header_at(number)
    storage.chain.get_vm(header).validate_block_blobs(storage.chain.get_block_by_header(header))


def test_automined_blob_transaction_counts_its_blob_gas():
    node = Node(NodeConfig(genesis_contracts=False, hardfork="osaka"))
    try:
        receipt = node.get_receipt(node.send_raw_transaction(_blob_tx(KEYS[0], 0, 1)))
        assert receipt.status == 1 and receipt.blob_gas_used == GAS_PER_BLOB
        assert node.head.blob_gas_used == GAS_PER_BLOB
        _check_blobs(node, 1)
    finally:
        node.close()


def test_blobs_over_the_block_limit_wait_for_the_next_block():
    node = Node(NodeConfig(genesis_contracts=False, hardfork="osaka", automine=False,
                           genesis_timestamp=GENESIS_TIME))
    try:
        first = node.send_raw_transaction(_blob_tx(KEYS[0], 0, 5))
        second = node.send_raw_transaction(_blob_tx(KEYS[1], 0, 5))  # 10 blobs: Osaka allows 9
        node.mine(1, timestamp=GENESIS_TIME + 1)
        assert node.head.blob_gas_used == 5 * GAS_PER_BLOB
        assert len(node.get_block(1).transactions) == 1 and node.pending_count() == 1
        node.mine(1, timestamp=GENESIS_TIME + 2)
        assert node.head.blob_gas_used == 5 * GAS_PER_BLOB
        assert {node.get_receipt(h).block_number for h in (first, second)} == {1, 2}
        _check_blobs(node, 1)
        _check_blobs(node, 2)
    finally:
        node.close()


def test_each_fork_s_blob_limit():
    expected = {"cancun": 6, "prague": 9, "osaka": 9, "bpo1": 15, "bpo2": 21}
    for name, vm in FORKS.items():
        # as the node configures it too (its own precompiles on a subclass)
        configured = make_chain_class(31337, {b"\0" * 19 + b"\xa1": lambda c: c}, name).vm_configuration[0][1]
        assert max_blob_gas(vm) == max_blob_gas(configured) == expected.get(name, 0) * GAS_PER_BLOB, name
