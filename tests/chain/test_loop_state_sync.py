"""Round 6 of the transaction's execution: evm_loop keeps the program counter and gas in locals
and writes them back before py-evm's functions run (PC, GAS, calls, memory growth, errors read
them); the transaction's last step skips py-evm's unread debug lines; AccountStorageDB's clear
count skips eth_utils' decorators. Each compared with stock py-evm."""

from __future__ import annotations

import random

import eth.vm.forks.frontier.state as frontier_state
import pytest
from eth_account import Account
from eth_utils import to_bytes, to_checksum_address, to_int

from imochain.chain import speedups, tx_speedups

TARGET = b"\x00" * 19 + b"\xc0"
KEY = Account.from_mnemonic("test test test test test test test test test test test junk",
                            account_path="m/44'/60'/0'/0/0").key
SENDER = bytes.fromhex(Account.from_key(KEY).address[2:])
PC, GAS, MSIZE, MSTORE, JUMPDEST, JUMP, JUMPI, PUSH0 = 0x58, 0x5A, 0x59, 0x52, 0x5B, 0x56, 0x57, 0x5F


def _both(evm_node, code: bytes, gas: int = 300_000) -> tuple:
    evm_node.set_code(TARGET, code)
    out = []
    for enabled in (False, True):
        speedups.set_tx_speedups(enabled)
        r = evm_node.execute_call({"from": SENDER, "to": TARGET, "gas": gas})
        out.append((r.output, r.gas_used, r.error, r.computation.get_gas_remaining()))
    return tuple(out)


def _record(i: int) -> bytes:
    return bytes([0x61]) + (32 * i).to_bytes(2, "big") + bytes([MSTORE])


def test_pc_and_gas_seen_by_py_evms_functions(evm_node):
    """PC and GAS (py-evm's functions) after runs of inline opcodes, pushes of every width,
    jumps, memory growth and a call to the identity precompile, each recorded in memory."""
    code = bytes([PC]) + _record(0) + bytes([0x60, 1, 0x61, 0, 2, 0x01, GAS]) + _record(1)
    code += bytes([0x7F]) + bytes(range(32)) + bytes([0x50, PC]) + _record(2)
    code += bytes([0x60, 0, 0x51, 0x50, 0x62, 1, 0, 0, 0x51, 0x50, GAS]) + _record(3)  # MLOAD far: growth
    code += bytes([0x61, 1, 0, 0x60, 3, 0x0A, 0x50, GAS]) + _record(8)  # EXP: gas by the exponent's size
    here = len(code)
    code += bytes([0x60, here + 4, JUMP, 0xFE, JUMPDEST, PC, GAS]) + _record(4) + _record(5)
    # CALL(gas, 0x04, 0, 0, 64, 0x200, 32): the identity precompile, then the gas left after it
    code += bytes([0x60, 32, 0x61, 2, 0, 0x60, 64, PUSH0, PUSH0, 0x60, 4, GAS, 0xF1, GAS]) + _record(6) + _record(7)
    code += bytes([MSIZE, PUSH0, 0xF3])
    stock, fast = _both(evm_node, code)
    assert stock == fast and stock[2] is None
    assert int.from_bytes(stock[0][64:96], "big") == 50  # the PC after the PUSH32 and POP
    assert stock[0][0x200:0x220] == stock[0][:32]  # the precompile's copy


def test_errors_leave_py_evms_gas_and_counter(evm_node):
    """An inline charge that does not fit, a jump to a non-JUMPDEST and into PUSH data, memory
    growth no gas can pay, each after some gas is spent: the same error and gas with both."""
    spend = bytes([0x60, 1, 0x60, 2, 0x01, 0x50]) * 5
    codes = {
        "out of gas inline": spend + bytes([0x60, 1]) * 200,
        "jump to a non-JUMPDEST": spend + bytes([0x60, 3, JUMP]),
        "jump into PUSH data": spend + bytes([0x60, len(spend) + 4, JUMP, 0x60, JUMPDEST]),
        "jumpi taken badly": spend + bytes([0x60, 1, 0x60, 0, JUMPI]),
        "memory no gas can pay": spend + bytes([0x63, 0xFF, 0, 0, 0, 0x51]),
    }
    for name, code in codes.items():
        for gas in (21_000 + 40, 21_000 + 100, 300_000):
            stock, fast = _both(evm_node, code, gas)
            assert stock == fast, (name, gas)
            assert stock[2] is not None or gas == 300_000, name


def test_random_programs_with_pc_gas_and_jumps(evm_node):
    rng = random.Random(606)
    for _ in range(30):
        code = b""
        for _ in range(rng.randint(5, 60)):
            r = rng.random()
            if r < 0.4:
                width = rng.randint(1, 32)
                code += bytes([0x5F + width]) + rng.randbytes(width)
            elif r < 0.6:
                code += bytes([rng.choice([PC, GAS, MSIZE])])
            elif r < 0.8:
                code += bytes([rng.choice([0x01, 0x03, 0x0A, 0x10, 0x16, 0x50, 0x80, 0x90])])
            else:
                target = len(code) + 4
                code += bytes([0x60, target % 256, rng.choice([JUMP, JUMPI]), 0x00, JUMPDEST])
        code += bytes([MSIZE, PUSH0, 0xF3])
        stock, fast = _both(evm_node, code, gas=rng.choice([300_000, 21_000 + rng.randrange(20, 400)]))
        assert stock == fast, code.hex()


def test_the_last_step_skips_the_unread_debug_lines(evm_node, monkeypatch):
    """A mined transfer formats no address in hex with the speed-ups (py-evm's finalize formats
    two: the count shows the stock path was measured too); its receipt and the balances match."""
    formatted = []
    monkeypatch.setattr(frontier_state, "encode_hex", lambda value: formatted.append(value) or "0x")
    results = {}
    for enabled in (False, True):
        speedups.set_tx_speedups(enabled)
        snapshot = evm_node.snapshot()
        formatted.clear()
        raw = Account.sign_transaction(dict(chainId=31337, nonce=evm_node.get_nonce(SENDER), gas=30_000, value=5,
                                            maxFeePerGas=10**10, maxPriorityFeePerGas=10**9, type=2,
                                            to=to_checksum_address(b"\x11" * 20)), KEY).raw_transaction
        r = evm_node.get_receipt(evm_node.send_raw_transaction(bytes(raw)))
        coinbase = evm_node.get_block("latest").header.coinbase
        results[enabled] = (r.status, r.gas_used, evm_node.get_balance(SENDER), evm_node.get_balance(coinbase),
                            len(formatted))
        evm_node.revert(snapshot)
    assert results[False][:4] == results[True][:4]
    assert results[False][4] == 2 and results[True][4] == 0


def test_storage_clear_count_conversions_are_eth_utils():
    for value in [0, 1, 255, 256, 2**64, 2**256 - 1]:
        assert tx_speedups._storage_to_bytes(value) == to_bytes(value)
    for data in [b"", b"\x00", b"\x01\x00", b"\xff" * 40]:
        assert tx_speedups._storage_to_int(data) == to_int(data)
    assert tx_speedups._storage_to_bytes(hexstr="0x0102") == to_bytes(hexstr="0x0102")
    assert tx_speedups._storage_to_int(True) == to_int(True)
    for bad in (-1, "text"):
        with pytest.raises(Exception) as stock:
            to_bytes(bad)
        with pytest.raises(type(stock.value)):
            tx_speedups._storage_to_bytes(bad)


def test_memory_growth_fees_match_py_evm(evm_node, monkeypatch):
    """MSTORE/MLOAD growing memory by one word up to thousands, from empty and from some, with gas
    one short of the fee, exact, and one over; with the loop, growth is priced without py-evm's
    extend_memory (the count shows the stock run priced it there)."""
    for first in (None, 64, 5000):
        for offset in (0, 1, 31, 32, 33, 100, 1000, 4096, 40_000):
            for op in (MSTORE, 0x51):
                prefix = b"" if first is None else bytes([0x60, 7, 0x61]) + first.to_bytes(2, "big") + bytes([MSTORE])
                body = (bytes([0x60, 9]) if op == MSTORE else b"") + bytes([0x62]) + offset.to_bytes(3, "big") + bytes([op])
                code = prefix + body + bytes([GAS, MSIZE]) + _record(0) + _record(1)
                code += bytes([0x61, 0, 64, PUSH0, 0xF3])
                full = _both(evm_node, code)
                assert full[0] == full[1] and full[0][2] is None
                grows = _both(evm_node, prefix + body)  # the growth is the last charge: the edge is its fee
                needed = 300_000 - grows[0][3]  # the intrinsic 21 000 included
                for gas in (needed - 1, needed, needed + 1):
                    stock, fast = _both(evm_node, prefix + body, gas=gas)
                    assert stock == fast, (first, offset, op, gas)
                    assert (stock[2] is None) == (gas >= needed)
    import eth.vm.computation as computation_module
    priced = []
    original = computation_module.memory_gas_cost
    monkeypatch.setattr(computation_module, "memory_gas_cost", lambda size: priced.append(size) or original(size))
    evm_node.set_code(TARGET, bytes([0x60, 9, 0x61, 0x10, 0, MSTORE, 0x61, 0x20, 0, 0x51, 0x60, 32, PUSH0, 0xF3]))
    for enabled, expect_stock in ((False, True), (True, False)):
        speedups.set_tx_speedups(enabled)
        priced.clear()
        r = evm_node.execute_call({"from": SENDER, "to": TARGET, "gas": 300_000})
        assert r.error is None and bool(priced) == expect_stock, enabled
