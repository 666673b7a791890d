"""debug_getRaw*: each encoding hashes to what the chain says (block hash, tx hash, receipts root)."""

import pytest
import rlp
from eth_utils import keccak
from trie import HexaryTrie

from imochain.testing import in_process_web3


@pytest.fixture(scope="module")
def mined():
    w3, node = in_process_web3()
    hashes = [w3.eth.send_transaction({"from": w3.eth.accounts[i], "to": w3.eth.accounts[9], "value": i + 1})
              for i in range(2)]
    for h in hashes:
        w3.eth.wait_for_transaction_receipt(h)
    return w3, hashes


def _raw(w3, method, *params):
    return w3.provider.make_request(method, list(params))


def test_header_and_block_hash_to_the_block_hash(mined):
    w3, _ = mined
    for number in range(w3.eth.block_number + 1):
        block = w3.eth.get_block(number)
        header = bytes.fromhex(_raw(w3, "debug_getRawHeader", hex(number))["result"][2:])
        assert keccak(header) == block.hash
        raw_block = rlp.decode(bytes.fromhex(_raw(w3, "debug_getRawBlock", hex(number))["result"][2:]))
        assert keccak(rlp.encode(raw_block[0])) == block.hash
        assert len(raw_block[1]) == len(block.transactions)


def test_transactions_and_receipts_match_their_hashes_and_root(mined):
    w3, hashes = mined
    for h in hashes:
        raw = bytes.fromhex(_raw(w3, "debug_getRawTransaction", "0x" + bytes(h).hex())["result"][2:])
        assert keccak(raw) == bytes(h)
        receipt = w3.eth.get_transaction_receipt(h)
        receipts = [bytes.fromhex(r[2:]) for r in _raw(w3, "debug_getRawReceipts", hex(receipt.blockNumber))["result"]]
        trie = HexaryTrie({})
        for i, r in enumerate(receipts):
            trie[rlp.encode(i)] = r
        assert trie.root_hash == w3.eth.get_block(receipt.blockNumber).receiptsRoot


def test_unknown_and_malformed(mined):
    w3, _ = mined
    assert _raw(w3, "debug_getRawTransaction", "0x" + "00" * 32)["result"] is None
    assert "not found" in _raw(w3, "debug_getRawBlock", "0xffff")["error"]["message"]
    assert _raw(w3, "debug_getRawHeader", "2")["error"]["code"] == -32602
    assert _raw(w3, "debug_getRawReceipts")["error"]["code"] == -32602
