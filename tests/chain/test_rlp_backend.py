"""pyrlp's optional Rust backend (rusty-rlp): used when installed, same bytes and errors as without."""

from __future__ import annotations

import random

import pytest
import rlp
import rlp.codec
import trie.hexary

from imochain.chain import Node, NodeConfig, rlp_speedups, speedups
from imochain.chain.errors import TransactionRejected

from test_speed_equivalence import _mine_all, _random_blocks
from test_speedups import _random_item

RUST = rlp_speedups.rusty_rlp is not None
needs_rust = pytest.mark.skipif(not RUST, reason="rusty-rlp is not installed (optional: `make install` "
                                                 "adds it where a binary wheel exists, glibc >= 2.34)")

# Malformed RLP and pyrlp's own words for it (Rust's alone would say "Invariant", "RlpIsTooShort").
MALFORMED = [
    (b"", "RLP string too short"),
    (b"\xc1", "RLP string too short"),
    (b"\x83ab", "RLP string too short"),
    (b"\xc3\xc5\x01", "RLP string too short"),
    (b"\x81\x01", "Encoded as short string although single byte was possible"),
    (b"\xc2\x81\x01", "Encoded as short string although single byte was possible"),
    (b"\xb8\x01a", "Long string prefix used for short string"),
    (b"\xf8\x37" + bytes(55), "Long list prefix used for short list"),
    (b"\xf8\x00", "Length starts with zero bytes"),
    (b"\xc0\x00", "RLP string ends with 1 superfluous bytes"),
    (b"\x01\x02", "RLP string ends with 1 superfluous bytes"),
]


def test_the_backend_pyrlp_found_is_the_one_installed():
    """With rusty-rlp, raw RLP goes to it (our Python encoder used to bypass it); without it,
    to the Python loops, which beat pyrlp's own."""
    speedups.install()
    assert rlp_speedups.rusty_rlp is getattr(rlp.codec, "rusty_rlp", None)
    encode = rlp_speedups.rust_encode_raw if RUST else rlp_speedups.python_encode_raw
    assert rlp.codec.encode_raw is encode and trie.hexary.encode_raw is encode
    if RUST:
        assert rlp.codec.decode_raw is rlp_speedups.rust_decode_raw
    # Ethereum's RLP test vectors
    assert rlp.encode(b"dog") == b"\x83dog"
    assert rlp.encode([b"cat", b"dog"]) == bytes.fromhex("c88363617483646f67")
    assert rlp.encode([[], [[]], [[], [[]]]]) == bytes.fromhex("c7c0c1c0c3c0c1c0")
    assert rlp.encode(b"Lorem ipsum dolor sit amet, consectetur adipisicing elit") == \
        b"\xb8\x38Lorem ipsum dolor sit amet, consectetur adipisicing elit"
    assert rlp.encode(1024) == b"\x82\x04\x00"
    assert rlp.decode(bytes.fromhex("c7c0c1c0c3c0c1c0")) == [[], [[]], [[], [[]]]]


@pytest.mark.parametrize("encoded, message", MALFORMED)
def test_malformed_rlp_says_what_is_wrong(encoded, message):
    speedups.install()
    with pytest.raises(rlp.DecodingError) as caught:
        rlp.decode(encoded)
    assert str(caught.value) == message


def test_lenient_decoding_keeps_pyrlp_semantics():
    """Non-strict decoding waives trailing bytes only (Rust's would also accept non-canonical
    encodings); a bytearray decodes to a bytearray, as pyrlp's Python decoder gives."""
    speedups.install()
    assert rlp.decode(b"\x01\x02", strict=False) == b"\x01"
    assert rlp.decode(b"\xc1\x05\xff", strict=False) == [b"\x05"]
    with pytest.raises(rlp.DecodingError, match="short string although single byte"):
        rlp.decode(b"\x81\x01", strict=False)
    assert type(rlp.decode(bytearray(b"\x83abc"))) is bytearray
    # a bytearray nested in a list (Rust refuses those) encodes as bytes would
    assert rlp.codec.encode_raw([bytearray(b"x"), [bytearray(b"yz")]]) == b"\xc5x\xc3\x82yz"


def test_a_malformed_raw_transaction_is_refused_clearly():
    node = Node(NodeConfig(genesis_contracts=False))
    try:
        for raw, message in [(b"\x02\xc1", "RLP string too short"),
                             (b"\x02\xc0\x00", "superfluous bytes"),
                             (b"\x02" + bytes.fromhex("c281") + b"\x01", "single byte was possible")]:
            with pytest.raises(TransactionRejected, match=f"failed to decode transaction: .*{message}"):
                node.send_raw_transaction(raw)
        assert node.block_number == 0
    finally:
        node.close()


@needs_rust
def test_both_backends_encode_and_decode_alike():
    speedups.install()
    rng = random.Random(11)
    for _ in range(1500):
        item = _random_item(rng)
        encoded = rlp_speedups.python_encode_raw(item)
        assert rlp_speedups.rust_encode_raw(item) == encoded
        assert rlp_speedups.rust_decode_raw(encoded, True, False)[0] == \
            rlp_speedups.python_decode_raw(encoded, True)[0]


@needs_rust
def test_both_backends_write_identical_chains():
    """The same random blocks mined with raw RLP in Python and in Rust: every byte the node
    stored (transactions, receipts, headers, bodies, trie nodes, accounts, indexes) is the same,
    and every stored RLP value decodes and re-encodes alike with both."""
    blocks = _random_blocks(5, 12)
    speedups.install()
    try:
        speedups.set_rust_rlp(False)
        python = _mine_all(blocks)
    finally:
        speedups.set_rust_rlp(True)
    rust = _mine_all(blocks)
    assert python["chain"] == rust["chain"] and python["state"] == rust["state"]
    assert python["store"] == rust["store"]
    decoded, accounts = 0, 0
    for value in rust["store"].values():
        item = _same_both_ways(value)
        if item is None:
            continue  # not RLP (code, raw hashes, numbers)
        decoded += 1
        if type(item) is list and len(item) == 2 and type(item[1]) is bytes:  # a trie leaf
            leaf_value = _same_both_ways(item[1])
            accounts += type(leaf_value) is list and len(leaf_value) == 4
    assert decoded > 100, "trie nodes, headers, receipts and bodies were among the stored values"
    assert accounts > 5, "accounts (state-trie leaves) were among them"


def _same_both_ways(value: bytes):
    """`value` decoded, after checking both backends decode it alike and re-encode it to itself;
    None when it is not RLP."""
    try:
        item = rlp_speedups.python_decode_raw(value, True)[0]
    except rlp.DecodingError:
        return None
    assert rlp_speedups.rust_decode_raw(value, True, False)[0] == item
    assert rlp_speedups.rust_encode_raw(item) == rlp_speedups.python_encode_raw(item) == value
    return item
