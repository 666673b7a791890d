"""The node's worker and challenger under attack (issue 18): a model hash swapped after the
request, a batch-1 request carrying a whole batch, a callback that always reverts, and 64 wrong
results in one block, corrected under automine, interval mining and anvil_mine."""

import time

import numpy as np
import pytest
from eth_abi import encode
from eth_utils import keccak

from imochain.chain import NodeConfig
from imochain.oracle import start_services
from imochain.contracts import GENESIS_ADDRESSES, abi, oracle_output
from imochain.oracle.challenger import request_input
from imochain.contracts.genesis import MODEL_FEE, MODEL_IDS, OPERATOR_ADDRESS, RESULT_BOND
from imochain.testing import in_process_web3

CLASSIFIER = MODEL_IDS["digits-classifier"]
GENERATOR = MODEL_IDS["digits-generator"]
ZERO = "0x" + "00" * 20
WRONG_RESULTS = 64


def tensor(values, shape) -> bytes:
    return encode(["uint8", "uint32[]", "bytes"], [1, list(shape), np.asarray(values, dtype=np.int8).tobytes()])


def digit_input(seed: int) -> bytes:
    return tensor(np.random.default_rng(seed).integers(0, 16, 64) * 8, [64])


@pytest.fixture(scope="module")
def chain():
    # 64 fulfilments (~0.5 M gas each) only fit one block above the default 30 M gas limit
    w3, node = in_process_web3(NodeConfig(gas_limit=100_000_000))
    worker, challenger = start_services(node)
    c = {name: w3.eth.contract(address=GENESIS_ADDRESSES[name], abi=abi(name)) for name in ("AIOracle", "OpML")}
    yield w3, node, worker, challenger, c
    node.close()


@pytest.fixture
def fresh(chain):
    w3, node, worker, challenger, c = chain
    sid = node.snapshot()
    try:
        yield chain
    finally:
        worker.fault_rate = 0.0
        node.set_automine(True)
        node.revert(sid)


def rpc(w3, method, *params):
    out = w3.provider.make_request(method, list(params))
    assert "error" not in out, out
    return out.get("result")


def run(node, data: bytes, model_hash: bytes) -> bytes:
    return node.inference.execute(encode(["bytes32", "bytes"], [model_hash, data]))


def test_worker_serves_the_recorded_model_not_a_swapped_one(fresh):
    """Finding 1: register a free model, request, swap its hash in the same block: the worker
    answered with the new hash, the game re-ran the recorded one, and the honest operator lost
    RESULT_BOND per request."""
    w3, node, worker, challenger, c = fresh
    oracle, opml = c["AIOracle"], c["OpML"]
    griefer = w3.eth.accounts[5]
    classifier = oracle.functions.getModel(CLASSIFIER).call()[0]
    generator = oracle.functions.getModel(GENERATOR).call()[0]
    model_id = oracle.functions.registerModel(classifier, bytes(32), 0, griefer, 100).call({"from": griefer})
    oracle.functions.registerModel(classifier, bytes(32), 0, griefer, 100).transact({"from": griefer})
    stake = opml.functions.bondOf(OPERATOR_ADDRESS).call()
    data = digit_input(11)
    rpc(w3, "evm_setAutomine", False)
    oracle.functions.requestCallback(model_id, data, ZERO, 0, b"").transact({"from": griefer, "gas": 1_000_000})
    # the swap, after the request in the same block (lower tip): the request recorded the classifier
    oracle.functions.updateModel(model_id, generator, bytes(32), 0, griefer, 100, ZERO, False).transact(
        {"from": griefer, "gas": 1_000_000, "maxPriorityFeePerGas": 1, "maxFeePerGas": 10**11})
    rpc(w3, "evm_setAutomine", True)  # mines the pair; the worker answers in the next block
    rid = oracle.functions.nextRequestId().call() - 1
    assert oracle.functions.getRequestModelHash(rid).call() == classifier
    assert oracle.functions.getModel(model_id).call()[0] == generator
    assert oracle_output(oracle, rid) == run(node, data, classifier)
    assert challenger.checked[rid] is True and rid not in challenger.challenged
    assert opml.functions.bondOf(OPERATOR_ADDRESS).call() == stake


def test_a_batch_hidden_in_a_single_request_is_refused_and_refunded(fresh):
    """Finding 3: batchSize 1 with an int8[64, 64] input paid one fee for 64 inferences."""
    w3, node, worker, challenger, c = fresh
    oracle = c["AIOracle"]
    user = w3.eth.accounts[3]
    data = tensor(np.random.default_rng(3).integers(0, 100, (64, 64)), [64, 64])
    oracle.functions.requestBatchInference(1, CLASSIFIER, data, ZERO, 0, b"", 0, 0).transact(
        {"from": user, "value": MODEL_FEE})
    rid = oracle.functions.nextRequestId().call() - 1
    assert oracle.functions.getRequestStatus(rid).call() == 3  # Errored
    assert oracle_output(oracle, rid) == b""
    assert oracle.functions.refundCredit(user).call() == MODEL_FEE
    # an honest batch of 64 pays 64 fees and is served
    fee = oracle.functions.estimateFeeBatch(CLASSIFIER, 0, 64).call()
    oracle.functions.requestBatchInference(64, CLASSIFIER, data, ZERO, 0, b"", 0, 0).transact(
        {"from": user, "value": fee})
    assert oracle.functions.getRequestStatus(rid + 1).call() == 2  # Fulfilled


def test_a_failing_callback_is_reported_not_left_pending(fresh):
    """Finding 5: a callback that reverts kept the request Pending forever with its fee."""
    w3, node, worker, challenger, c = fresh
    oracle = c["AIOracle"]
    consumer = "0x" + "c0ffee" * 6 + "0000"
    rpc(w3, "anvil_setCode", consumer, "0x5f5ffd")  # PUSH0 PUSH0 REVERT: every call fails
    fee = oracle.functions.estimateFee(CLASSIFIER, 100_000).call()
    oracle.functions.requestCallback(CLASSIFIER, digit_input(12), w3.to_checksum_address(consumer), 100_000,
                                     b"").transact({"from": w3.eth.accounts[4], "value": fee})
    rid = oracle.functions.nextRequestId().call() - 1
    assert oracle.functions.getRequestStatus(rid).call() == 3  # Errored, by the worker's feedbackError
    assert oracle.functions.refundCredit(w3.eth.accounts[4]).call() == MODEL_FEE  # to the requester
    assert oracle.functions.getRequestEscrow(rid).call() == 0


def _wrong_block(w3, oracle, n: int) -> list[int]:
    """Sends n requests with automine off (they land in one block when mined); returns their ids."""
    rpc(w3, "evm_setAutomine", False)
    first = oracle.functions.nextRequestId().call()
    for i in range(n):
        oracle.functions.requestCallback(CLASSIFIER, digit_input(100 + i), ZERO, 0, b"").transact(
            {"from": w3.eth.accounts[1 + i % 4], "value": MODEL_FEE, "gas": 700_000})
    return list(range(first, first + n))


def _assert_all_corrected(w3, node, worker, c, ids):
    oracle, opml = c["AIOracle"], c["OpML"]
    fulfilled = {oracle.functions.getRequestFulfilledBlock(rid).call() for rid in ids}
    assert len(fulfilled) == 1, f"the wrong results span blocks {sorted(fulfilled)}"
    assert set(ids) <= {rid for rec in worker.records for rid in rec.faulty}
    classifier = oracle.functions.getModel(CLASSIFIER).call()[0]
    inputs = {digit_input(100 + i) for i in range(len(ids))}
    for rid in ids:
        assert opml.functions.gameStatus(rid).call() == 3, f"request #{rid} was not corrected"  # Corrected
        data = request_input(node, bytes.fromhex(oracle.address[2:]), rid)  # from its log
        assert data in inputs and oracle_output(oracle, rid) == run(node, data, classifier)
    # each correction slashed the operator's result bond
    settled = opml.events.ChallengeSettled().get_logs(from_block=min(fulfilled))
    assert sorted(e.args.requestId for e in settled if e.args.challengerWon) == ids
    assert all(e.args.payout == c["OpML"].functions.challengeBond().call() + RESULT_BOND for e in settled)


@pytest.mark.parametrize("mining", ["automine", "anvil_mine", "interval"])
def test_64_wrong_results_in_one_block_are_all_corrected(fresh, mining):
    """Finding 2: with one challenge per transaction and a 5-block window, 5 of 10 wrong results
    in one block became final under automine."""
    w3, node, worker, challenger, c = fresh
    worker.fault_rate = 1.0
    ids = _wrong_block(w3, c["AIOracle"], WRONG_RESULTS)
    if mining == "automine":
        rpc(w3, "evm_setAutomine", True)  # mines the requests; answers and challenges follow
    elif mining == "anvil_mine":
        rpc(w3, "anvil_mine", hex(10))
    else:
        rpc(w3, "evm_setIntervalMining", 1)
        deadline = time.monotonic() + 300  # a bound on a hung test, not a speed requirement
        opml = c["OpML"]
        while time.monotonic() < deadline and opml.functions.gameStatus(ids[-1]).call() != 3:
            time.sleep(0.5)
        rpc(w3, "evm_setIntervalMining", 0)
    _assert_all_corrected(w3, node, worker, c, ids)
