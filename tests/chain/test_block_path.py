"""A block's receipts cost less and stay the same: blooms from remembered bits equal eth_bloom's
(values, membership and errors), and the block is built without py-evm's receipt re-check."""

from __future__ import annotations

import random

import pytest
from eth_bloom import BloomFilter
from eth_bloom.bloom import get_bloom_bits

from imochain.chain import Node, NodeConfig, speedups
from imochain.chain.bloom_speedups import bloom_bits


def _stock_bloom(values) -> int:
    out = 0
    for value in values:
        for bit in get_bloom_bits(value):
            out |= bit
    return out


@pytest.fixture
def installed():
    """The speed-ups on for the test; their state before it comes back after it."""
    was_installed = speedups.installed()
    speedups.install()
    yield
    if not was_installed:
        speedups.uninstall()


def test_bloom_bits_equal_eth_bloom_s(installed):
    rng = random.Random(3)
    values = [rng.randbytes(rng.choice([0, 1, 20, 32, 33])) for _ in range(300)]
    for i in range(0, len(values), 5):
        chunk = values[i:i + 5]
        patched = BloomFilter.from_iterable(chunk)
        assert int(patched) == _stock_bloom(chunk)
        again = BloomFilter.from_iterable(chunk)  # remembered bits this time
        assert int(again) == int(patched)
        others = values[:i] + values[i + 5:]
        stock_in = [all(int(patched) & bit for bit in get_bloom_bits(v)) for v in chunk + others]
        assert [v in patched for v in chunk + others] == stock_in
        assert all(stock_in[:len(chunk)])
    for bad in ("ab", 5, bytearray(b"x")):
        with pytest.raises(TypeError, match="Value must be of type `bytes`"):
            BloomFilter().add(bad)
        with pytest.raises(TypeError, match="Value must be of type `bytes`"):
            bad in BloomFilter()  # noqa: B015


def test_bloom_patch_is_undone_with_the_others(installed):
    assert BloomFilter.add.__module__ == "imochain.chain.bloom_speedups"
    speedups.uninstall()
    try:
        assert BloomFilter.add.__module__ == "eth_bloom.bloom"
        assert BloomFilter.__contains__.__module__ == "eth_bloom.bloom"
    finally:
        speedups.install()
    assert bloom_bits(b"\x01" * 20) == _stock_bloom([b"\x01" * 20])


def test_blocks_are_built_without_re_checking_receipt_blooms(monkeypatch):
    """py-evm's validate_receipt checks that the bloom made from a receipt's logs holds them: it
    cannot fail for a receipt just made, and cost ~4 % of a block. The blooms stay right."""
    node = Node(NodeConfig(genesis_contracts=False))
    try:
        checked = []
        monkeypatch.setattr(node.vm_class, "validate_receipt",
                            classmethod(lambda cls, receipt: checked.append(receipt)))
        # a contract creation whose initcode logs once: LOG1 with topic 7, no data
        initcode = bytes.fromhex("6007" "6000" "6000" "a1" "00")
        tx_hash = node.send_transaction({"from": node.accounts[0].address, "data": initcode, "gas": 100_000})
        receipt = node.get_receipt(tx_hash)
        assert receipt.status == 1 and len(receipt.logs) == 1
        assert checked == []
        entry = receipt.logs[0]
        assert receipt.logs_bloom == _stock_bloom([entry.address, *entry.topics])
        assert node.head.bloom == receipt.logs_bloom
    finally:
        node.close()
