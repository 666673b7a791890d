"""trie_batch's one-pass sets leave py-trie's roots, reference counts and store, and py-evm's
state roots, blocks and whole key-value store, exactly as stock per-key sets do; a missing
node raises py-trie's and py-evm's own errors."""

from __future__ import annotations

import random

import pytest
import rlp
from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from eth.db.batch import BatchDB
from eth.db.storage import AccountStorageDB
from eth.rlp.accounts import Account as StateAccount
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from trie import HexaryTrie
from trie.constants import BLANK_NODE_HASH
from trie.exceptions import MissingTrieNode

from imochain.chain import speedups, trie_batch
from imochain.chain.accounts import create_address

from chain_support import mined

pytestmark = pytest.mark.filterwarnings("ignore:SELFDESTRUCT opcode:DeprecationWarning")  # py-evm's, on purpose


@pytest.fixture
def stock_and_fast():
    """(run stock, run fast): each calls fn() with the libraries in that state; the speed-ups'
    state before the test comes back after it."""
    was_installed = speedups.installed()

    def stock(fn):
        speedups.uninstall()
        try:
            return fn()
        finally:
            speedups.install()

    def fast(fn):
        speedups.install()
        return fn()

    yield stock, fast
    (speedups.install if was_installed else speedups.uninstall)()


# --- one trie: set_many against py-trie's per-key sets ------------------------------------

def _keys(rng: random.Random, count: int) -> list[bytes]:
    """32-byte keys, some sharing long prefixes (extensions, deep branches, small leaves)."""
    out = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.6 or not out:
            out.append(rng.randbytes(32))
        else:  # a neighbour of a key already made: shares 1 to 31 bytes, maybe a half byte more
            base = rng.choice(out)
            cut = rng.randrange(1, 32)
            key = bytearray(base[:cut] + rng.randbytes(32 - cut))
            if rng.random() < 0.5:
                key[cut] = (base[cut] & 0xF0) | (key[cut] & 0x0F)
            out.append(bytes(key))
    return list(dict.fromkeys(out))


def _value(rng: random.Random) -> bytes:
    return rng.choice([b"\x01", rng.randbytes(rng.randrange(1, 4)), rng.randbytes(rng.randrange(20, 90))])


def _store_after(rounds: list[dict], base: dict, start_root: bytes, batched: bool):
    """py-evm's shape (a pruning trie over a read-through BatchDB over the store), each round's
    items set (one pass, or key by key); then the batch committed as py-evm does."""
    raw = MemoryDB(dict(base))
    batch = BatchDB(raw, read_through_deletes=True)
    trie = HexaryTrie(batch, start_root, prune=True)
    for items in rounds:
        if batched:
            assert trie_batch.set_many(trie, items)
        else:
            for key, value in items.items():
                trie.set(key, value)
    pending = batch.diff()
    result = (trie.root_hash, dict(trie.ref_count), dict(pending.pending_items()), set(pending.deleted_keys()))
    batch.commit_to(raw, apply_deletes=False)
    return result, dict(raw.kv_store)


def _random_case(seed: int):
    """A committed random trie (maybe empty), then 1-3 rounds of sets: new keys, overwrites
    with new and with unchanged values."""
    rng = random.Random(seed)
    keys = _keys(rng, rng.choice([0, 1, 2, 5, 40, 300]))
    base = MemoryDB()
    trie = HexaryTrie(base)
    contents = {key: _value(rng) for key in keys}
    for key, value in contents.items():
        trie.set(key, value)
    fresh = _keys(rng, rng.choice([1, 2, 3, 8, 60]))
    rounds = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        items = {}
        for key in rng.sample(fresh, min(len(fresh), rng.randrange(1, 12))):
            items[key] = _value(rng)
        for key in rng.sample(keys, min(len(keys), rng.randrange(0, 6))):
            items[key] = contents[key] if rng.random() < 0.3 else _value(rng)
        rounds.append(items)
    return dict(base.kv_store), trie.root_hash, rounds


@pytest.mark.parametrize("seed", range(60))
def test_set_many_leaves_what_per_key_sets_leave(seed, stock_and_fast):
    stock, fast = stock_and_fast
    base, root, rounds = _random_case(seed)
    expected = stock(lambda: _store_after(rounds, base, root, batched=False))
    before = trie_batch.batches
    got = fast(lambda: _store_after(rounds, base, root, batched=True))
    assert trie_batch.batches == before + len(rounds)
    assert got[0][0] == expected[0][0], "root"
    assert got[0][1] == expected[0][1], "py-trie's reference counts"
    assert got[0][2] == expected[0][2], "nodes written"
    # py-trie also deletes the intermediate nodes of its sets, which the batch never made, and
    # the stored nodes it replaced, which a read-through BatchDB never shows nor commits
    assert got[0][3] <= expected[0][3], "nodes pruned"
    assert got[1] == expected[1], "the store after the commit"


@pytest.mark.parametrize("seed", range(8))
def test_a_store_without_batch_sees_the_same_deletes(seed, stock_and_fast):
    """A pruning trie straight on a store (no BatchDB in between) deletes the stored nodes it
    replaced: the batch does so too."""
    stock, fast = stock_and_fast
    base, root, rounds = _random_case(100 + seed)
    items = {key: value + b"!" for key, value in rounds[0].items()}  # every value changes

    def after(batched: bool):
        db = MemoryDB(dict(base))
        trie = HexaryTrie(db, root, prune=True)
        if batched:
            assert trie_batch.set_many(trie, items)
        else:
            for key, value in items.items():
                trie.set(key, value)
        return trie.root_hash, dict(trie.ref_count), dict(db.kv_store)

    expected = stock(lambda: after(False))
    assert fast(lambda: after(True)) == expected


def test_a_wrong_hash_is_caught(stock_and_fast, monkeypatch):
    """The comparison above fails when the batch hashes one node wrongly."""
    stock, fast = stock_and_fast
    base, root, rounds = _random_case(7)
    expected = stock(lambda: _store_after(rounds, base, root, batched=False))
    real = trie_batch.keccak
    wrong = []

    def off_by_one(data: bytes) -> bytes:
        if not wrong and len(data) > 40:
            wrong.append(data)
            return real(data + b"\x00")
        return real(data)

    monkeypatch.setattr(trie_batch, "keccak", off_by_one)
    got = fast(lambda: _store_after(rounds, base, root, batched=True))
    assert wrong and got != expected


def test_only_plain_sets_of_32_byte_keys_are_batched(stock_and_fast):
    _, fast = stock_and_fast

    def check():
        trie = HexaryTrie(MemoryDB(), prune=True)
        assert not trie_batch.set_many(trie, {b"short": b"x"})
        assert not trie_batch.set_many(trie, {bytes(32): b""})  # a delete
        assert not trie_batch.set_many(trie, {})
        assert trie.root_hash == BLANK_NODE_HASH
        assert trie_batch.set_many(trie, {bytes(32): b"x", b"\x01" * 32: b"y"})
        assert trie.get(b"\x01" * 32) == b"y"

    fast(check)


def test_a_malformed_node_leaves_the_trie(stock_and_fast):
    """A node py-trie would refuse, or one it would keep as stored (an odd encoding of a leaf's
    path): no batch, nothing written; py-trie's path then answers as it does."""
    _, fast = stock_and_fast

    def check():
        bad_flag, odd_leaf_path, short_leaf = [b"\x45\x00", b"v" * 40], [b"\x2f" + bytes(32), b"v"], [b"\x30\x00", b"v"]
        extension_to_a_leaf = [b"\x00" + bytes(31), [b"x"]]
        for node in (bad_flag, odd_leaf_path, short_leaf, extension_to_a_leaf):
            encoded = rlp.encode(node)
            db = MemoryDB({keccak(encoded): encoded})
            trie = HexaryTrie(db, keccak(encoded), prune=True)
            assert not trie_batch.set_many(trie, {bytes(32): b"v"})
            assert trie.root_hash == keccak(encoded) and len(db.kv_store) == 1

    fast(check)


def _trie_missing_a_node(rng: random.Random):
    """A stored trie of 50 keys with one inner node removed, and a key whose set needs it."""
    db = MemoryDB()
    trie = HexaryTrie(db)
    for key in _keys(rng, 50):
        trie.set(key, rng.randbytes(40))
    root_node = trie.get_node(trie.root_hash)
    nibble = next(i for i, child in enumerate(root_node[:16]) if len(child) == 32)
    del db.kv_store[root_node[nibble]]
    key = bytes([nibble << 4]) + rng.randbytes(31)
    return db, trie.root_hash, key, root_node[nibble]


def test_a_missing_node_leaves_the_trie_and_py_trie_raises(stock_and_fast):
    _, fast = stock_and_fast

    def check():
        db, root, key, missing = _trie_missing_a_node(random.Random(3))
        speedups._decoded.clear()  # the node must not be answered from the decoded-node cache
        before = dict(db.kv_store)
        trie = HexaryTrie(db, root, prune=True)
        assert not trie_batch.set_many(trie, {key: b"v", b"\xff" * 32: b"w"})
        assert trie.root_hash == root and dict(db.kv_store) == before and not trie.ref_count
        with pytest.raises(MissingTrieNode) as raised:
            trie.set(key, b"v")
        assert raised.value.missing_node_hash == missing

    fast(check)


def _storage_error(db_items: dict, root: bytes, slot: int):
    speedups._decoded.clear()
    store = AccountStorageDB(AtomicDB(MemoryDB(dict(db_items))), root, b"\x11" * 20)
    store.set(slot, 5)  # a plain write reads nothing: the trie is first walked at the root
    with pytest.raises(MissingTrieNode) as raised:
        store.make_storage_root()
    return type(raised.value), raised.value.args


def test_a_missing_storage_node_raises_py_evms_error(stock_and_fast):
    stock, fast = stock_and_fast
    db = MemoryDB()
    trie = HexaryTrie(db)
    slots = range(200)
    for slot in slots:
        trie.set(keccak(slot.to_bytes(32, "big")), rlp.encode(slot + 1))
    root_node = trie.get_node(trie.root_hash)
    del db.kv_store[root_node[3]]
    slot = next(s for s in range(1000, 5000) if keccak(s.to_bytes(32, "big"))[0] >> 4 == 3)
    expected = stock(lambda: _storage_error(db.kv_store, trie.root_hash, slot))
    before = trie_batch.batches
    assert fast(lambda: _storage_error(db.kv_store, trie.root_hash, slot)) == expected
    assert trie_batch.batches == before


def _account_error(db_items: dict, root: bytes, address: bytes):
    speedups._decoded.clear()
    state = AccountDB(AtomicDB(MemoryDB(dict(db_items))), root)
    # an account written without reading it first (as a stateless client does)
    state._journaltrie[address] = rlp.encode(StateAccount(nonce=1, balance=7))
    with pytest.raises(MissingTrieNode) as raised:
        state.make_state_root()
    return type(raised.value).__name__, raised.value.args


def test_a_missing_account_node_raises_py_evms_error(stock_and_fast):
    stock, fast = stock_and_fast
    db = MemoryDB()
    trie = HexaryTrie(db)
    for n in range(200):
        trie.set(keccak(n.to_bytes(20, "big")), rlp.encode(StateAccount(nonce=n)))
    root_node = trie.get_node(trie.root_hash)
    del db.kv_store[root_node[5]]
    address = next(a.to_bytes(20, "big") for a in range(1000, 5000) if keccak(a.to_bytes(20, "big"))[0] >> 4 == 5)
    expected = stock(lambda: _account_error(db.kv_store, trie.root_hash, address))
    assert expected[0] == "MissingAccountTrieNode"
    assert fast(lambda: _account_error(db.kv_store, trie.root_hash, address)) == expected


# --- random blocks: the whole chain and store against stock py-evm -------------------------

def _code(*parts) -> bytes:
    return b"".join(bytes.fromhex(p) if isinstance(p, str) else p for p in parts)


# calldata: (slot, value) pairs of 32 bytes each, stored in turn (value 0 clears the slot)
STORE_PAIRS = _code("6000", "5b", "368110", "15", "6018", "57", "8060200135", "8135", "55",
                    "604001", "6002", "56", "5b00")


def _initcode(runtime: bytes, slots: dict, then: bytes = b"") -> bytes:
    """Constructor: store `slots`, run `then` (e.g. SELFDESTRUCT), return `runtime`."""
    prefix = b"".join(b"\x7f" + v.to_bytes(32, "big") + b"\x61" + s.to_bytes(2, "big") + b"\x55"
                      for s, v in slots.items()) + then
    offset = len(prefix) + 13
    return prefix + _code("61", len(runtime).to_bytes(2, "big"), "80", "61", offset.to_bytes(2, "big"),
                          "600039", "6000f3") + runtime


def _random_state_blocks(seed: int, blocks: int) -> list[list[bytes]]:
    """Blocks of: many slots stored, overwritten (same and new values) and cleared; transfers to
    many new accounts; contracts created with storage; contracts that store and self-destruct
    in their constructor; calls that touch empty accounts (swept at the end of the transaction)."""
    rng = random.Random(seed)
    keys = [Account.from_mnemonic("test test test test test test test test test test test junk",
                                  account_path=f"m/44'/60'/0'/0/{i}").key for i in range(3)]
    senders = [Account.from_key(k).address for k in keys]
    nonces = [0] * len(keys)
    contracts: list[str] = []
    used: dict[str, list[int]] = {}
    out = []
    for _ in range(blocks):
        txs = []
        for _ in range(rng.choice([1, 2, 3, 6])):
            i = rng.randrange(len(keys))
            tx = dict(chainId=31337, nonce=nonces[i], gas=3_000_000, maxFeePerGas=5 * 10**9,
                      maxPriorityFeePerGas=10**9, type=2, value=0)
            kind = rng.random()
            if kind < 0.15 or not contracts:
                slots = {rng.randrange(50): rng.getrandbits(rng.choice([8, 256])) or 1 for _ in range(rng.randrange(4))}
                tx.update(data=_initcode(STORE_PAIRS, slots))
                address = to_checksum_address(create_address(bytes.fromhex(senders[i][2:]), nonces[i]))
                contracts.append(address)
                used[address] = list(slots)
            elif kind < 0.25:  # stores, then self-destructs while being created (EIP-6780: gone)
                slots = {s: s + 1 for s in range(rng.randrange(1, 4))}
                tx.update(data=_initcode(STORE_PAIRS, slots, then=_code("33ff")), value=rng.choice([0, 5]))
            elif kind < 0.45:
                to = to_checksum_address(keccak(rng.randbytes(8))[12:]) if rng.random() < 0.8 else rng.choice(senders)
                tx.update(to=to, value=rng.choice([0, 0, 1, 10**18]), gas=25_000)  # value 0: touched and swept
            else:
                to = rng.choice(contracts)
                pairs = []
                for _ in range(rng.choice([1, 2, 5, 20, 40])):
                    r = rng.random()
                    if (r < 0.3 or r > 0.85) and used[to]:  # overwritten, or cleared
                        slot = rng.choice(used[to])
                    else:
                        slot = rng.getrandbits(rng.choice([6, 256]))
                        used[to].append(slot)
                    value = 0 if r > 0.85 else rng.choice([1, 2, rng.getrandbits(256)])
                    pairs.append(slot.to_bytes(32, "big") + value.to_bytes(32, "big"))
                tx.update(to=to, data=b"".join(pairs))
            txs.append(bytes(Account.sign_transaction(tx, keys[i]).raw_transaction))
            nonces[i] += 1
        out.append(txs)
    return out


def _mine(blocks: list[list[bytes]]) -> dict:
    with mined(blocks) as node:
        headers = [node.get_block(n).header for n in range(node.block_number + 1)]
        statuses = [r.status for n in range(node.block_number + 1) for r in node.block_receipts(n)]
        return {"roots": [(h.state_root, h.hash) for h in headers], "statuses": statuses,
                "dump": node.states.dump(), "store": dict(node.storage.store._data)}


@pytest.mark.parametrize("seed", [1, 2])
def test_random_state_blocks_identical_to_stock(seed, stock_and_fast, monkeypatch):
    stock, fast = stock_and_fast
    blocks = _random_state_blocks(seed, 24)
    expected = stock(lambda: _mine(blocks))
    before, left_to_py_evm = trie_batch.batches, []
    per_key = trie_batch._stock_apply_account_diff
    monkeypatch.setattr(trie_batch, "_stock_apply_account_diff", lambda self, diff, trie: (
        left_to_py_evm.append((len(diff.deleted_keys()), len(diff.pending_items()))), per_key(self, diff, trie)))
    got = fast(lambda: _mine(blocks))
    assert trie_batch.batches > before + len(blocks), "the blocks went through the batch path"
    assert any(deletes for deletes, _ in left_to_py_evm), "accounts deleted (self-destructs, sweeps)"
    assert not any(sets for _, sets in left_to_py_evm), "their blocks' account sets batched all the same"
    assert len(expected["statuses"]) == sum(map(len, blocks)) and 1 in expected["statuses"]
    assert got["roots"] == expected["roots"]
    assert got["dump"] == expected["dump"]
    assert got["store"] == expected["store"]


def test_random_state_blocks_catch_a_wrong_hash(stock_and_fast, monkeypatch):
    """The comparison above fails when the batch hashes one node of one block wrongly."""
    stock, fast = stock_and_fast
    blocks = _random_state_blocks(3, 6)
    expected = stock(lambda: _mine(blocks))
    real, calls = trie_batch.keccak, []

    def wrong_once(data: bytes) -> bytes:
        calls.append(1)
        return real(data + b"\x00") if len(calls) == 40 else real(data)

    monkeypatch.setattr(trie_batch, "keccak", wrong_once)
    got = fast(lambda: _mine(blocks))
    assert len(calls) > 40
    assert got["roots"] != expected["roots"] and got["store"] != expected["store"]
