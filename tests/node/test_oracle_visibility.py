"""Every oracle outcome is visible: imo_getRequest states and reasons, failed callbacks in
imo_oracleStatus, and log lines that say what happened (ORA-ABI-only consumer)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from eth_abi import encode

from imochain.chain import NodeConfig
from imochain.oracle import start_services
from imochain.contracts import GENESIS_ADDRESSES, abi
from imochain.contracts.genesis import MODEL_IDS
from imochain.testing import in_process_web3
from node_support import compile_sources

CONSUMER = r"""
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;
interface IOracle {
    function requestCallback(uint256, bytes calldata, address, uint64, bytes calldata) external payable returns (uint256);
}
/// Written against ORA's published consumer ABI only: no aiOracleCallbackError.
contract OraOnlyConsumer {
    address immutable oracle;
    uint256 public mode;  // 0 store the answer, 1 revert, 2 burn all gas
    uint256 public sink;
    bytes public last;
    constructor(address o) { oracle = o; }
    function ask(uint256 modelId, bytes calldata input, uint64 gasLimit, uint256 m) external payable {
        mode = m;
        IOracle(oracle).requestCallback{value: msg.value}(modelId, input, address(this), gasLimit, "");
    }
    function aiOracleCallback(uint256, bytes calldata output, bytes calldata) external {
        require(msg.sender == oracle, "only the oracle");
        if (mode == 1) revert("consumer refuses the answer");
        if (mode == 2) { for (uint256 i = 0; ; i++) { sink = i; } }
        last = output;
    }
}
"""
CLASSIFIER = MODEL_IDS["digits-classifier"]
GAS = 400_000


@pytest.fixture(scope="module")
def chain():
    consumer_artifact = compile_sources({"Consumer.sol": CONSUMER})["OraOnlyConsumer"]
    w3, node = in_process_web3(NodeConfig(challenge_window=2))
    start_services(node, max_tokens=40)
    factory = w3.eth.contract(abi=consumer_artifact["abi"], bytecode=consumer_artifact["bytecode"])
    tx = factory.constructor(GENESIS_ADDRESSES["AIOracle"]).transact({"from": w3.eth.accounts[0]})
    consumer = w3.eth.contract(address=w3.eth.get_transaction_receipt(tx).contractAddress,
                               abi=consumer_artifact["abi"])
    oracle = w3.eth.contract(address=GENESIS_ADDRESSES["AIOracle"], abi=abi("AIOracle"))
    return w3, node, consumer, oracle


def rpc(w3, method, params=None):
    resp = w3.provider.make_request(method, params or [])
    assert "error" not in resp, resp
    return resp["result"]


def ask(chain, data: bytes, mode: int) -> int:
    w3, node, consumer, oracle = chain
    fee = oracle.functions.estimateFee(CLASSIFIER, GAS).call()
    consumer.functions.ask(CLASSIFIER, data, GAS, mode).transact({"from": w3.eth.accounts[1], "value": fee})
    return oracle.functions.nextRequestId().call() - 1


def image() -> bytes:
    values = np.random.default_rng(3).integers(0, 100, 64).astype(np.int8)
    return encode(["uint8", "uint32[]", "bytes"], [1, [64], values.tobytes()])


def test_answered_then_finalized(chain):
    w3, node, consumer, oracle = chain
    request_id = ask(chain, image(), 0)
    record = rpc(w3, "imo_getRequest", [request_id])
    assert record["state"] == "answered" and record["reason"] is None, record
    assert record["model"] == "digits-classifier" and record["batchSize"] == 1 and record["micros"] > 0
    assert set(record["transactions"]) == {"request", "answer"}
    assert record["callbackContract"] == consumer.address and record["gasLimit"] == GAS
    assert consumer.functions.last().call() != b""
    rpc(w3, "anvil_mine", ["0x3"])  # past the challenge window
    assert rpc(w3, "imo_getRequest", [request_id])["state"] == "finalized"
    assert rpc(w3, "imo_getRequest", [10**9]) is None


def test_rejected_input_says_why_and_that_the_consumer_was_not_told(chain, caplog):
    w3, *_ = chain
    with caplog.at_level(logging.INFO, logger="imochain.oracle"):
        request_id = ask(chain, b"not a tensor", 0)
    record = rpc(w3, "imo_getRequest", [request_id])
    assert record["state"] == "rejected" and "aiOracleCallbackError" in record["reason"]
    assert set(record["transactions"]) == {"request", "error"}
    assert f"request #{request_id} REJECTED" in caplog.text
    assert any(r["requestId"] == request_id for r in rpc(w3, "imo_oracleStatus")["rejected"])


def test_reverting_callback_is_a_failed_callback_with_its_reason(chain, caplog):
    w3, *_ = chain
    with caplog.at_level(logging.INFO, logger="imochain.oracle"):
        request_id = ask(chain, image(), 1)
    record = rpc(w3, "imo_getRequest", [request_id])
    assert record["state"] == "callback failed"
    assert "consumer refuses the answer" in record["reason"]
    assert "consumer refuses the answer" in caplog.text
    assert request_id in [r["requestId"] for r in rpc(w3, "imo_oracleStatus")["failedCallbacks"]]


def test_callback_out_of_gas_is_listed_as_failed(chain):
    w3, *_ = chain
    request_id = ask(chain, image(), 2)
    record = rpc(w3, "imo_getRequest", [request_id])
    assert record["state"] == "callback failed" and f"ran out of its {GAS} gas" in record["reason"]
    status = rpc(w3, "imo_oracleStatus")
    assert request_id in [r["requestId"] for r in status["failedCallbacks"]]
    assert status["maxTextTokens"] == 40


def test_bad_request_ids(chain):
    w3, *_ = chain
    for bad in ("zz", -1, None):
        assert "error" in w3.provider.make_request("imo_getRequest", [bad])


def test_a_wrong_result_is_challenged_then_finalized(chain):
    w3, *_ = chain
    rpc(w3, "imo_setOracleFaults", [1.0])
    try:
        request_id = ask(chain, image()[:-1] + b"\x05", 0)
    finally:
        rpc(w3, "imo_setOracleFaults", [0.0])
    record = rpc(w3, "imo_getRequest", [request_id])
    # automine: the dispute is settled at once (the game re-runs the model on-chain)
    assert record["state"] in ("challenged", "finalized") and "challenge" in record["transactions"]
    assert "challenger" in record["reason"]
    rpc(w3, "anvil_mine", ["0x4"])
    assert rpc(w3, "imo_getRequest", [request_id])["state"] == "finalized"
