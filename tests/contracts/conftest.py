"""Fixtures for the genesis-contract tests: one in-process chain per session (its genesis runs the
plan in imochain.contracts.genesis), reverted to a snapshot after every test.

    w3         web3.py wired straight to the dispatcher (no HTTP), at a clean snapshot
    node       the imochain Node behind it
    accounts   the ten dev accounts (checksum addresses); accounts[9] is the oracle operator
"""

from __future__ import annotations

import pytest
from eth_utils import to_checksum_address

from imochain.contracts import GENESIS_ADDRESSES, abi
from imochain.contracts import genesis as G
from oracle_support import _compiled_test_consumer, tensor


@pytest.fixture(scope="session")
def _chain():
    from imochain.testing import in_process_web3

    w3, node = in_process_web3()
    return w3, node


@pytest.fixture
def w3(_chain):
    w3, node = _chain
    sid = node.snapshot()
    try:
        yield w3
    finally:
        node.revert(sid)


@pytest.fixture
def node(_chain, w3):
    return _chain[1]


@pytest.fixture(scope="session")
def accounts(_chain):
    return list(_chain[0].eth.accounts)


# ---------------------------------------------------------------- genesis contracts


@pytest.fixture
def oracle(w3):
    return w3.eth.contract(address=GENESIS_ADDRESSES["AIOracle"], abi=abi("AIOracle"))


@pytest.fixture
def opml(w3):
    return w3.eth.contract(address=GENESIS_ADDRESSES["OpML"], abi=abi("OpML"))


@pytest.fixture
def prompt(w3):
    return w3.eth.contract(address=GENESIS_ADDRESSES["Prompt"], abi=abi("Prompt"))


@pytest.fixture(scope="session")
def operator():
    return to_checksum_address(G.OPERATOR_ADDRESS)


@pytest.fixture(scope="session")
def owner():
    return to_checksum_address(G.OWNER_ADDRESS)


@pytest.fixture(scope="session")
def shipped_models(_chain):
    """(name, hash) of the models in the node's store, as genesis registered them."""
    node = _chain[1]
    listing = node.inference.list() if hasattr(node.inference, "list") else node.models.list()
    # The router also lists models served after genesis (test_opml_bisection's stepper, on this
    # same session chain): counted, they made test_oracle fail whenever that file ran first.
    later = {h for h in getattr(node.inference, "steppers", {}) if h not in getattr(node.inference, "int8_text", {})}
    return [(m["name"], bytes.fromhex(m["hash"][2:])) for m in listing if bytes.fromhex(m["hash"][2:]) not in later]


@pytest.fixture(scope="session")
def model_ids(shipped_models):
    return G.model_ids(shipped_models)


# ---------------------------------------------------------------- tensors and inference


@pytest.fixture(scope="session")
def digit_input():
    """A digits-classifier input: int8[64], a '1'-ish stroke (pixel*7 scale)."""
    px = bytearray(64)
    for row in range(8):
        px[row * 8 + 4] = 112
        px[row * 8 + 3] = 56
    return tensor(1, [64], bytes(px))


@pytest.fixture(scope="session")
def infer(_chain):
    """Run a model the way the 0xA1 precompile does: infer(model_hash, tensor) -> output bytes."""
    node = _chain[1]
    from imochain.models.tensor import encode_call

    def run(model_hash: bytes, input_tensor: bytes) -> bytes:
        return node.inference.execute(encode_call(model_hash, input_tensor))

    return run


@pytest.fixture
def consumer(w3, accounts):
    compiled, why = _compiled_test_consumer()
    if compiled is None:
        pytest.skip(f"test consumer needs the Solidity toolchain: {why}")
    return _deploy(w3, accounts[0], compiled[0], compiled[1])


@pytest.fixture
def ora_style_consumer(w3, accounts):
    """A consumer written like ORA's examples, compiled against this repo's IAIOracle."""
    compiled, why = _compiled_test_consumer()
    if compiled is None:
        pytest.skip(f"test consumer needs the Solidity toolchain: {why}")
    return _deploy(w3, accounts[0], compiled[2], compiled[3])


def _deploy(w3, sender, cabi, code):
    factory = w3.eth.contract(abi=cabi, bytecode=code)
    r = w3.eth.wait_for_transaction_receipt(
        factory.constructor(GENESIS_ADDRESSES["AIOracle"]).transact({"from": sender})
    )
    assert r.status == 1
    return w3.eth.contract(address=r.contractAddress, abi=cabi)


