"""The worker answers a block's requests in one `invokeCallbacks` transaction (issue 14); a result
whose consumer reverts is undone alone, then closed with feedbackError, and the rest stand."""

from __future__ import annotations

import numpy as np
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address

from web3.logs import DISCARD

from imochain.chain import NodeConfig
from imochain.contracts import GENESIS_ADDRESSES, abi, oracle_output
from imochain.contracts.genesis import MODEL_IDS
from imochain.oracle import start_services
from imochain.testing import in_process_web3

CLASSIFIER = MODEL_IDS["digits-classifier"]
ZERO = "0x" + "00" * 20
REVERTER = to_checksum_address("0x" + "5e" * 20)  # runtime code PUSH1 0 PUSH1 0 REVERT: every callback fails
INVOKE_MANY = function_signature_to_4byte_selector("invokeCallbacks(uint256[],bytes[])")


def _digit(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(-128, 128, 64, dtype=np.int8).tobytes()
    return encode(["uint8", "uint32[]", "bytes"], [1, [64], pixels])


def test_a_block_of_results_goes_out_in_one_transaction():
    w3, node = in_process_web3(NodeConfig(default_text_model=False))
    (worker,) = start_services(node, challenger=False)
    try:
        oracle = w3.eth.contract(address=GENESIS_ADDRESSES["AIOracle"], abi=abi("AIOracle"))
        rpc = w3.provider.make_request
        rpc("anvil_setCode", [REVERTER, "0x60006000fd"])
        rpc("evm_setAutomine", [False])
        user = w3.eth.accounts[1]
        fee = oracle.functions.estimateFee(CLASSIFIER, 0).call()
        first = oracle.functions.nextRequestId().call()
        inputs = [_digit(i) for i in range(8)]
        for data in inputs:
            oracle.functions.requestCallback(CLASSIFIER, data, ZERO, 0, b"").transact(
                {"from": user, "value": fee, "gas": 1_000_000})
        callback_fee = oracle.functions.estimateFee(CLASSIFIER, 100_000).call()
        oracle.functions.requestCallback(CLASSIFIER, inputs[0], REVERTER, 100_000, b"").transact(
            {"from": user, "value": callback_fee, "gas": 1_000_000})
        failing = first + len(inputs)

        read = []  # request ids whose recorded model hash the worker read from the oracle
        long_way = worker._model_hashes
        worker._model_hashes = lambda ids: read.extend(ids) or long_way(ids)
        node.mine()  # the requests; the worker answers right after
        # no model changed in that block: one getModel per model, no storage read per request
        # (test_oracle_attacks covers a model swapped in the requests' block)
        assert read == []
        answers = node.mine()[0]
        (tx,) = answers.transactions  # one transaction for the whole block
        receipt = w3.eth.get_transaction_receipt(tx.hash)
        assert receipt.status == 1 and bytes(w3.eth.get_transaction(tx.hash).input)[:4] == INVOKE_MANY
        answered = [e.args.requestId for e in oracle.events.AICallbackResult().process_receipt(receipt, errors=DISCARD)]
        failed = [e.args.requestId for e in oracle.events.FulfilmentFailed().process_receipt(receipt, errors=DISCARD)]
        assert answered == list(range(first, failing)) and failed == [failing]
        for i, data in enumerate(inputs):
            want = node.inference.execute(encode(["bytes32", "bytes"], [oracle.functions.getRequestModelHash(
                first + i).call(), data]))
            assert oracle_output(oracle, first + i) == want
            assert oracle.functions.getOutputHash(first + i).call() == keccak(want)
        assert oracle.functions.getRequestStatus(failing).call() == 1  # undone alone: still Pending

        node.mine()  # the worker closed it with feedbackError: Errored, its model fee refunded
        assert oracle.functions.getRequestStatus(failing).call() == 3
        assert oracle.functions.getRequestEscrow(failing).call() == 0
        record = worker.book.get(failing)
        assert record.state == "callback failed" and "error" in record.transactions
        assert all(worker.book.get(first + i).state == "answered" for i in range(len(inputs)))
    finally:
        worker.stop()
        node.close()
