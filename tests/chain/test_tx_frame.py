"""tx_frame changes nothing but speed: random blocks of every transaction type the node takes
(0 to 4), with reverts, out-of-gas, refunds over the cap, creations, self-destructs, precompile
calls, value sent to new and empty accounts (EIP-161's sweep) and access lists, give stock
py-evm's blocks, receipts, logs, state and key-value store; and the short paths did run."""

from __future__ import annotations

import random

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from imochain.chain import speedups, tx_frame
from imochain.chain.accounts import create_address

from chain_support import with_stock_py_evm
from test_speed_equivalence import _assemble, _mine_all

KEYS = [Account.from_mnemonic("test test test test test test test test test test test junk",
                              account_path=f"m/44'/60'/0'/0/{i}").key for i in range(5)]
SENDERS = [Account.from_key(k).address for k in KEYS]
pytestmark = pytest.mark.filterwarnings("ignore:SELFDESTRUCT opcode present:DeprecationWarning")  # py-evm's, by design
AUTHORITY = 3  # signs set-code authorizations only, never sends
SPENDER = 4  # sends two transfers of most of its balance in one block: the second fails validation

# calldata: op (1 byte) | value (32). 0: store value in slots 0-2; 1: clear slots 0-2 (refunds
# over EIP-3529's cap); 2: SELFDESTRUCT to the caller; 3: CALL identity (0x04) and RIPEMD160
# (0x03); 4: REVERT; 5: INVALID (all gas)
RUNTIME = _assemble([
    bytes.fromhex("600035" "60f8" "1c"),  # op
    bytes.fromhex("80" "6001" "14"), ">clear", bytes.fromhex("57"),
    bytes.fromhex("80" "6002" "14"), ">destruct", bytes.fromhex("57"),
    bytes.fromhex("80" "6003" "14"), ">precompile", bytes.fromhex("57"),
    bytes.fromhex("80" "6004" "14"), ">revert", bytes.fromhex("57"),
    bytes.fromhex("80" "6005" "14"), ">invalid", bytes.fromhex("57"),
    bytes.fromhex("600135" "80" "600055" "80" "600155" "600255" "00"),  # SSTORE value in 0, 1, 2
    "@clear", bytes.fromhex("6000600055" "6000600155" "6000600255" "00"),
    "@destruct", bytes.fromhex("33" "ff"),
    "@precompile", bytes.fromhex("6020600060206000600060045af1" "50" "6020600060206000600060035af1" "00"),
    "@revert", bytes.fromhex("60006000fd"),
    "@invalid", bytes.fromhex("fe"),
])
INITCODE = (bytes([0x60, len(RUNTIME), 0x80, 0x60, 0x0C, 0x60, 0x00, 0x39, 0x60, 0x00, 0xF3]) + b"\x00"
            + RUNTIME)
PRECOMPILES = [to_checksum_address(bytes(19) + bytes([n])) for n in (1, 2, 3, 4)]


def _frame_blocks(seed: int, blocks: int) -> list[list[bytes]]:
    rng = random.Random(seed)
    nonces = [0] * len(KEYS)
    first = to_checksum_address(create_address(bytes.fromhex(SENDERS[0][2:]), 0))
    contracts = [first]
    out = [[bytes(Account.sign_transaction(dict(chainId=31337, nonce=0, gas=500_000, gasPrice=2 * 10**9,
                                                data=INITCODE), KEYS[0]).raw_transaction)]]
    nonces[0] = 1
    for _ in range(blocks):
        txs = []
        for _ in range(rng.choice([1, 1, 2, 4])):
            i = rng.randrange(AUTHORITY)
            kind = rng.choices(["call", "precompile", "pay", "create", "blob", "setcode"], [8, 2, 3, 1, 1, 1])[0]
            tx_type = rng.choice([0, 1, 2, 2])
            tx = dict(chainId=31337, nonce=nonces[i], gas=rng.choice([60_000, 200_000]), value=0, data=b"")
            if kind == "call":
                op = rng.choices(range(6), [5, 3, 1, 2, 1, 1])[0]
                tx.update(to=rng.choice(contracts), data=bytes([op]) + rng.choice([1, 2**255]).to_bytes(32, "big"),
                          value=rng.choice([0, 0, 10**9]))
            elif kind == "precompile":  # the account is touched and empty: the sweep deletes it
                data = rng.randbytes(rng.choice([0, 32, 64]))
                tx.update(to=rng.choice(PRECOMPILES), data=data, value=rng.choice([0, 1]),
                          gas=60_000 if data else rng.choice([21_100, 60_000]))  # 21 100: out of gas in the precompile
            elif kind == "pay":  # to a new account, with or without value (empty: swept)
                to = to_checksum_address(keccak(rng.randbytes(8))[12:])
                tx.update(to=rng.choice([to, to, SENDERS[rng.randrange(3)]]), value=rng.choice([0, 1, 10**18]),
                          gas=21_000)
            elif kind == "create":
                tx.update(data=INITCODE, gas=200_000, value=rng.choice([0, 10**15]))
                tx_type = rng.choice([0, 2])
                contracts.append(to_checksum_address(create_address(bytes.fromhex(SENDERS[i][2:]), nonces[i])))
            elif kind == "blob":
                tx.update(type=3, to=to_checksum_address(keccak(rng.randbytes(8))[12:]), value=1, gas=21_000,
                          maxFeePerGas=5 * 10**9, maxPriorityFeePerGas=10**9, maxFeePerBlobGas=10**10,
                          blobVersionedHashes=[b"\x01" + bytes([rng.randrange(256)]) * 31])
                tx_type = None
            else:  # EIP-7702: the authority delegates to a contract; the call runs its code
                auth = Account.sign_authorization({"chainId": 31337, "address": rng.choice(contracts),
                                                   "nonce": nonces[AUTHORITY]}, KEYS[AUTHORITY])
                nonces[AUTHORITY] += 1
                tx.update(type=4, to=SENDERS[AUTHORITY], data=bytes([rng.choice([0, 3])]) + bytes(32),
                          maxFeePerGas=5 * 10**9, maxPriorityFeePerGas=10**9, accessList=[],
                          authorizationList=[auth], gas=200_000)
                tx_type = None
            if tx_type == 0:
                tx.update(gasPrice=2 * 10**9)
            elif tx_type is not None:
                tx.update(type=tx_type, maxFeePerGas=5 * 10**9, maxPriorityFeePerGas=rng.choice([0, 10**9]))
                if tx_type == 1:
                    tx.update(gasPrice=tx.pop("maxFeePerGas"), type=1)
                    tx.pop("maxPriorityFeePerGas")
                if "to" in tx and tx["gas"] >= 60_000 and rng.random() < 0.5:
                    tx["accessList"] = [{"address": tx["to"], "storageKeys": ["0x" + "00" * 32, "0x" + "00" * 31 + "01"]},
                                        {"address": PRECOMPILES[3], "storageKeys": []}]
            txs.append(bytes(Account.sign_transaction(tx, KEYS[i]).raw_transaction))
            nonces[i] += 1
        if len(out) == blocks // 2:  # each enters the pool against the head; the second cannot pay in the block
            txs += [bytes(Account.sign_transaction(dict(chainId=31337, nonce=n, gas=21_000, gasPrice=2 * 10**9,
                                                        to=SENDERS[0], value=9_000 * 10**18), KEYS[SPENDER]).raw_transaction)
                    for n in (0, 1)]
        out.append(txs)
    return out


@pytest.mark.parametrize("seed", [3, 4])
def test_random_blocks_identical_to_stock_py_evm(seed):
    blocks = _frame_blocks(seed, 30)
    was_installed = speedups.installed()
    stock = with_stock_py_evm(_mine_all, blocks)
    before = dict(tx_frame.taken)
    fast = _mine_all(blocks)
    ran = {step: tx_frame.taken[step] - before[step] for step in before}
    tx_frame.enabled = False  # the rest of the speed-ups, the frame py-evm's own
    try:
        frame_off = _mine_all(blocks)
    finally:
        tx_frame.enabled = True
    if not was_installed:
        speedups.uninstall()
    receipts = [r for block in stock["chain"] for r in block[5]]
    assert {s for s, _, _ in receipts} == {0, 1}, "failures and successes"
    assert all(ran.values()), f"each short path ran: {ran}"
    assert stock["chain"] == fast["chain"] == frame_off["chain"]
    assert stock["state"] == fast["state"] == frame_off["state"]
    assert stock["dump"] == fast["dump"] == frame_off["dump"]
    assert stock["store"] == fast["store"] == frame_off["store"]


def test_the_blocks_hold_every_case():
    """The random blocks above hold what the equivalence must cover (so it cannot pass vacuously)."""
    blocks = _frame_blocks(3, 30)
    from chain_support import mined
    with mined(blocks) as node:
        receipts = [r for n in range(1, node.block_number + 1) for r in node.block_receipts(n)]
        kinds = {r.type for r in receipts}
        swept = [a for a in PRECOMPILES if not node.states.state_at("latest").account_exists(bytes.fromhex(a[2:]))]
    assert kinds >= {0, 1, 2, 3, 4}, kinds
    assert any(r.contract_address for r in receipts) and any(r.status == 0 for r in receipts)
    assert swept, "a touched empty precompile account was swept"


def test_unusual_states_take_py_evm_s_path(evm_node):
    """The short path is only for py-evm's own state and account database, with nothing replaced on
    the instance and debug logging off; anything else gets None (py-evm's functions)."""
    from eth.db.account import AccountDB
    state = evm_node.states.state_at("latest")
    assert tx_frame._frame_db(state) is state._account_db
    state.get_balance = lambda address: 0  # e.g. a recording state's override
    assert tx_frame._frame_db(state) is None
    del state.get_balance
    tx_frame.enabled = False
    try:
        assert tx_frame._frame_db(state) is None
    finally:
        tx_frame.enabled = True
    plain_db = state._account_db
    state._account_db = type("LazyAccountDB", (AccountDB,), {})(plain_db._raw_store_db, plain_db.state_root)
    assert tx_frame._frame_db(state) is None  # a forked chain's lazy AccountDB is a subclass
    state._account_db = plain_db
    assert tx_frame._frame_db(state) is state._account_db


def test_debug_logging_takes_py_evm_s_path():
    """With py-evm's DEBUG2 logging on for the state, its own frame runs (and logs): the same blocks."""
    import logging
    from eth_utils.logging import ExtendedDebugLogger
    blocks = _frame_blocks(5, 4)
    plain = _mine_all(blocks)
    # show_debug2 is a cached_property, answered once per logger: set on the state classes' loggers
    loggers = [lg for name, lg in logging.root.manager.loggerDict.items()
               if name.startswith("eth.vm.state.") and isinstance(lg, ExtendedDebugLogger)]
    assert loggers
    before = dict(tx_frame.taken)
    for lg in loggers:
        lg.__dict__["show_debug2"] = True
    try:
        logged = _mine_all(blocks)
    finally:
        for lg in loggers:
            lg.__dict__.pop("show_debug2", None)
    assert tx_frame.taken == before
    assert plain["chain"] == logged["chain"] and plain["store"] == logged["store"]


def test_plain_field_check_agrees_with_py_evm_s_validate():
    """The short path skips a dynamic-fee transaction's validate() only when it would pass: for
    each field set to edge and bad values, "plain" implies validate() passes, and every value
    validate() refuses is not "plain"."""
    from eth_utils import ValidationError
    from imochain.chain.forks import vm_class
    builder = vm_class("bpo2").get_transaction_builder()
    raw = Account.sign_transaction(dict(type=2, chainId=31337, nonce=1, gas=50_000, maxFeePerGas=10**10,
                                        maxPriorityFeePerGas=10**9, to=SENDERS[1], value=5, data=b"\x01",
                                        accessList=[{"address": SENDERS[2], "storageKeys": ["0x" + "00" * 32]}]),
                                   KEYS[0]).raw_transaction
    tx = builder.decode(bytes(raw))
    assert tx_frame._plain_dynamic_fee_fields(tx)
    tx.validate()
    edges = [0, 1, 2**64 - 2, 2**64 - 1, 2**64, 255, 256, 2**256 - 1, 2**256, -1, True, "1", b"\x01"]
    cases = {name: edges for name in ("chain_id", "nonce", "max_priority_fee_per_gas", "max_fee_per_gas", "gas",
                                      "value", "y_parity", "r", "s")}
    cases.update(to=[b"", b"\x01" * 20, b"\x01" * 19, b"\x01" * 21, "0x" + "01" * 20, None],
                 data=[b"", b"\x00" * 40, bytearray(b"\x01"), "0x01", None],
                 access_list=[(), [], ((b"\x02" * 20, ()),), ((b"\x02" * 20, (1, 2**256)),), ((b"\x02" * 19, ()),),
                              ((b"\x02" * 20,),), ((b"\x02" * 20, (b"\x01",)),), ((b"\x02" * 20, "1"),), b"", None])
    seen = {True: 0, False: 0}
    for name, values in cases.items():
        for value in values:
            inner = tx._inner
            fields = dict(zip(inner._meta.field_names, (getattr(inner, n) for n in inner._meta.field_names)))
            fields[name] = value
            try:
                bent = type(tx)(tx.type_id, type(inner)(**fields))
            except Exception:  # pyrlp refuses it outright: nothing to check
                continue
            try:
                bent.validate()
                valid = True
            except ValidationError:
                valid = False
            plain = tx_frame._plain_dynamic_fee_fields(bent)
            assert not plain or valid, (name, value)
            seen[valid] += 1
            if not valid:
                assert not plain, (name, value)
    assert seen[True] > 10 and seen[False] > 10, seen


def _impersonated_and_calls() -> dict:
    """Impersonated sends (py-evm runs them as spoofed transactions) mined at fixed times, then
    eth_calls and gas estimates (spoofed, unsigned): everything they leave and answer."""
    from imochain.chain import Node, NodeConfig
    from chain_support import GENESIS_TIME
    whale, sink = b"\xbe" * 20, b"\x5e" * 20
    node = Node(NodeConfig(genesis_contracts=False, automine=False, genesis_timestamp=GENESIS_TIME))
    try:
        node.send_raw_transaction(_frame_blocks(6, 0)[0][0])  # the test contract, from dev account 0
        node.mine(1, timestamp=GENESIS_TIME + 1)
        contract = create_address(bytes.fromhex(SENDERS[0][2:]), 0)
        node.set_balance(whale, 10**20)
        node.impersonate(whale)
        node.send_transaction({"from": whale, "to": sink, "value": 10**18, "gas": 21_000})
        node.send_transaction({"from": whale, "to": contract, "data": b"\x00" + (7).to_bytes(32, "big"),
                               "gas": 200_000, "maxFeePerGas": 5 * 10**9, "maxPriorityFeePerGas": 10**9})
        node.mine(1, timestamp=GENESIS_TIME + 2)
        calls = [_answers(node, params) for params in (
            {"from": whale, "to": contract, "data": b"\x00" + (9).to_bytes(32, "big")},
            {"from": whale, "to": contract, "data": b"\x03", "value": 5},
            {"to": contract, "data": b"\x01", "gasPrice": 3 * 10**9},
            {"from": bytes.fromhex(SENDERS[1][2:]), "to": sink, "value": 1})]
        receipts = [(r.status, r.gas_used, r.sender) for r in node.block_receipts(2)]
        return {"receipts": receipts, "calls": calls, "head": node.head.hash, "store": dict(node.storage.store._data)}
    finally:
        node.close()


def _answers(node, params: dict) -> tuple:
    """A call's output and gas estimate, or the error each raised (its message)."""
    answers = []
    for ask in (node.call, node.estimate_gas):
        try:
            answers.append(ask(params))
        except Exception as exc:
            answers.append(f"{type(exc).__name__}: {exc}")
    return tuple(answers)


def test_impersonated_sends_and_calls_identical_to_stock_py_evm():
    was_installed = speedups.installed()
    stock = with_stock_py_evm(_impersonated_and_calls)
    before = dict(tx_frame.taken)
    fast = _impersonated_and_calls()
    if not was_installed:
        speedups.uninstall()
    assert [status for status, _, _ in stock["receipts"]] == [1, 1]
    assert tx_frame.taken["validate"] - before["validate"] >= 2 + 3  # the sends, and the calls
    assert any(type(a) is str for call in stock["calls"] for a in call), "a call that fails validation"
    assert stock == fast
