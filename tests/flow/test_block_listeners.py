"""Node-side services see only the blocks that can concern them: a block whose logs bloom holds
none of their contracts skips them (no receipt read), unless they have work in flight."""

import numpy as np
import pytest
from eth_abi import encode

from imochain.chain import NodeConfig
from imochain.contracts import GENESIS_ADDRESSES, abi
from imochain.contracts.genesis import MODEL_IDS
from imochain.oracle import BlockService, start_services
from imochain.testing import in_process_web3

CLASSIFIER = MODEL_IDS["digits-classifier"]
SINK = "0x000000000000000000000000000000000000dEaD"


@pytest.fixture(scope="module")
def chain():
    w3, node = in_process_web3(NodeConfig())
    start_services(node)
    yield w3, node
    node.close()


@pytest.fixture
def seen(chain, monkeypatch):
    """Block numbers each service's on_block was called with, by class name."""
    _, node = chain
    calls: dict[str, list[int]] = {}
    for service in node.services:
        name = type(service).__name__

        def spy(info, real=service.on_block, name=name):
            calls.setdefault(name, []).append(info.number)
            real(info)
        monkeypatch.setattr(service, "on_block", spy)
    return calls


def test_every_service_is_skipped_on_a_block_without_its_logs(chain, seen):
    w3, node = chain
    names = {type(s).__name__ for s in node.services}
    assert {"OracleWorker", "Challenger", "BisectionOperator", "BisectionChallenger"} <= names
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": SINK, "value": 1})
    assert seen == {}


def test_an_oracle_request_still_reaches_the_worker_and_the_challenger(chain, seen):
    w3, node = chain
    prompt = w3.eth.contract(address=GENESIS_ADDRESSES["Prompt"], abi=abi("Prompt"))
    data = encode(["uint8", "uint32[]", "bytes"],
                  [1, [64], (np.random.default_rng(5).integers(0, 16, 64) * 8).astype(np.int8).tobytes()])
    fee = prompt.functions.estimateFee(CLASSIFIER).call()
    tx = prompt.functions.calculateAIResult(CLASSIFIER, data).transact({"from": w3.eth.accounts[1], "value": fee})
    request_block = w3.eth.get_transaction_receipt(tx).blockNumber
    answer_block = request_block + 1  # automine: the worker's callback
    assert w3.eth.block_number == answer_block
    assert seen["OracleWorker"] == [request_block, answer_block]  # the request; then its own transaction
    assert seen["Challenger"] == [answer_block]  # ResultSubmitted of the opML game
    model_hash = node.models.find("digits-classifier")
    assert prompt.functions.getAIResult(CLASSIFIER, data).call() == node.inference.execute(
        encode(["bytes32", "bytes"], [model_hash, data]))


class _Watcher(BlockService):
    def __init__(self, node, address: bytes):
        super().__init__(node)
        self.address = address
        self.pending = False
        self.blocks: list[int] = []

    def watched(self):
        return (self.address,)

    def busy(self) -> bool:
        return self.pending

    def on_block(self, info) -> None:
        self.blocks.append(info.number)


def test_a_busy_service_sees_every_block_and_one_without_addresses_sees_all(chain):
    w3, node = chain
    watcher = _Watcher(node, bytes.fromhex("11" * 20))
    everything = _Everything(node)
    try:
        node.mine()
        watcher.pending = True
        node.mine()
        watcher.pending = False
        node.mine()
        n = node.block_number
        assert watcher.blocks == [n - 1]
        assert everything.blocks == [n - 2, n - 1, n]
    finally:
        watcher.stop()
        everything.stop()


class _Everything(BlockService):
    def __init__(self, node):
        super().__init__(node)
        self.blocks: list[int] = []

    def on_block(self, info) -> None:
        self.blocks.append(info.number)
