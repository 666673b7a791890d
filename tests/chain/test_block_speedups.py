"""Round 4's per-block shortcuts give py-evm's results: the block assembled directly equals
`set_block_transactions_and_withdrawals` on `vm.get_block()` (and writes the same trie nodes),
and the type-byte conversions equal eth_utils' (values and errors)."""

from __future__ import annotations

import eth_utils
import pytest
import rlp
from eth.constants import BLANK_ROOT_HASH
from eth.db.trie import make_trie_root_and_nodes
from eth_account import Account

from imochain.chain import Node, NodeConfig
from imochain.chain.executor import assemble_block
from imochain.chain.type_byte_speedups import to_bytes, to_int

GENESIS_TIME = 1_700_000_000
KEYS = [Account.from_mnemonic("test test test test test test test test test test test junk",
                              account_path=f"m/44'/60'/0'/0/{i}").key for i in range(3)]


def _signed(key, nonce: int, kind: int) -> bytes:
    tx = dict(chainId=31337, nonce=nonce, gas=60_000, to="0x000000000000000000000000000000000000dEaD", value=7)
    if kind == 0:
        tx.update(gasPrice=2 * 10**9)
    elif kind == 1:
        tx.update(gasPrice=2 * 10**9, accessList=[{"address": "0x" + "11" * 20, "storageKeys": ["0x" + "00" * 32]}])
    else:
        tx.update(type=2, maxFeePerGas=10**11, maxPriorityFeePerGas=10**9)
    return bytes(Account.sign_transaction(tx, key).raw_transaction)


@pytest.fixture(scope="module")
def mined():
    """Blocks with 0, 1 and 3 transactions (legacy, access-list and dynamic-fee)."""
    node = Node(NodeConfig(genesis_contracts=False, automine=False, genesis_timestamp=GENESIS_TIME))
    node.mine(1, timestamp=GENESIS_TIME + 1)
    node.send_raw_transaction(_signed(KEYS[0], 0, 2))
    node.mine(1, timestamp=GENESIS_TIME + 2)
    for i, key in enumerate(KEYS):
        node.send_raw_transaction(_signed(key, 1 if i == 0 else 0, i))
    node.mine(1, timestamp=GENESIS_TIME + 3)
    yield node
    node.close()


@pytest.mark.parametrize("number,count", [(1, 0), (2, 1), (3, 3)])
def test_assembled_block_equals_py_evm_s(mined, number, count):
    storage = mined.storage
    header = storage.header_at(number)
    block = storage.chain.get_block_by_header(header)
    receipts = storage.receipts(header)
    assert len(block.transactions) == count
    start = header.copy(transaction_root=BLANK_ROOT_HASH, receipt_root=BLANK_ROOT_HASH, state_root=b"\1" * 32)
    vm = storage.chain.get_vm(start)
    data = storage.store._data  # the key-value store under py-evm (the node's MemoryStore)
    nodes = {**make_trie_root_and_nodes(block.transactions)[1], **make_trie_root_and_nodes(receipts)[1]}
    for key in nodes:  # mined already: both paths must write them again
        del data[key]
    before = dict(data)

    def writes() -> dict:
        """What the store gained since `before`, taken back out (each path starts alike)."""
        new = {k: v for k, v in data.items() if before.get(k) != v}
        for k in new:
            del data[k]
        data.update({k: before[k] for k in new if k in before})
        return new

    direct = assemble_block(vm, start, header.state_root, list(block.transactions), receipts)
    direct_writes = writes()
    stock = vm.set_block_transactions_and_withdrawals(
        vm.get_block(), start.copy(state_root=header.state_root), list(block.transactions), receipts, withdrawals=[])
    stock_writes = writes()
    assert type(direct) is type(stock)
    assert direct == stock and rlp.encode(direct) == rlp.encode(stock)
    assert (direct.transactions, direct.uncles, direct.withdrawals) == (stock.transactions, stock.uncles, stock.withdrawals)
    assert direct.header.hash == stock.header.hash == header.hash
    assert direct_writes == stock_writes == nodes
    data.update(nodes)


CONVERSIONS = [((i,), {}) for i in range(-2, 300)] + [
    ((True,), {}), ((False,), {}), ((b"\x02",), {}), ((bytearray(b"\x01"),), {}), (("2",), {}), ((1.5,), {}),
    ((), {"hexstr": "0x1"}), ((), {"text": "7"}), ((), {}), ((1,), {"hexstr": "0x2"}), ((), {"primitive": 5})]


@pytest.mark.parametrize("fast,stock", [(to_bytes, eth_utils.to_bytes), (to_int, eth_utils.to_int)])
def test_type_byte_conversions_equal_eth_utils(fast, stock):
    def outcome(fn, args, kwargs):
        try:
            value = fn(*args, **kwargs)
        except Exception as exc:
            return type(exc), str(exc)
        return type(value), value

    for args, kwargs in CONVERSIONS:
        assert outcome(fast, args, kwargs) == outcome(stock, args, kwargs), (args, kwargs)
