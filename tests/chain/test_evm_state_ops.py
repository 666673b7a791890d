"""evm_state_ops' SLOAD, SSTORE, KECCAK256, LOGn and RETURN give exactly py-evm's results: every
EIP-2200/3529 case (original, current and new value as zero, the same or another non-zero),
cold and warm slots (by an earlier access or the access list), a reverted write in a delegated
frame, the 2300-gas sentry and out-of-gas at every step around it, static calls, memory growth,
zero sizes at huge offsets, random programs; compared as output, gas, refund, logs and error
with the loop and with py-evm's stock interpreter, and as receipts and state of mined blocks."""

from __future__ import annotations

import random

from eth.db.account import AccountDB
from eth.vm.computation import BaseComputation
from eth_account import Account
from eth_utils import to_checksum_address

from imochain.chain import evm_state_ops, speedups

TARGET = b"\x00" * 19 + b"\xc0"
HELPER = b"\x00" * 19 + b"\xc1"  # code run by DELEGATECALL/STATICCALL from TARGET
KEY = Account.from_mnemonic("test test test test test test test test test test test junk",
                            account_path="m/44'/60'/0'/0/0").key
SENDER = bytes.fromhex(Account.from_key(KEY).address[2:])
SLOAD, SSTORE, GAS, POP, MSTORE, RETURN, REVERT, PUSH0 = 0x54, 0x55, 0x5A, 0x50, 0x52, 0xF3, 0xFD, 0x5F
SHA3, LOG0, STOP, MSIZE = 0x20, 0xA0, 0x00, 0x59
A, B, C = 7, 2**255 + 3, 0x1234  # non-zero values, all different


def push(value: int) -> bytes:
    return bytes([0x7F]) + value.to_bytes(32, "big")


def sstore(slot: int, value: int) -> bytes:
    return push(value) + push(slot) + bytes([SSTORE])


def sload(slot: int) -> bytes:
    return push(slot) + bytes([SLOAD])


def record(at: int) -> bytes:
    """The item on the stack into memory word `at`."""
    return push(32 * at) + bytes([MSTORE])


def returns(words: int) -> bytes:
    return push(32 * words) + bytes([PUSH0, RETURN])


def delegate(to: bytes, static: bool = False) -> bytes:
    """(DELEGATE|STATIC)CALL(gas, to, 0, 0, 0, 0), its success flag left on the stack."""
    return bytes([PUSH0] * 4) + push(int.from_bytes(to, "big")) + bytes([GAS, 0xFA if static else 0xF4])


def _both(evm_node, code: bytes, gas: int = 1_000_000, access: list | None = None, helper: bytes | None = None,
          storage: dict | None = None) -> tuple:
    """(stock py-evm's result, the loop's), each (output, gas used, refund, logs, error)."""
    evm_node.set_code(TARGET, code)
    if helper is not None:
        evm_node.set_code(HELPER, helper)
    for slot, value in (storage or {}).items():
        evm_node.set_storage_at(TARGET, slot, value)  # committed: the transaction's original value
    params = {"from": SENDER, "to": TARGET, "gas": gas}
    if access is not None:
        params["accessList"] = [{"address": TARGET, "storageKeys": list(access)}]
    out = []
    for enabled in (False, True):
        speedups.set_tx_speedups(enabled)
        r = evm_node.execute_call(params)
        comp = r.computation
        out.append((r.output, r.gas_used, comp.get_gas_refund(), comp.get_log_entries(), r.error))
    return tuple(out)


def _values(original: int) -> list[int]:
    return [0, A, B, C] if original else [0, A, B]


def test_every_sstore_case_matches_py_evm(evm_node):
    """original x current x new, each cold, warm by an SLOAD and warm by the access list."""
    cases = 0
    for slot_no, original in enumerate([0, A]):
        for current in _values(original):
            for new in _values(original):
                for warm in ("cold", "sload", "access list"):
                    slot = 1000 * slot_no + 17
                    code = sload(slot) + bytes([POP]) if warm == "sload" else b""
                    if current != original:
                        code += sstore(slot, current)
                    code += bytes([GAS]) + record(0) + sstore(slot, new) + bytes([GAS]) + record(1)
                    code += sload(slot) + record(2) + returns(3)
                    stock, fast = _both(evm_node, code, access=[slot] if warm == "access list" else None,
                                        storage={slot: original})
                    label = (original, current, new, warm)
                    assert stock == fast, label
                    assert stock[4] is None and int.from_bytes(stock[0][64:96], "big") == new, label
                    cases += 1
    assert cases == 3 * (3 * 3 + 4 * 4)


def test_a_reverted_write_and_a_kept_one_in_a_delegated_frame(evm_node):
    """The child's write is undone (and its refund dropped) or kept; the parent writes after it."""
    for original in (0, A):
        for reverts in (True, False):
            for new in _values(original):
                helper = sstore(5, C if original else A) + sstore(6, 0)
                helper += bytes([PUSH0, PUSH0, REVERT if reverts else RETURN])
                code = delegate(HELPER) + record(0) + sstore(5, new) + sload(5) + record(1) + returns(2)
                stock, fast = _both(evm_node, code, helper=helper, storage={5: original, 6: B})
                assert stock == fast, (original, reverts, new)
                assert int.from_bytes(stock[0][:32], "big") == (0 if reverts else 1)


def test_the_sentry_and_out_of_gas_around_each_charge(evm_node):
    """Gas left at SSTORE around the sentry and each of its two charges (cold and warm; set,
    reset, clear, no-op), and around SLOAD's cold and warm read: out of gas on one side, not
    on the other. Marks are gas after the intrinsic 21 000 (each PUSH32 costs 3, POP 2)."""
    warm = 3 + 2100 + 2  # SLOAD (cold) and POP first
    programs = {
        "set, cold": (sstore(3, A), {3: 0}, [6 + 2300, 6 + 20_000, 6 + 22_100]),
        "reset, cold": (sstore(3, B), {3: A}, [6 + 2300, 6 + 2_900, 6 + 5_000]),
        "clear, warm": (sload(3) + bytes([POP]) + sstore(3, 0), {3: A}, [warm + 6 + 2300, warm + 6 + 2_900]),
        "no-op, warm": (sload(3) + bytes([POP]) + sstore(3, A), {3: A}, [warm + 6 + 2300]),
        "sload cold": (sload(3) + bytes([POP]), {3: A}, [3 + 2100, 3 + 2100 + 2]),
        "sload warm": (sload(3) + sload(3) + bytes([POP, POP]), {3: A}, [3 + 2100 + 3 + 100]),
    }
    for name, (code, storage, marks) in programs.items():
        for mark in marks:
            outcomes = set()
            for delta in range(-2, 3):
                stock, fast = _both(evm_node, code, gas=21_000 + mark + delta, storage=storage)
                assert stock == fast, (name, mark, delta)
                error = stock[4]
                outcomes.add(error and ("sentry" if "below 2300 gas" in error else error.split(" - Remaining")[0]))
            assert len(outcomes) >= 2, (name, mark, outcomes)  # the edge is crossed (success or another error)


def test_static_calls_cannot_write(evm_node):
    for helper in (sstore(1, A), push(1) + push(0) + push(0) + bytes([LOG0 + 1]), sload(1) + record(0) + returns(1)):
        code = delegate(HELPER, static=True) + record(0) + bytes([0x3D, PUSH0, PUSH0, 0x3E]) + returns(1)
        stock, fast = _both(evm_node, code, helper=helper, storage={1: B})
        assert stock == fast


def test_keccak_log_and_return_edges_match_py_evm(evm_node):
    rng = random.Random(2)
    fill = b"".join(push(rng.getrandbits(256)) + push(32 * i) + bytes([MSTORE]) for i in range(4))
    spans = [(0, 0), (0, 1), (5, 31), (0, 32), (31, 33), (0, 128), (100, 60), (120, 200), (2**64, 0),
             (2**256 - 1, 0), (2**40, 1), (2**256 - 1, 1), (0, 2**32), (64, 4096)]
    compared = 0
    for start, size in spans:
        bodies = {
            "keccak": push(size) + push(start) + bytes([SHA3]) + record(0) + bytes([MSIZE]) + record(1),
            "return": push(size) + push(start) + bytes([RETURN]),
        }
        for topics in range(5):
            bodies[f"log{topics}"] = b"".join(push(rng.getrandbits(256)) for _ in range(topics)) \
                + push(size) + push(start) + bytes([LOG0 + topics, MSIZE]) + record(0)
        for name, body in bodies.items():
            code = fill + body + returns(2)
            for gas in (1_000_000, 21_000 + 1_500):
                stock, fast = _both(evm_node, code, gas=gas)
                assert stock == fast, (name, start, size, gas)
                compared += 1
    assert compared == len(spans) * 7 * 2


def test_random_programs_match_py_evm(evm_node):
    """SLOADs, SSTOREs, KECCAKs and LOGs over a few slots, at random gas limits (out of gas at
    random points), with the slots' originals set at random."""
    rng = random.Random(41)
    slots = [0, 1, 2, 2**256 - 1]
    for _ in range(40):
        code = b""
        for _ in range(rng.randint(3, 25)):
            kind = rng.random()
            slot = rng.choice(slots)
            if kind < 0.35:
                code += sstore(slot, rng.choice([0, 0, 1, A, B, rng.getrandbits(256)]))
            elif kind < 0.6:
                code += sload(slot) + record(rng.randrange(4))
            elif kind < 0.8:
                code += push(rng.choice([0, 1, 32, 64, 100])) + push(rng.randrange(128)) + bytes([SHA3]) \
                    + record(rng.randrange(4))
            else:
                n = rng.randrange(5)
                code += b"".join(push(rng.getrandbits(64)) for _ in range(n)) \
                    + push(rng.choice([0, 5, 64])) + push(rng.randrange(96)) + bytes([LOG0 + n])
        code += returns(4)
        storage = {s: rng.choice([0, 0, A, B]) for s in slots}
        gas = rng.choice([1_000_000, 21_000 + rng.randrange(2_000, 60_000)])
        stock, fast = _both(evm_node, code, gas=gas, storage=storage,
                            access=rng.sample(slots, rng.randrange(3)) if rng.random() < 0.3 else None)
        assert stock == fast, code.hex()


def test_the_ops_take_the_short_path(evm_node, monkeypatch):
    """With the loop, SLOAD/SSTORE never call AccountDB's storage methods, and KECCAK/LOG/RETURN
    never the computation's memory_read_bytes (py-evm's functions do: the counting is checked
    too), so the comparisons above test evm_state_ops, not py-evm twice."""
    used = []
    for owner, name in [(AccountDB, "get_storage"), (AccountDB, "set_storage"), (AccountDB, "is_storage_warm"),
                        (BaseComputation, "memory_read_bytes")]:
        original = getattr(owner, name)
        monkeypatch.setattr(owner, name, lambda *a, _o=original, _n=name, **k: used.append(_n) or _o(*a, **k))
    code = sstore(9, A) + sload(9) + bytes([POP]) + push(32) + push(0) + bytes([SHA3]) + push(1) + push(32) \
        + push(0) + bytes([LOG0 + 1]) + record(0) + returns(1)
    evm_node.set_code(TARGET, code)
    stock = {"get_storage", "set_storage", "is_storage_warm", "memory_read_bytes"}
    for enabled, expected in ((True, set()), (False, stock)):
        speedups.set_tx_speedups(enabled)
        used.clear()
        r = evm_node.execute_call({"from": SENDER, "to": TARGET, "gas": 1_000_000})
        assert r.error is None and set(used) == expected


def test_every_replaced_function_is_py_evms():
    from imochain.chain.forks.osaka.computation import OSAKA_OPCODES
    replaced = {op for op, fn in OSAKA_OPCODES.items() if getattr(fn, "logic_fn", None) in evm_state_ops.FAST}
    assert replaced == {SHA3, SLOAD, SSTORE, RETURN} | {LOG0 + n for n in range(5)}


def test_mined_transactions_match_py_evm(evm_node):
    """Automined transactions both ways from one snapshot: receipts (gas after the refund cap,
    status, logs) and the state after them are the same. Clearing ten slots earns more refund
    than the cap (a fifth of the gas used) allows."""
    clear_all = b"".join(sstore(s, 0) for s in range(10)) + push(0) + push(0) + bytes([LOG0])
    mixed = sstore(1, B) + sstore(1, A) + sstore(2, 0) + sstore(2, C) + sload(3) + bytes([POP]) + sstore(11, 5) \
        + b"".join(sstore(20 + i, v) for i, v in enumerate([1, 0x7F, 0x80, 0xFF, 0x100, 2**248, 2**256 - 1]))
    results = {}
    for enabled in (False, True):
        speedups.set_tx_speedups(enabled)
        snapshot = evm_node.snapshot()
        evm_node.set_code(TARGET, clear_all)
        for s in range(12):
            evm_node.set_storage_at(TARGET, s, A)
        nonce = evm_node.get_nonce(SENDER)
        receipts = []
        for i, code in enumerate([clear_all, mixed]):
            evm_node.set_code(TARGET, code)
            raw = Account.sign_transaction(dict(chainId=31337, nonce=nonce + i, gas=400_000, maxFeePerGas=10**10,
                                                maxPriorityFeePerGas=10**9, to=to_checksum_address(TARGET), type=2),
                                           KEY).raw_transaction
            r = evm_node.get_receipt(evm_node.send_raw_transaction(bytes(raw)))
            receipts.append((r.status, r.gas_used, [(log.address, log.topics, log.data) for log in r.logs]))
        coinbase = evm_node.get_block("latest").header.coinbase
        results[enabled] = (receipts, evm_node.get_balance(SENDER), evm_node.get_balance(coinbase),
                            [evm_node.get_storage(TARGET, s) for s in range(30)],
                            evm_node.get_account(TARGET)["storageRoot"])  # the words' RLP in the trie
        evm_node.revert(snapshot)
    assert results[False] == results[True]
    (status, gas_used, logs), _ = results[False][0]
    assert status == 1 and len(logs) == 1
    assert 21_000 + 50_000 > gas_used > 21_000 + 50_000 - 48_000  # the refund (10 x 4 800) was capped
