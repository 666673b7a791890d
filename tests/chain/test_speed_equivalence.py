"""The speed-ups change nothing but speed: random blocks mined with stock py-trie/pyrlp/py-evm
and again with the speed-ups give identical blocks, receipts, logs and state, read back at
every block (old roots too, which the trie-value layers answer)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from eth_abi import encode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address

from imochain.chain import speedups
from imochain.chain.accounts import create_address

from chain_support import mined, with_stock_py_evm
from imochain.contracts import load_artifact



def _assemble(ops: list) -> bytes:
    """Bytes and labels ("@name" marks a JUMPDEST, ">name" pushes its offset as PUSH1)."""
    offsets, size = {}, 0
    for op in ops:
        if isinstance(op, str) and op.startswith("@"):
            offsets[op[1:]] = size
            size += 1
        else:
            size += 2 if isinstance(op, str) else len(op)
    out = b""
    for op in ops:
        if isinstance(op, str):
            out += b"\x5b" if op.startswith("@") else bytes([0x60, offsets[op[1:]]])
        else:
            out += op
    return out


# calldata: op (1 byte) | slot (32) | value (32). op 0: SSTORE(slot, value) and LOG1(value; topic slot),
# op 1: REVERT, op 2: INVALID (all gas), op 3: store, then send 1 wei of the contract's balance
# to the caller (a balance change inside a call).
RUNTIME = _assemble([
    bytes.fromhex("600035" "60f8" "1c"),  # PUSH1 0 CALLDATALOAD PUSH1 0xf8 SHR -> op
    bytes.fromhex("80" "6001" "14"), ">revert", bytes.fromhex("57"),  # DUP1 PUSH1 1 EQ ... JUMPI
    bytes.fromhex("80" "6002" "14"), ">invalid", bytes.fromhex("57"),
    bytes.fromhex("6021" "35" "6001" "35" "55"),  # SSTORE(slot, value)
    bytes.fromhex("6020" "6021" "6000" "37"),  # CALLDATACOPY(0, 0x21, 0x20)
    bytes.fromhex("6001" "35" "6020" "6000" "a1"),  # LOG1(0, 0x20, slot)
    bytes.fromhex("6003" "14"), ">pay", bytes.fromhex("57" "00"),  # op == 3 ? pay : STOP
    "@pay", bytes.fromhex("6000" "6000" "6000" "6000" "6001" "33" "5a" "f1" "00"),  # CALL(gas, caller, 1)
    "@revert", bytes.fromhex("6000" "6000" "fd"),
    "@invalid", bytes.fromhex("fe"),
])
INITCODE = (bytes([0x60, len(RUNTIME), 0x80, 0x60, 0x0C, 0x60, 0x00, 0x39, 0x60, 0x00, 0xF3]) + b"\x00"
            + RUNTIME)  # CODECOPY(0, 12, n) RETURN(0, n), then one padding byte, then the runtime


def _random_blocks(seed: int, blocks: int) -> list[list[bytes]]:
    """Signed transactions, grouped into blocks: transfers (to new and known accounts),
    deploys, storage writes and clears, logs, reverts, out-of-gas, value sent from contracts."""
    rng = random.Random(seed)
    keys = [Account.from_mnemonic("test test test test test test test test test test test junk",
                                  account_path=f"m/44'/60'/0'/0/{i}").key for i in range(4)]
    senders = [Account.from_key(k).address for k in keys]
    nonces = [0] * len(keys)
    contracts: list[str] = []
    # an OpenZeppelin ERC-20 (the ERC-7641 token), its whole supply with the first sender
    token_args = encode(["string", "string", "uint256", "uint256", "uint256", "address"],
                        ["Eq", "EQ", 10**24, 80, 3600, senders[0]])
    token = to_checksum_address(create_address(bytes.fromhex(senders[0][2:]), 0))
    out = [[bytes(Account.sign_transaction(dict(
        chainId=31337, nonce=0, gas=6_000_000, gasPrice=2 * 10**9,
        data=bytes.fromhex(load_artifact("ERC7641")["bytecode"][2:]) + token_args), keys[0]).raw_transaction)]]
    nonces[0] = 1
    transfer = function_signature_to_4byte_selector("transfer(address,uint256)")
    for _ in range(blocks):
        txs = []
        for _ in range(rng.choice([1, 1, 2, 5])):
            i = rng.randrange(len(keys))
            kind = rng.random()
            tx = dict(chainId=31337, nonce=nonces[i], gas=300_000, value=0)
            if rng.random() < 0.25:
                tx.update(gasPrice=2 * 10**9)
            else:
                tx.update(type=2, maxFeePerGas=5 * 10**9, maxPriorityFeePerGas=rng.choice([0, 10**9]))
            if kind > 0.8:  # ERC-20 transfers: most from the holder, some reverting (no balance)
                i = 0 if rng.random() < 0.8 else i
                tx.update(nonce=nonces[i], to=token, gas=rng.choice([40_000, 100_000]),
                          data=transfer + encode(["address", "uint256"], [
                              rng.choice(senders + [to_checksum_address(keccak(rng.randbytes(8))[12:])]),
                              rng.choice([1, 10**18, rng.getrandbits(64)])]))
            elif kind < 0.25 or not contracts:
                if rng.random() < 0.4 or not contracts:
                    tx.update(data=INITCODE, value=rng.choice([0, 10**15]))
                    contracts.append(to_checksum_address(create_address(bytes.fromhex(senders[i][2:]), nonces[i])))
                else:
                    fresh = to_checksum_address(keccak(rng.randbytes(8))[12:])
                    tx.update(to=fresh if rng.random() < 0.5 else rng.choice(senders),
                              value=rng.randint(1, 10**18), gas=21_000)
            else:
                op = rng.choices([0, 1, 2, 3], [6, 1, 1, 2])[0]
                slot = rng.randrange(6)
                value = rng.choice([0, 1, rng.getrandbits(256)])
                tx.update(to=rng.choice(contracts), data=bytes([op]) + slot.to_bytes(32, "big")
                          + value.to_bytes(32, "big"), gas=rng.choice([60_000, 300_000]))
            txs.append(bytes(Account.sign_transaction(tx, keys[i]).raw_transaction))
            nonces[i] += 1
        out.append(txs)
    return out


def _mine_all(blocks: list[list[bytes]]) -> dict:
    with mined(blocks) as node:
        seen = set()
        chain = []
        token = node.get_receipt(keccak(blocks[0][0])).contract_address
        token_calls = [r.status for n in range(node.block_number + 1) for r in node.block_receipts(n) if r.to == token]
        for n in range(node.block_number + 1):
            info = node.get_block(n)
            receipts = node.block_receipts(n)
            seen.update(r.sender for r in receipts)
            seen.update(r.to or r.contract_address for r in receipts)
            chain.append((info.header.hash, info.header.state_root, info.header.receipt_root,
                          info.header.gas_used, node.raw_receipts(n),
                          [(r.status, r.gas_used, [(lg.address, lg.topics, lg.data) for lg in r.logs])
                           for r in receipts]))
        # every account and slot, read at every block: old roots after later writes
        state = [(n, a, node.get_balance(a, n), node.get_nonce(a, n), node.get_code(a, n),
                  [node.get_storage(a, s, n) for s in range(6)])
                 for n in range(0, node.block_number + 1, 3) for a in sorted(seen)]
        # the head's reader is the state the last block was built on: it reads what a fresh one does
        head = node.block_number
        for a in sorted(seen):
            assert (node.get_balance(a), node.get_nonce(a), node.get_code(a), node.get_storage(a, 1)) == \
                   (node.get_balance(a, head), node.get_nonce(a, head), node.get_code(a, head),
                    node.get_storage(a, 1, head))
        # and the store itself: every key and value py-evm and the node wrote (trie nodes,
        # headers, bodies, receipts, indexes)
        return {"chain": chain, "state": state, "dump": node.states.dump(),
                "store": dict(node.storage.store._data), "token_calls": token_calls}


@pytest.mark.parametrize("seed", [1, 2])
def test_random_blocks_identical_with_and_without_speedups(seed):
    blocks = _random_blocks(seed, 25)
    was_installed = speedups.installed()
    stock = with_stock_py_evm(_mine_all, blocks)
    fast = _mine_all(blocks)
    fast_again = _mine_all(blocks)  # with every cache warm from the run before
    if not was_installed:
        speedups.uninstall()
    statuses = [s for block in stock["chain"] for s, _, _ in block[5]]
    assert 0 in statuses and 1 in statuses, "the random blocks include failures and successes"
    assert any(logs for block in stock["chain"] for _, _, logs in block[5])
    assert stock["chain"] == fast["chain"] == fast_again["chain"]
    assert stock["state"] == fast["state"] == fast_again["state"]
    assert stock["dump"] == fast["dump"]
    assert stock["store"] == fast["store"] == fast_again["store"]
    assert 0 in stock["token_calls"] and 1 in stock["token_calls"], "ERC-20 transfers that pass and revert"


def test_uninstall_restores_the_libraries():
    import rlp.codec
    import trie.hexary
    from rlp.sedes import serializable
    from trie import HexaryTrie
    speedups.install()
    patched = (HexaryTrie.get, rlp.codec.encode_raw, serializable.BaseSerializable.copy)
    speedups.uninstall()
    try:
        assert HexaryTrie.get is not patched[0] and rlp.codec.encode_raw is not patched[1]
        assert serializable.BaseSerializable.copy is not patched[2]
        assert trie.hexary.encode_raw is rlp.codec.encode_raw
    finally:
        speedups.install()
    again = (HexaryTrie.get, rlp.codec.encode_raw, serializable.BaseSerializable.copy)
    assert [f.__module__ for f in again] == [f.__module__ for f in patched]
    assert all(f.__module__.startswith("imochain.chain.") for f in again)


STATE_TESTS = Path(__file__).resolve().parents[2].parent / "shared" / "osaka-state-tests"


@pytest.mark.skipif(not STATE_TESTS.is_dir(), reason=f"state-test fixtures not found at {STATE_TESTS}")
def test_osaka_state_tests_pass_with_the_speedups():
    """Ethereum's 1 230 Osaka state tests with every speed-up installed (tests/forks runs them
    on whatever its worker has installed; the node always runs with the speed-ups)."""
    from imochain.chain import tx_frame
    from imochain.chain.forks.statetest import cases, run_case
    was_installed = speedups.installed()
    speedups.install()
    before = dict(tx_frame.taken)
    try:
        results = [(name, run_case(test, fork, index, post, name)) for name, test, fork, index, post in cases(STATE_TESTS)]
    finally:
        if not was_installed:
            speedups.uninstall()
    assert len(results) == 1230
    assert all(tx_frame.taken[step] - before[step] > 500 for step in before), "most ran tx_frame's short paths"
    failures = [f"{name}: {r.detail}" for name, r in results if not r.passed]
    assert not failures, "\n".join(failures[:10])
