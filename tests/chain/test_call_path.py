"""eth_call's lean execution (no finalize_computation) answers exactly as py-evm's full
apply_transaction does: output, gas, refunds, errors, and the state it leaves behind."""

from __future__ import annotations

import pytest
from eth_utils import ValidationError

from imochain.builder import build_node
from imochain.chain import NodeConfig
from imochain.chain.calls import CallEnv, _apply_call

DEV = bytes.fromhex("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
POOR = b"\x77" * 20  # no ether
TRANSIENT = b"\x10" * 20  # returns TLOAD(0), then TSTORE(0, 1)
REVERTS = b"\x11" * 20  # REVERT with 32 bytes of data (0xaa)
STORES = b"\x12" * 20  # SSTORE(0, 1), then SSTORE(1, 0) over a set slot (a refund)
CODE = {
    TRANSIENT: bytes.fromhex("5f5c5f52" "60015f5d" "60205ff3"),
    REVERTS: bytes.fromhex("60aa5f52" "60205ffd"),
    STORES: bytes.fromhex("60015f55" "5f600155" "00"),
}
INIT = bytes.fromhex("6008600a5f39" "60085ff3" "602a5f5260205ff3")  # deploys an 8-byte body

CASES = [
    {"from": DEV, "to": TRANSIENT},
    {"from": DEV, "to": REVERTS},
    {"from": DEV, "to": STORES},
    {"from": DEV, "to": STORES, "gas": 30_000},  # out of gas
    {"from": DEV, "to": POOR, "value": 10**18},  # a plain transfer
    {"from": DEV, "data": INIT},  # a creation
    {"from": DEV, "to": STORES, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9},  # priced
    {"from": POOR, "to": STORES, "value": 1},  # cannot pay: a validation error
]


@pytest.fixture(scope="module")
def node():
    n = build_node(NodeConfig(genesis_contracts=False))
    for address, code in CODE.items():
        n.set_code(address, code)
    n.set_storage_at(STORES, 1, 5)
    yield n
    n.close()


def _outcome(env: CallEnv, params: dict, run) -> tuple:
    state = env.state
    gas = params.get("gas", env.header.gas_limit)
    tx = env.calls._unsigned(params, state, env.header, gas)
    snapshot = state.snapshot()
    try:
        comp = run(state, tx)
    except ValidationError as exc:
        return ("invalid", str(exc))
    finally:
        state.revert(snapshot)
    return (comp.output, comp.get_gas_remaining(), comp.get_gas_refund(), repr(comp.error) if comp.is_error else None,
            state.make_state_root())


@pytest.mark.parametrize("params", CASES)
def test_lean_call_matches_py_evm(node, params):
    env = CallEnv(node.calls, "latest", params, None, reusable=False)
    full = _outcome(env, params, lambda state, tx: state.apply_transaction(tx))
    lean = _outcome(env, params, _apply_call)
    assert lean == full
    assert (full[0] == "invalid") == (params["from"] == POOR)


def test_transient_storage_does_not_leak_between_calls(node):
    # the state is reused by the next call over the same head: it must not see the last TSTORE
    first = node.call({"from": DEV, "to": TRANSIENT})
    second = node.call({"from": DEV, "to": TRANSIENT})
    assert first == second == bytes(32)


def test_calls_give_what_mined_transactions_do(node):
    out = node.execute_call({"from": DEV, "to": STORES})
    assert not out.error and out.output == b""
    receipt = node.get_receipt(node.send_transaction({"from": DEV, "to": STORES, "gas": 100_000}))
    assert receipt.status == 1 and receipt.gas_used == out.gas_used
