"""The library speed-ups change nothing but speed: same bytes, same trie roots."""

import random

import rlp
import rlp.codec
from eth_utils import keccak
from trie import HexaryTrie
from trie.utils.nibbles import bytes_to_nibbles

from imochain.chain import speedups


def _random_item(rng, depth=0):
    if depth > 3 or rng.random() < 0.6:
        size = rng.choice([0, 1, 1, 2, 31, 32, 55, 56, 57, 200, 1100, 70_000])
        return rng.randbytes(size)
    return [_random_item(rng, depth + 1) for _ in range(rng.randint(0, 20))]


def test_fast_rlp_matches_pyrlp_byte_for_byte():
    speedups.install()
    rng = random.Random(7)
    for _ in range(2000):
        item = _random_item(rng)
        assert speedups._encode_raw(item) == speedups._slow_encode_raw(item)
    # what it does not special-case still goes through pyrlp
    assert speedups._encode_raw(bytearray(b"abc")) == speedups._slow_encode_raw(bytearray(b"abc"))
    assert rlp.encode([b"\x01", [b"", b"dog"]]) == bytes.fromhex("c701c58083646f67")


def _root_of(items):
    t = HexaryTrie({})
    for k, v in items:
        t[k] = v
    for k, v in items[::3]:
        del t[k]
    return t.root_hash, {k: t[k] for k, _ in items}


def test_trie_roots_and_reads_unchanged_with_caches():
    rng = random.Random(3)
    items = [(keccak(rng.getrandbits(64).to_bytes(8, "big")), rng.randbytes(rng.randint(1, 80)))
             for _ in range(300)]
    speedups.install()
    root_a, reads_a = _root_of(items)
    root_b, reads_b = _root_of(items)  # the second run hits the decoded-node cache
    assert root_a == root_b and reads_a == reads_b
    # the known empty-trie root and a single-key root from the Ethereum tests
    t = HexaryTrie({})
    assert t.root_hash == keccak(rlp.encode(b""))
    assert bytes_to_nibbles(b"\x12\xab") == (1, 2, 10, 11)


def test_cached_nodes_are_copies():
    speedups.install()
    t = HexaryTrie({})
    for i in range(40):
        t[keccak(bytes([i]))] = b"v" * (i + 1)
    node = t.get_node(t.root_hash)
    node[0] = b"tampered"
    assert t.get_node(t.root_hash)[0] != b"tampered"
