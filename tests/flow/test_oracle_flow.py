"""The node serves AI-oracle requests by itself: worker, batching, faults and the challenger."""

import numpy as np
import pytest
from eth_abi import encode
from eth_utils import keccak

from imochain.chain import Node, NodeConfig
from imochain.oracle import start_services
from imochain.contracts import GENESIS_ADDRESSES, abi, oracle_output
from imochain.oracle.challenger import request_input
from imochain.contracts.genesis import CHALLENGE_BOND, MODEL_IDS
from imochain.testing import in_process_web3

CLASSIFIER = MODEL_IDS["digits-classifier"]


def tensor(values, shape) -> bytes:
    return encode(["uint8", "uint32[]", "bytes"], [1, list(shape), np.asarray(values, dtype=np.int8).tobytes()])


def digit_input(seed: int) -> bytes:
    return tensor(np.random.default_rng(seed).integers(0, 16, 64) * 8, [64])


def make_chain(**service_args):
    w3, node = in_process_web3(NodeConfig(challenge_window=service_args.pop("window", 5)))
    services = start_services(node, **service_args)
    contracts = {name: w3.eth.contract(address=GENESIS_ADDRESSES[name], abi=abi(name))
                 for name in ("AIOracle", "OpML", "Prompt")}
    return w3, node, services, contracts


def expected_output(node: Node, model_id: int, data: bytes) -> bytes:
    model_hash = node.models.find("digits-classifier") if model_id == CLASSIFIER else None
    return node.inference.execute(encode(["bytes32", "bytes"], [model_hash, data]))


@pytest.fixture(scope="module")
def chain():
    return make_chain()


def test_round_trip_through_an_ora_style_consumer(chain):
    w3, node, (worker, _), c = chain
    prompt = c["Prompt"]
    data = digit_input(1)
    fee = prompt.functions.estimateFee(CLASSIFIER).call()
    tx = prompt.functions.calculateAIResult(CLASSIFIER, data).transact({"from": w3.eth.accounts[1], "value": fee})
    request_block = w3.eth.get_transaction_receipt(tx).blockNumber
    # automine: the callback is mined in the very next block
    assert w3.eth.block_number == request_block + 1
    assert prompt.functions.getAIResult(CLASSIFIER, data).call() == expected_output(node, CLASSIFIER, data)


@pytest.mark.parametrize("version", ["v1", "v2", "batch"])
def test_both_event_versions_and_batch_requests(chain, version):
    """Requests straight from an account, no callback contract: the result lives in the oracle."""
    w3, node, (worker, _), c = chain
    oracle = c["AIOracle"]
    account = w3.eth.accounts[2]
    zero = "0x" + "00" * 20
    if version == "batch":
        data = tensor(np.random.default_rng(9).integers(0, 100, (4, 64)), [4, 64])
        fee = oracle.functions.estimateFeeBatch(CLASSIFIER, 0, 4).call()
        fn = oracle.functions.requestBatchInference(4, CLASSIFIER, data, zero, 0, b"", 0, 0)
    else:
        data = digit_input(2 if version == "v1" else 3)
        fee = oracle.functions.estimateFee(CLASSIFIER, 0).call()
        fn = (oracle.functions.requestCallback(CLASSIFIER, data, zero, 0, b"") if version == "v1" else
              oracle.functions.requestCallback(CLASSIFIER, data, zero, 0, b"", 0, 0))
    receipt = w3.eth.wait_for_transaction_receipt(fn.transact({"from": account, "value": fee}))
    assert receipt.status == 1
    signature = ("AICallbackRequest(address,uint256,uint256,bytes,address,uint64,bytes)" if version == "v1" else
                 "AICallbackRequest(address,uint256,uint256,bytes,address,uint64,bytes,uint8,uint8,uint256)")
    assert [log.topics[0] for log in receipt.logs if log.address == oracle.address] == [keccak(text=signature)]
    request_id = oracle.functions.nextRequestId().call() - 1
    assert worker.records[-1].request_ids == [request_id]
    assert worker.records[-1].batch_size == (4 if version == "batch" else 1)
    assert oracle_output(oracle, request_id) == expected_output(node, CLASSIFIER, data)
    assert oracle.functions.isFinalized(request_id).call() is False  # optimistic until the window ends


def test_a_reverting_consumer_does_not_stop_the_worker(chain):
    w3, node, (worker, _), c = chain
    oracle, prompt = c["AIOracle"], c["Prompt"]
    gas_limit = prompt.functions.callbackGasLimit(CLASSIFIER).call()
    fee = oracle.functions.estimateFee(CLASSIFIER, gas_limit).call()
    # Prompt only accepts callbacks for requests it made itself: this delivery reverts
    oracle.functions.requestCallback(CLASSIFIER, digit_input(4), prompt.address, gas_limit, b"").transact(
        {"from": w3.eth.accounts[2], "value": fee})
    stuck = oracle.functions.nextRequestId().call() - 1
    assert oracle_output(oracle, stuck) == b""
    # the worker saw its fulfilment revert and closed the request, refunding the model fee
    assert oracle.functions.getRequestStatus(stuck).call() == 3  # Errored
    assert oracle.functions.getRequestEscrow(stuck).call() == 0
    data = digit_input(5)
    fee = prompt.functions.estimateFee(CLASSIFIER).call()
    prompt.functions.calculateAIResult(CLASSIFIER, data).transact({"from": w3.eth.accounts[1], "value": fee})
    assert prompt.functions.getAIResult(CLASSIFIER, data).call() == expected_output(node, CLASSIFIER, data)


def test_many_requests_in_one_block_make_one_forward_pass(chain):
    w3, node, (worker, _), c = chain
    prompt = c["Prompt"]
    fee = prompt.functions.estimateFee(CLASSIFIER).call()
    inputs = [digit_input(100 + i) for i in range(16)]
    w3.provider.make_request("evm_setAutomine", [False])
    for i, data in enumerate(inputs):
        prompt.functions.calculateAIResult(CLASSIFIER, data).transact(
            {"from": w3.eth.accounts[3], "value": fee, "gas": 2_000_000})
    passes_before = len(worker.records)
    w3.provider.make_request("evm_mine", [])
    w3.provider.make_request("evm_setAutomine", [True])
    new = worker.records[passes_before:]
    assert len(new) == 1 and new[0].batch_size == 16 and len(new[0].request_ids) == 16
    for data in inputs:  # batched outputs equal one-by-one execution
        assert prompt.functions.getAIResult(CLASSIFIER, data).call() == expected_output(node, CLASSIFIER, data)


def test_invalid_input_gets_feedback_error(chain):
    w3, node, (worker, _), c = chain
    oracle, prompt = c["AIOracle"], c["Prompt"]
    bad = tensor(np.zeros(63), [63])  # the classifier takes 64 values
    fee = prompt.functions.estimateFee(CLASSIFIER).call()
    prompt.functions.calculateAIResult(CLASSIFIER, bad).transact({"from": w3.eth.accounts[1], "value": fee})
    request_id = oracle.functions.nextRequestId().call() - 1
    # status 3 = Errored in the oracle's RequestStatus enum; the request is no longer pending
    assert oracle.functions.getRequestStatus(request_id).call() == 3
    assert not oracle.functions.isFinalized(request_id).call()
    assert prompt.functions.getAIResult(CLASSIFIER, bad).call() == b""


def _faulty_round(fault_rate: float, challenger: bool, n: int = 6):
    w3, node, services, c = make_chain(fault_rate=fault_rate, challenger=challenger, window=4)
    worker = services[0]
    prompt, oracle, opml = c["Prompt"], c["AIOracle"], c["OpML"]
    inputs = [digit_input(500 + i) for i in range(n)]
    for data in inputs:
        fee = prompt.functions.estimateFee(CLASSIFIER).call()
        prompt.functions.calculateAIResult(CLASSIFIER, data).transact({"from": w3.eth.accounts[4], "value": fee})
    w3.provider.make_request("anvil_mine", ["0x6"])  # past every challenge window
    faulty = [rid for rec in worker.records for rid in rec.faulty]
    return w3, node, services, c, inputs, faulty


def test_challenger_corrects_every_wrong_result():
    w3, node, (worker, challenger), c, inputs, faulty = _faulty_round(0.5, True)
    assert faulty, "the fault switch must have produced wrong results to catch"
    oracle, opml, prompt = c["AIOracle"], c["OpML"], c["Prompt"]
    for rid in faulty:
        assert rid in challenger.challenged
        data = request_input(node, bytes.fromhex(oracle.address[2:]), rid)  # from its log
        right = expected_output(node, CLASSIFIER, data)
        assert oracle.functions.isFinalized(rid).call()
        assert oracle_output(oracle, rid) == right
        assert prompt.functions.getAIResult(CLASSIFIER, data).call() == right  # the consumer got it once more
    for data in inputs:  # no consumer keeps a wrong final result
        assert prompt.functions.getAIResult(CLASSIFIER, data).call() == expected_output(node, CLASSIFIER, data)
    # the challenger was paid: its bond back plus the operator's slashed result bond
    events = opml.events.ChallengeSettled().get_logs(from_block=0)
    assert len(events) == len(faulty) and all(e.args.challengerWon for e in events)
    assert all(e.args.payout > CHALLENGE_BOND for e in events)


def test_without_challenger_wrong_results_finalize():
    w3, node, services, c, inputs, faulty = _faulty_round(0.5, False)
    assert faulty
    oracle, prompt = c["AIOracle"], c["Prompt"]
    for rid in faulty:
        data = request_input(node, bytes.fromhex(oracle.address[2:]), rid)  # from its log
        assert oracle.functions.isFinalized(rid).call()
        assert oracle_output(oracle, rid) != expected_output(node, CLASSIFIER, data)


def test_interval_mining_answers_in_the_next_block():
    w3, node = in_process_web3(NodeConfig(automine=False))
    start_services(node, challenger=False)
    prompt = w3.eth.contract(address=GENESIS_ADDRESSES["Prompt"], abi=abi("Prompt"))
    data = digit_input(7)
    fee = prompt.functions.estimateFee(CLASSIFIER).call()
    tx = prompt.functions.calculateAIResult(CLASSIFIER, data).transact(
        {"from": w3.eth.accounts[1], "value": fee, "gas": 2_000_000})
    node.mine()  # the block an interval miner would make
    request_block = w3.eth.get_transaction_receipt(tx).blockNumber
    assert prompt.functions.getAIResult(CLASSIFIER, data).call() == b""
    node.mine()  # the next one carries the callback
    assert w3.eth.block_number == request_block + 1
    assert prompt.functions.getAIResult(CLASSIFIER, data).call() == expected_output(node, CLASSIFIER, data)
