"""eth_simulateV1 on the dev chain: overrides, several blocks, reverts, ERC-7528 transfer logs,
validation errors, bad input, and nothing kept afterwards. (The rpc-compat suite checks the
exact answers against geth's, on Ethereum's fixture chain: tests/compat.)"""

import pytest

from imochain.testing import in_process_web3

A = "0xc000000000000000000000000000000000000000"
B = "0xc100000000000000000000000000000000000000"


def _reverter(reason: bytes) -> str:
    """Runtime code that always reverts with Error(reason): the ABI encoding written to memory
    one 32-byte word at a time (PUSH32 w, PUSH1 offset, MSTORE), then REVERT(0, size)."""
    payload = bytes.fromhex("08c379a0") + (32).to_bytes(32, "big") + len(reason).to_bytes(32, "big") + \
        reason.ljust(32, b"\0")
    payload = payload.ljust(128, b"\0")
    code = b"".join(b"\x7f" + payload[i:i + 32] + b"\x60" + bytes([i]) + b"\x52" for i in range(0, 128, 32))
    return "0x" + (code + b"\x60\x64\x60\x00\xfd").hex()


REVERTER = _reverter(b"no")


@pytest.fixture(scope="module")
def chain():
    return in_process_web3()


def simulate(w3, payload, block="latest"):
    return w3.provider.make_request("eth_simulateV1", [payload, block])


def test_transfers_over_two_blocks_with_overrides_leave_the_chain_unchanged(chain):
    w3, node = chain
    head = w3.eth.block_number
    reply = simulate(w3, {"blockStateCalls": [
        {"stateOverrides": {A: {"balance": "0x3e8"}}, "calls": [{"from": A, "to": B, "value": "0x3e8"}]},
        {"blockOverrides": {"number": hex(head + 5), "time": hex(w3.eth.get_block("latest").timestamp + 100)},
         "calls": [{"from": B, "to": A, "value": "0x1"}]}],
        "traceTransfers": True})["result"]
    assert [int(b["number"], 16) for b in reply] == [head + 1, head + 2, head + 3, head + 4, head + 5]
    first, last = reply[0], reply[-1]
    assert first["calls"][0]["status"] == "0x1" and first["calls"][0]["gasUsed"] == "0x5208"
    transfer = first["calls"][0]["logs"][0]
    assert transfer["address"].lower() == "0x" + "ee" * 20 and int(transfer["data"], 16) == 1000
    assert last["calls"][0]["status"] == "0x1" and last["parentHash"] == reply[-2]["hash"]
    assert w3.eth.block_number == head and w3.eth.get_balance(w3.to_checksum_address(A)) == 0


def test_a_revert_is_reported_per_call(chain):
    w3, _ = chain
    call = simulate(w3, {"blockStateCalls": [{"stateOverrides": {B: {"code": REVERTER}},
                                              "calls": [{"from": A, "to": B}]}]})["result"][0]["calls"][0]
    assert call["status"] == "0x0" and call["returnData"] == "0x"
    assert call["error"]["code"] == 3 and call["error"]["message"] == "execution reverted: no"


def test_validation_errors_have_their_codes(chain):
    w3, _ = chain
    poor = simulate(w3, {"blockStateCalls": [{"calls": [{"from": A, "to": B, "value": "0x1"}]}]})["error"]
    assert poor["code"] == -38014
    nonce = simulate(w3, {"blockStateCalls": [{"calls": [{"from": w3.eth.accounts[0], "to": B, "nonce": "0x63"}]}],
                          "validation": True})["error"]
    assert nonce["code"] in (-38010, -38011)
    order = simulate(w3, {"blockStateCalls": [{"blockOverrides": {"number": hex(w3.eth.block_number)}}]})["error"]
    assert order["code"] == -38020


@pytest.mark.parametrize("payload, words", [
    ("nope", "blockStateCalls"),
    ({"blockStateCalls": "x"}, "blockStateCalls"),
    ({"blockStateCalls": [{"calls": "x"}]}, "calls"),
    ({"blockStateCalls": [{"blockOverrides": {"time": "soon"}}]}, "blockOverrides.time"),
    ({"blockStateCalls": [{"stateOverrides": {"0x12": {}}}]}, "address"),
    ({"blockStateCalls": [{}] * 300}, "too many blocks"),
])
def test_bad_input_is_refused_clearly(chain, payload, words):
    w3, _ = chain
    err = simulate(w3, payload)["error"]
    assert words in err["message"] and err["code"] in (-32602, -38026), err

