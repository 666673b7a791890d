"""The library speed-ups change nothing but speed: same bytes, same trie roots."""

import random

import pytest
import rlp
import rlp.codec
from eth_utils import keccak
from trie import HexaryTrie
from trie.utils.nibbles import bytes_to_nibbles

from imochain.chain import speedups


def _random_item(rng, depth=0):
    if depth > 3 or rng.random() < 0.6:
        # one long string (a 3-byte length prefix) now and then, not thousands of them
        size = rng.choice([0, 1, 1, 2, 31, 32, 55, 56, 57, 200, 1100] + ([70_000] if depth == 0 else []))
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


def test_embedded_nodes_read_as_py_trie_reads_them():
    # short keys and values make nodes under 32 bytes, which a parent holds in place of a hash
    items = [(bytes([i, j]), bytes([j])) for i in range(3) for j in range(5)]
    speedups.uninstall()
    stock = _root_of(items)
    speedups.install()
    assert _root_of(items) == stock
    t = HexaryTrie({})
    for k, v in items:
        t[k] = v
    embedded, refs = [], [t.root_hash]
    while refs:
        node = t.get_node(refs.pop())
        children = node[:16] if len(node) == 17 else node[1:] if len(node) == 2 else []
        embedded += [c for c in children if type(c) is list]
        refs += [c for c in children if type(c) is bytes and len(c) == 32]
    assert embedded and all(t.get_node(node) == node for node in embedded)


def test_cached_nodes_are_copies():
    speedups.install()
    t = HexaryTrie({})
    for i in range(40):
        t[keccak(bytes([i]))] = b"v" * (i + 1)
    node = t.get_node(t.root_hash)
    node[0] = b"tampered"
    assert t.get_node(t.root_hash)[0] != b"tampered"


def _outcome(fn):
    try:
        return ("ok", fn())
    except Exception as exc:  # the same error type and words, with or without the speed-ups
        return (type(exc).__name__, str(exc))


def test_rlp_sedes_and_serializable_results_and_errors_unchanged():
    from eth.rlp.accounts import Account
    from eth.vm.forks.prague.blocks import PragueBlockHeader
    from rlp.sedes import CountableList, List, big_endian_int, binary
    from rlp.sedes.binary import Binary

    header = PragueBlockHeader(difficulty=0, block_number=7, gas_limit=30_000_000, timestamp=1_700_000_000,
                               parent_beacon_block_root=b"\x01" * 32, requests_hash=b"\x02" * 32)
    account = Account(nonce=3, balance=10**18)
    pair = List([big_endian_int, Binary.fixed_length(2)])
    cases = [
        lambda: rlp.encode(header), lambda: rlp.decode(rlp.encode(header), PragueBlockHeader),
        lambda: header.copy(timestamp=5, gas_used=21000).hash, lambda: header.copy().as_dict(),
        lambda: account.copy(balance=1), lambda: rlp.decode(rlp.encode(account), Account),
        lambda: header.copy(no_such_field=1), lambda: header.copy(1, 2),
        lambda: Account(nonce=-1), lambda: rlp.encode(Account(nonce="x")),
        lambda: rlp.encode([5, b"ab"], pair), lambda: rlp.encode([5, b"abc"], pair),
        lambda: rlp.encode((0, b"ab"), pair), lambda: rlp.encode({1: 2}, pair), lambda: rlp.encode("ab", pair),
        lambda: rlp.encode([5], pair), lambda: rlp.encode([-1, b"ab"], pair), lambda: rlp.encode([True, b"ab"], pair),
        lambda: rlp.decode(rlp.encode([5, b"ab"]), pair), lambda: rlp.decode(rlp.encode([b"\x00\x05", b"ab"]), pair),
        lambda: rlp.decode(rlp.encode([[b"x"], b"ab"]), pair), lambda: rlp.decode(rlp.encode([5, b"ab", b""]), pair),
        lambda: rlp.encode([1, 2, 3], CountableList(big_endian_int)), lambda: binary.serialize(bytearray(b"z")),
        lambda: rlp.decode(b"\x80", big_endian_int), lambda: rlp.decode(b"\x00", big_endian_int),
    ]
    speedups.install()
    fast = [_outcome(case) for case in cases]
    speedups.uninstall()
    try:
        stock = [_outcome(case) for case in cases]
    finally:
        speedups.install()
    assert fast == stock
    assert sum(1 for kind, _ in stock if kind != "ok") >= 8, "the error cases do fail"


@pytest.mark.parametrize("max_depth,max_total", [(32, 400_000), (3, 60)])
def test_trie_value_layers_answer_every_root_as_the_trie_does(monkeypatch, max_depth, max_total):
    """Random writes and deletes; then every key read at every root seen (old ones too) is the
    value a model of the trie says, also when chains are cut short and the layers dropped."""
    from imochain.chain import trie_values
    monkeypatch.setattr(trie_values, "MAX_DEPTH", max_depth)
    monkeypatch.setattr(trie_values, "MAX_TOTAL", max_total)
    speedups.install()
    rng = random.Random(11)
    keys = [keccak(bytes([i])) for i in range(40)]
    t = HexaryTrie({}, prune=False)
    model: dict = {}
    history = []
    for _ in range(300):
        key = rng.choice(keys)
        if rng.random() < 0.25:
            del t[key]
            model.pop(key, None)
        else:
            value = rng.randbytes(rng.randint(1, 40))
            t[key] = value
            model[key] = value
        if rng.random() < 0.3:
            t[rng.choice(keys)]  # reads remembered under the current root
        history.append((t.root_hash, dict(model)))
    for root, expected in rng.sample(history, 120) + history[-5:]:
        old = HexaryTrie(t.db, root)
        for key in keys:
            assert old[key] == expected.get(key, b"")


def _result_of(fn, *args):
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # the same error type and message both ways
        return ("error", type(exc).__name__, str(exc))


def test_tx_speedups_give_py_evms_results_and_errors():
    """Sender recovery, the EVM stack and trie-node checks: the fast paths answer what py-evm
    and py-trie answer, errors included (bad signatures, stack underflow, bad values)."""
    from eth._utils.transactions import extract_transaction_sender as stock_sender
    from eth.constants import SECPK1_N
    from eth.vm.stack import Stack
    from eth_account import Account
    from trie.validation import validate_is_node as stock_validate

    from imochain.chain import tx_speedups
    from imochain.chain.vm import make_chain_class

    builder = make_chain_class(31337, {}).vm_configuration[-1][1].get_transaction_builder()
    raw = Account.sign_transaction(dict(chainId=31337, nonce=3, maxPriorityFeePerGas=1, maxFeePerGas=10**10,
                                        gas=21000, to="0x" + "11" * 20, value=5, type=2), "0x" + "22" * 32)
    inner = builder.decode(bytes(raw.raw_transaction))._inner
    variants = [inner, inner.copy(r=0), inner.copy(s=SECPK1_N + 1), inner.copy(y_parity=7),
                inner.copy(r=SECPK1_N - 1), inner.copy(nonce=4)]
    for tx in variants:
        assert _result_of(tx_speedups.extract_transaction_sender, tx) == _result_of(stock_sender, tx)
    assert tx_speedups.extract_transaction_sender(inner) == bytes.fromhex(Account.from_key("0x" + "22" * 32).address[2:])

    def stack_ops(pop, push_int, push_bytes, pop1):
        stack = Stack()
        out = [_result_of(push_int, stack, 5), _result_of(push_bytes, stack, b"\x01\x02"),
               _result_of(push_int, stack, 2**256), _result_of(push_int, stack, -1),
               _result_of(push_bytes, stack, b"x" * 33), _result_of(pop, stack, 2), _result_of(pop, stack, 1),
               _result_of(pop1, stack)]
        for i in range(1025):
            out.append(_result_of(push_int, stack, i))
        return out + [list(stack.values[-3:]), _result_of(pop, stack, 3)]

    assert stack_ops(tx_speedups._pop_ints, tx_speedups._push_int, tx_speedups._push_bytes, tx_speedups._pop1_int) \
        == stack_ops(tx_speedups._stock_pop_ints, tx_speedups._stock_push_int, tx_speedups._stock_push_bytes,
                     tx_speedups._stock_pop1_int)

    nodes = [b"", [b"\x20", b"v"], [b"\x20", [b"a", b"b"]], [b""] * 17, [b"\x01" * 32] * 16 + [b""],
             [b"\x01" * 31] + [b""] * 16, [b"k"], [b"\x20", 5], [b""] * 16 + [[b"x"]], [[b"\x20", b"v"]] + [b""] * 16]
    for node in nodes:
        assert _result_of(tx_speedups._validate_is_node, node) == _result_of(stock_validate, node)

    from eth.rlp.accounts import Account as EvmAccount
    accounts = [EvmAccount(), EvmAccount(1, 10**18, b"\x01" * 32, b"\x02" * 32), EvmAccount(0, 127, b"\x03" * 32, b"\x04" * 32),
                EvmAccount(2**64, 2**255, b"\x05" * 32, b"\x06" * 32)]
    for account in accounts:
        assert tx_speedups._encode_account(account) == rlp.encode(account, sedes=EvmAccount)
    odd = EvmAccount(1, 2, b"\x01" * 32, b"\x02" * 32).copy(storage_root=b"short")
    assert _result_of(tx_speedups._encode_account, odd) == _result_of(rlp.encode, odd, EvmAccount)


def test_chaindb_reads_match_py_evm():
    """Scores and chain-gap records decoded once per value: the same values and errors."""
    from eth.db.atomic import AtomicDB
    from eth.db.chain import ChainDB

    from imochain.chain import chaindb_speedups
    from imochain.chain.vm import make_chain_class

    chain = make_chain_class(31337, {}).from_genesis(AtomicDB(), {"difficulty": 0, "gas_limit": 30_000_000,
                                                                  "timestamp": 1, "nonce": b"\0" * 8})
    db, genesis = chain.chaindb.db, chain.get_canonical_head()
    fast, stock = dict((n, v) for _, n, v in chaindb_speedups.PATCHES), chaindb_speedups.STOCK
    for name in fast:
        args = (db, genesis.hash) if name == "_get_score" else (db,)
        missing = (db, b"\x07" * 32) if name == "_get_score" else (AtomicDB(),)
        for call_args in (args, missing):
            got = _result_of(fast[name].__get__(None, ChainDB), *call_args)
            want = _result_of(stock[name].__get__(None, ChainDB), *call_args)
            assert got == want


def test_interpreter_loop_gives_py_evms_results_and_errors():
    """evm_loop's inline PUSH/DUP/SWAP/POP/JUMP/JUMPI against py-evm's own opcodes: the same
    output, gas and error for good jumps, bad targets, jumps into PUSH data, false conditions
    given as bytes, stack underflow, PUSH data cut off by the end of the code."""
    from imochain.chain import Node, NodeConfig

    target = b"\x00" * 19 + b"\xc0"
    codes = {
        "jump ok": "6003565b600160005260206000f3",  # PUSH1 3 JUMP; JUMPDEST; return 1
        "jump to non-jumpdest": "600356005b",
        "jump into push data": "6004566a5b5b5b5b5b5b5b5b5b5b5b00",
        "jumpi false (bytes)": "60006006575b60aa60005260206000f3",
        "jumpi true to bad": "600160ff5700",
        "jump underflow": "56",
        "jumpi underflow": "600157",
        "dup/swap/pop": "600160026003818291505050600052602060" "00f3",
        "swap underflow": "600190",
        "push cut off": "7fffff",
        "deep stack": "5f" * 1030,
    }
    node = Node(NodeConfig(genesis_contracts=False))
    try:
        results = {}
        for enabled in (False, True):
            speedups.install()
            speedups.set_tx_speedups(enabled)
            for name, code in codes.items():
                r = node.execute_call({"to": target, "gas": 100_000}, overrides={target: {"code": bytes.fromhex(code)}})
                results.setdefault(name, []).append((r.output, r.gas_used, r.error))
    finally:
        speedups.set_tx_speedups(True)
        node.close()
    for name, (stock, fast) in results.items():
        assert stock == fast, name
    assert results["jump ok"][0][2] is None and results["jump to non-jumpdest"][0][2]
    assert "invalid instruction" in results["jump into push data"][0][2] and results["deep stack"][0][2]
    assert results["jumpi false (bytes)"][0][0][-1:] == b"\xaa"
