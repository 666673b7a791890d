"""Round 7's shortcuts between a raw transaction and its stored block give py-evm's and pyrlp's
results: the signing message read off the raw bytes, Serializable (de)serialisation by a plan
per class, copies without the constructor; every transaction type mined with and without the
speed-ups gives the same blocks, receipts (their JSON too) and key-value store."""

from __future__ import annotations

import cProfile
import pstats

import pytest
import rlp
from eth._utils.transactions import extract_transaction_sender as stock_sender
from eth.db.chain import BlockDataKey
from eth.rlp.accounts import Account as EvmAccount
from eth.rlp.logs import Log
from eth.rlp.receipts import Receipt
from eth.vm.forks.prague.blocks import PragueBlockHeader
from eth_account import Account
from eth_keys import keys
from eth_utils import keccak, to_checksum_address
from rlp.sedes.serializable import BaseSerializable

from imochain.chain import rlp_plans, speedups, tx_speedups, validate
from imochain.chain.accounts import create_address
from imochain.chain.vm import make_chain_class
from imochain.rpc import format as fmt

from chain_support import mined, with_stock_py_evm

KEYS = [Account.from_mnemonic("test test test test test test test test test test test junk",
                              account_path=f"m/44'/60'/0'/0/{i}").key for i in range(2)]
SENDERS = [bytes.fromhex(Account.from_key(k).address[2:]) for k in KEYS]
# runtime: no calldata → REVERT; any calldata → LOG1(42; topic 7). Deployed by INITCODE.
RUNTIME = bytes.fromhex("36600957" "60006000fd" "5b" "602a600052" "6007" "60206000a1" "00")
INITCODE = bytes([0x60, len(RUNTIME), 0x80, 0x60, 0x0C, 0x60, 0x00, 0x39, 0x60, 0x00, 0xF3, 0x00]) + RUNTIME
CONTRACT = create_address(SENDERS[0], 0)
SINK = "0x000000000000000000000000000000000000dEaD"
FEES = dict(maxFeePerGas=10**11, maxPriorityFeePerGas=10**9)


def _sign(tx: dict, key=KEYS[0]) -> bytes:
    return bytes(Account.sign_transaction(tx, key).raw_transaction)


def _every_kind() -> dict[str, bytes]:
    """One raw transaction of each kind, in an order that mines (sender 0's nonces 0-5, sender 1's 0)."""
    to = to_checksum_address(CONTRACT)
    auth = Account.sign_authorization({"chainId": 31337, "address": to, "nonce": 1}, KEYS[1])
    return {
        "legacy EIP-155, creation": _sign(dict(chainId=31337, nonce=0, gas=200_000, gasPrice=2 * 10**9, data=INITCODE)),
        "legacy without chain id": _sign(dict(nonce=1, gas=21_000, gasPrice=2 * 10**9, to=SINK, value=5)),
        "access list (1), log": _sign(dict(type=1, chainId=31337, nonce=2, gas=60_000, gasPrice=2 * 10**9, to=to,
                                           data=b"\x01", accessList=[{"address": to, "storageKeys": ["0x" + "00" * 32]}])),
        "dynamic fee (2), revert": _sign(dict(type=2, chainId=31337, nonce=3, gas=60_000, to=to, **FEES)),
        "blob (3)": _sign(dict(type=3, chainId=31337, nonce=4, gas=21_000, to=SINK, value=1, maxFeePerBlobGas=10**10,
                               blobVersionedHashes=[b"\x01" + b"\x07" * 31], **FEES)),
        "set code (4), log": _sign(dict(type=4, chainId=31337, nonce=0, gas=100_000, to=Account.from_key(KEYS[1]).address,
                                        data=b"\x02", authorizationList=[auth], **FEES), KEYS[1]),
        "dynamic fee (2), creation": _sign(dict(type=2, chainId=31337, nonce=5, gas=200_000, data=INITCODE, **FEES)),
    }


KINDS = _every_kind()
BUILDER = make_chain_class(31337, {}).vm_configuration[-1][1].get_transaction_builder()


@pytest.mark.parametrize("kind", list(KINDS))
def test_signing_message_read_off_the_bytes_is_py_evms(kind):
    tx = validate.decode_raw(BUILDER, KINDS[kind])
    signed = getattr(tx, "_inner", tx)
    message = signed.__dict__.get(tx_speedups.SIGNING_MESSAGE)
    assert message is not None and message == signed.get_message_for_signing()
    assert tx_speedups.extract_transaction_sender(signed) == stock_sender(signed) == SENDERS[kind.startswith("set code")]


def test_chain_id_zero_and_odd_signatures_sign_what_py_evm_signs():
    """EIP-155 with chain id 0 (v 35/36: py-evm writes the id as one zero byte); a v that is
    neither 27/28 nor EIP-155 gets no copy (py-evm's path and its error)."""
    fields = dict(nonce=1, gas_price=1, gas=21_000, to=b"\x11" * 20, value=1, data=b"")
    message = rlp.encode([1, 1, 21_000, b"\x11" * 20, 1, b"", b"\x00", b"", b""])  # py-evm's EIP-155 form, id 0
    signature = keys.PrivateKey(KEYS[0]).sign_msg(message)
    signed = BUILDER.new_transaction(**fields, v=35 + signature.v, r=signature.r, s=signature.s)
    tx = validate.decode_raw(BUILDER, rlp.encode(signed))
    assert tx.__dict__[tx_speedups.SIGNING_MESSAGE] == tx.get_message_for_signing()
    assert tx_speedups.extract_transaction_sender(tx) == SENDERS[0]
    odd = validate.decode_raw(BUILDER, rlp.encode(signed.copy(v=30)))
    assert tx_speedups.SIGNING_MESSAGE not in odd.__dict__
    with pytest.raises(validate.TransactionRejected, match="invalid signature"):
        validate.check_signed(odd, 31337)


def _mine_every_kind() -> dict:
    raws = list(KINDS.values())
    with mined([raws[:4], [raws[4], raws[6]], [raws[5]]]) as node:
        receipts = [fmt.receipt(r) for n in (1, 2, 3) for r in node.block_receipts(n)]
        txs = [fmt.transaction(t) for n in (1, 2, 3) for t in node.get_block(n).transactions]
        blocks = [fmt.block(node.get_block(n), True) for n in (1, 2, 3)]
        return {"receipts": receipts, "txs": txs, "blocks": blocks, "store": dict(node.storage.store._data)}


def test_every_transaction_type_mined_alike_with_and_without_speedups():
    was_installed = speedups.installed()
    stock = with_stock_py_evm(_mine_every_kind)
    fast = _mine_every_kind()
    if not was_installed:
        speedups.uninstall()
    statuses = [r["status"] for r in stock["receipts"]]
    assert len(statuses) == len(KINDS) and "0x0" in statuses and statuses.count("0x1") == len(KINDS) - 1
    assert [r["type"] for r in stock["receipts"]] == ["0x0", "0x0", "0x1", "0x2", "0x3", "0x2", "0x4"]
    assert sum(len(r["logs"]) for r in stock["receipts"]) == 2 and stock["receipts"][0]["contractAddress"]
    assert stock["receipts"] == fast["receipts"]
    assert stock["txs"] == fast["txs"]
    assert stock["blocks"] == fast["blocks"]
    assert stock["store"] == fast["store"]


def _outcome(fn):
    try:
        value = fn()
    except Exception as exc:  # the kind and words of the error
        return "error", type(exc).__name__, str(exc)
    if isinstance(value, BaseSerializable):
        return "object", type(value).__name__, value.as_dict(), _outcome(lambda: rlp.encode(value))
    return "ok", value


def _header(**changes) -> PragueBlockHeader:
    fields = dict(difficulty=0, block_number=7, gas_limit=30_000_000, timestamp=1_700_000_000, gas_used=21_000,
                  bloom=(1 << 2047) | 5, coinbase=b"\x03" * 20, extra_data=b"imo", base_fee_per_gas=7,
                  parent_beacon_block_root=b"\x01" * 32, requests_hash=b"\x02" * 32, parent_hash=b"\x04" * 32)
    return PragueBlockHeader(**{**fields, **changes})


SERIAL_CASES = [
    lambda: rlp.encode(_header()), lambda: rlp.decode(rlp.encode(_header()), PragueBlockHeader),
    lambda: rlp.encode(_header(gas_used=-1)), lambda: rlp.encode(_header(gas_used=True)),
    lambda: rlp.encode(_header(bloom=1 << 2048)), lambda: rlp.encode(_header(bloom=-1)),
    lambda: rlp.encode(_header(coinbase=b"\x03" * 19)), lambda: rlp.encode(_header(coinbase=b"")),
    lambda: rlp.encode(_header(extra_data="text")), lambda: rlp.encode(_header(extra_data=bytearray(b"ab"))),
    lambda: rlp.encode(EvmAccount(3, 10**18)), lambda: rlp.decode(rlp.encode(EvmAccount(3, 10**18)), EvmAccount),
    lambda: rlp.encode(Receipt(b"\x01", 50_000, [Log(b"\x05" * 20, [7, 2**256 - 1], b"data")])),
    lambda: rlp.decode(rlp.encode(Receipt(b"\x01", 9, [Log(b"\x05" * 20, [7], b"")])), Receipt),
    lambda: rlp.encode(Receipt(b"", 1, [Log(b"\x05" * 20, [2**256], b"")])),
    lambda: rlp.encode(Receipt(b"", 1, [Log(b"\x05" * 20, (1, 2), b"")], bloom=0)),
    lambda: rlp.encode(Receipt(b"", 1, [[b"\x05" * 20, [], b""]], bloom=0)),
    lambda: rlp.encode(Log(b"\x05" * 21, [], b"")), lambda: rlp.encode(BlockDataKey(5, 0)),
    lambda: rlp.decode(rlp.encode([b"\x05", b""]), BlockDataKey),
    lambda: rlp.decode(rlp.encode([b"\x00\x05", b""]), BlockDataKey),
    lambda: rlp.decode(rlp.encode([b"\x05", b"", b""]), BlockDataKey),
    lambda: rlp.decode(rlp.encode([[b"\x05"], b""]), BlockDataKey),
    lambda: rlp.decode(rlp.encode([b"\x01", b"", b"\x00" * 255 + b"\x01", []]), Receipt),
    lambda: rlp.decode(rlp.encode([b"\x01", b"", b"\x01", []]), Receipt),
    lambda: rlp.decode(rlp.encode([b"\x01", b"", b"\x00" * 256, [[b"\x05" * 20, [b"\x07" * 31], b""]]]), Receipt),
    lambda: rlp.decode(rlp.encode([b"\x01", b"", b"\x00" * 256, [[b"\x05" * 19, [], b""]]]), Receipt),
    lambda: rlp.decode(rlp.encode([b"\x01", b"", b"\x00" * 256, [b"x"]]), Receipt),
    lambda: rlp.decode(rlp.encode([b"\x05"]), EvmAccount),
] + [lambda raw=raw: rlp.encode(getattr(BUILDER.decode(raw), "_inner", BUILDER.decode(raw))) for raw in KINDS.values()]


def _calls(fn) -> int:
    profile = cProfile.Profile()
    profile.enable()
    fn()
    profile.disable()
    return sum(v[1] for v in pstats.Stats(profile).stats.values())


def _with_plans(enabled: bool, fn):
    patched = BaseSerializable.__dict__["serialize"], BaseSerializable.__dict__["deserialize"]
    if not enabled:
        BaseSerializable.serialize = classmethod(rlp_plans._stock_serialize)
        BaseSerializable.deserialize = classmethod(rlp_plans._stock_deserialize)
    try:
        return fn()
    finally:
        BaseSerializable.serialize, BaseSerializable.deserialize = patched


def test_plans_serialise_as_pyrlp_does_with_its_errors():
    speedups.install()
    assert BaseSerializable.__dict__["serialize"].__func__ is rlp_plans._serialize
    planned = _with_plans(True, lambda: [_outcome(case) for case in SERIAL_CASES])
    stock = _with_plans(False, lambda: [_outcome(case) for case in SERIAL_CASES])
    assert planned == stock
    assert sum(1 for o in stock if o[0] == "error") >= 14, "the bad values do fail"
    # the plans are what runs: encoding a header (a fresh one: pyrlp keeps an object's encoding)
    # takes a fraction of pyrlp's calls
    fresh = [_header(), _header()]
    assert _with_plans(True, lambda: _calls(lambda: rlp.encode(fresh[0]))) * 2 < \
        _with_plans(False, lambda: _calls(lambda: rlp.encode(fresh[1])))


COPY_CASES = [
    lambda h, a: h.copy(gas_used=5, state_root=b"\x09" * 32), lambda h, a: h.copy(),
    lambda h, a: h.copy(timestamp=None), lambda h, a: h.copy(no_such_field=1), lambda h, a: h.copy(1),
    lambda h, a: h.copy(extra_data=[b"a"]), lambda h, a: a.copy(balance=1), lambda h, a: a.copy(nonce=-1),
    lambda h, a: h.copy(gas_used=7).copy(gas_limit=8),
    lambda h, a: Log(b"\x05" * 20, [7], b"").copy(data=b"x"),
    lambda h, a: Receipt(b"", 1, [Log(b"\x05" * 20, [7], b"")]).copy(gas_used=2),
]


def test_copies_without_the_constructor_are_pyrlps():
    speedups.install()
    header, account = _header(), EvmAccount(3, 10**18)
    fallback = rlp_plans.make_copy.__code__  # the patched copy is make_copy's; its fallback is the one before
    assert BaseSerializable.copy.__code__ is not fallback and BaseSerializable.copy.__code__.co_name == "copy"
    header.hash, account.copy(nonce=4)  # a cached hash and encoding must not carry over to a changed copy
    fast = [_outcome(lambda case=case: case(header, account)) for case in COPY_CASES]
    patched = BaseSerializable.copy
    BaseSerializable.copy = tx_speedups.make_fast_copy(tx_speedups._shareable)  # the copy it wraps
    try:
        before = [_outcome(lambda case=case: case(header, account)) for case in COPY_CASES]
        calls_before = _calls(lambda: header.copy(gas_used=5))
    finally:
        BaseSerializable.copy = patched
    assert fast == before
    assert sum("'error'" in str(o) for o in before) >= 4, "the bad copies do fail (when made, or when encoded)"
    changed = header.copy(gas_used=5)
    assert changed.hash == keccak(rlp.encode(changed)) != header.hash
    assert _calls(lambda: header.copy(gas_used=5)) * 2 < calls_before


def _stock_of(owner, name):
    return next(orig for o, n, orig in speedups._originals if o is owner and n == name)


def test_receipt_blooms_and_their_errors_as_eth_bloom_and_pyrlp_make_them():
    from eth_bloom import BloomFilter
    from eth_bloom.bloom import get_bloom_bits

    from imochain.chain import bloom_speedups

    speedups.install()
    assert Log.bloomables.fget is bloom_speedups._bloomables and BloomFilter.extend is bloom_speedups.extend
    logs = [[], [Log(b"\x05" * 20, [], b"")], [Log(b"\x05" * 20, [0, 7, 2**256 - 1], b"x"), Log(b"\x06" * 20, [1], b"")]]
    bad = [[Log(b"\x05" * 20, [2**256], b"")], [Log(b"\x05" * 20, [-1], b"")], [Log(b"\x05" * 20, ["7"], b"")]]

    def made():
        out = [_outcome(lambda entries=entries: Receipt(b"\x01", 1, entries).bloom) for entries in logs + bad]
        bloom = BloomFilter(1)
        out += [_outcome(lambda: bloom.extend([b"a", bytearray(b"b")])), bloom.value]
        return out

    fast = made()
    patched = [(owner, name, owner.__dict__[name]) for owner, name in
               ((BloomFilter, "add"), (BloomFilter, "extend"), (Log, "bloomables"))]
    for owner, name, _ in patched:
        setattr(owner, name, _stock_of(owner, name))
    try:
        stock = made()
    finally:
        for owner, name, value in patched:
            setattr(owner, name, value)
    assert fast == stock
    expected = 0
    for value in [b"\x05" * 20, b"\x06" * 20] + [t.to_bytes(32, "big") for t in (0, 7, 2**256 - 1, 1)]:
        for bit in get_bloom_bits(value):
            expected |= bit
    assert fast[2] == ("ok", expected)
    assert [o[0] for o in fast[3:7]] == ["error"] * 4 and fast[7] == 1 | bloom_speedups.bloom_bits(b"a")


def test_sender_recovered_once_and_kept_where_py_evm_keeps_it(monkeypatch):
    txs = [validate.decode_raw(BUILDER, raw) for raw in KINDS.values()]
    assert [validate.check_signed(tx, 31337) for tx in txs] == [SENDERS[k.startswith("set code")] for k in KINDS]
    for tx in txs:  # the property answers what was kept, without recovering again
        monkeypatch.setattr(type(tx), "get_sender", lambda self: pytest.fail("recovered twice"))
        assert tx.sender == validate.check_signed(tx, 31337)
        monkeypatch.undo()
    # without the shortcut the cached_property's own steps run (it asks whether get_sender is a coroutine)
    raw = KINDS["dynamic fee (2), revert"]
    fresh = [BUILDER.decode(raw) for _ in range(2)]
    monkeypatch.setattr(validate, "_sender", lambda tx: tx.sender)
    stock_calls = _calls(lambda: validate.check_signed(fresh[0], 31337))
    monkeypatch.undo()
    assert _calls(lambda: validate.check_signed(fresh[1], 31337)) < stock_calls - 5


def test_records_of_the_head_and_each_transaction_are_pyrlps():
    """The node's own records, encoded from their items directly, are the bytes pyrlp's sedes give."""
    from imochain.chain.storage import HEAD_KEY, tx_key
    with mined([list(KINDS.values())[:4]]) as node:
        store, head = node.storage.store, node.head
        assert store[HEAD_KEY] == rlp.encode([head.block_number, head.hash, node.storage.head_root],
                                              sedes=rlp.sedes.List([rlp.sedes.big_endian_int, rlp.sedes.binary,
                                                                    rlp.sedes.binary]))
        for i, tx in enumerate(node.get_block(1).transactions):
            assert store[tx_key(tx.hash)] == rlp.encode([head.hash, i], sedes=rlp.sedes.List(
                [rlp.sedes.binary, rlp.sedes.big_endian_int]))


def test_intrinsic_gas_worked_out_once_per_transaction(monkeypatch):
    speedups.install()
    for raw in KINDS.values():
        tx = BUILDER.decode(raw)
        expected = tx.get_intrinsic_gas()
        assert tx.intrinsic_gas == expected >= 21_000
        monkeypatch.setattr(type(tx), "get_intrinsic_gas", lambda self: pytest.fail("worked out again"))
        assert tx.intrinsic_gas == expected and tx.intrinsic_gas == expected
        monkeypatch.undo()


def _ready_by_sorting(pool, nonce_of) -> list:
    """The pool's order as it was worked out before (a stable sort of the senders' runs per
    transaction taken): the reference for the heap."""
    queues = []
    for sender, slot in pool._by_sender.items():
        nonce, run = nonce_of(sender), []
        while nonce in slot:
            run.append(slot[nonce])
            nonce += 1
        if run:
            queues.append(run)
    out = []
    while queues:
        queues.sort(key=lambda q: -q[0].priority_fee)
        out.append(queues[0].pop(0))
        queues = [q for q in queues if q]
    return out


@pytest.mark.parametrize("seed", range(6))
def test_pool_order_by_heap_is_the_sorted_order(seed):
    import random

    from imochain.chain.mempool import Mempool, PendingTx
    rng = random.Random(seed)
    pool = Mempool()
    senders = [bytes([i]) * 20 for i in range(rng.choice([1, 3, 12, 40]))]
    account_nonce = {s: rng.randrange(3) for s in senders}
    for i in range(len(senders) + rng.choice([5, 60, 300])):
        sender = senders[i] if i < len(senders) else rng.choice(senders)  # each sender at least once
        nonce = account_nonce[sender] + (rng.randrange(-1, 8) if i >= len(senders) else 0)  # gaps, stale ones
        if nonce < 0 or nonce in pool._by_sender.get(sender, {}):
            continue
        fee = rng.choice([1, 2, 2, 3, 7]) * 10**9  # many ties
        pool.add(PendingTx(None, i.to_bytes(32, "big"), sender, nonce, fee * 2, fee))
    order = pool.ready(account_nonce.__getitem__)
    assert [p.hash for p in order] == [p.hash for p in _ready_by_sorting(pool, account_nonce.__getitem__)]
    assert len(order) >= len(senders)


def test_pool_order_of_a_big_block_is_not_quadratic():
    from imochain.chain.mempool import Mempool, PendingTx
    pool = Mempool()
    senders = 400
    for i in range(senders):  # one transaction each: the sorted order sorted all senders per transaction
        pool.add(PendingTx(None, i.to_bytes(32, "big"), i.to_bytes(20, "big"), 0, 2 * 10**9, 10**9 + i % 3))
    assert len(pool.ready(lambda sender: 0)) == senders
    assert _calls(lambda: pool.ready(lambda sender: 0)) < 10 * senders
