"""A send over RPC is answered before its automined block is built; whoever asks next waits for it.

The block's build is held at a gate here, so the order of events is visible without timing:
the sender must have its hash while the block is still closed, and a receipt or block-number
request sent then must wait and see the block, never a null receipt or the old head.
"""

from __future__ import annotations

import threading

from eth_account import Account

from imochain.builder import build_node
from imochain.chain import answer_first
from imochain.testing import rpc, running_node

from node_support import KEYS, node_config

SINK = "0x000000000000000000000000000000000000dEaD"
WAIT = 30  # seconds a step may take at most on a loaded machine (never reached when it works)


def transfer(nonce: int) -> str:
    tx = dict(chainId=31337, nonce=nonce, maxPriorityFeePerGas=10**9, maxFeePerGas=10**11, gas=21000,
              to=SINK, value=1, type=2)
    return "0x" + bytes(Account.sign_transaction(tx, KEYS[0]).raw_transaction).hex()


def gate_blocks(node) -> threading.Event:
    """Every block the miner builds waits until the returned event is set."""
    gate = threading.Event()
    build = node.miner._mine_one

    def gated(*args):
        assert gate.wait(WAIT), "the test never opened the gate"
        return build(*args)
    node.miner._mine_one = gated
    return gate


class Call(threading.Thread):
    """One JSON-RPC call on its own thread; `.answer` once it returns."""

    def __init__(self, url: str, method: str, params: list):
        super().__init__(daemon=True)
        self.args, self.answer = (url, method, params), None
        self.start()

    def run(self) -> None:
        self.answer = rpc(*self.args)


def test_send_is_answered_before_its_block_and_readers_wait_for_the_block():
    node = build_node(node_config())
    gate = gate_blocks(node)
    with running_node(node=node) as url:
        try:
            send = Call(url, "eth_sendRawTransaction", [transfer(0)])
            send.join(WAIT)
            assert not send.is_alive(), "the send waited for its block"
            tx_hash = send.answer["result"]
            assert node.block_in_progress and node.storage.head.block_number == 0
            receipt = Call(url, "eth_getTransactionReceipt", [tx_hash])
            number = Call(url, "eth_blockNumber", [])  # answered on the event loop when no block is due
            receipt.join(0.5)
            number.join(0.5)
            assert receipt.is_alive() and number.is_alive(), "a reader did not wait for the block"
        finally:
            gate.set()
        receipt.join(WAIT)
        number.join(WAIT)
        assert receipt.answer["result"]["status"] == "0x1"
        assert receipt.answer["result"]["blockNumber"] == "0x1"
        assert number.answer["result"] == "0x1"
        assert not node.block_in_progress
        # the lock taken at admission was given back: the node goes on as before
        assert rpc(url, "eth_getTransactionCount", [Account.from_key(KEYS[0]).address, "latest"])["result"] == "0x1"


def test_a_block_that_fails_after_the_answer_releases_the_node_and_keeps_the_transaction():
    node = build_node(node_config())
    build, failures = node.miner._mine_one, []

    def fail_once(*args):
        if not failures:
            failures.append(1)
            raise RuntimeError("simulated failure while building the block")
        return build(*args)
    node.miner._mine_one = fail_once
    with running_node(node=node) as url:
        first = rpc(url, "eth_sendRawTransaction", [transfer(0)])["result"]
        assert rpc(url, "eth_blockNumber", [])["result"] == "0x0"
        assert node.pending_count() == 1  # still in the pool, not lost
        second = rpc(url, "eth_sendRawTransaction", [transfer(1)])["result"]
        receipts = [rpc(url, "eth_getTransactionReceipt", [h])["result"] for h in (first, second)]
        assert [r["status"] for r in receipts] == ["0x1", "0x1"]
        assert receipts[0]["blockNumber"] == receipts[1]["blockNumber"] == "0x1"


def test_batches_and_in_process_sends_still_mine_before_answering():
    node = build_node(node_config())
    with running_node(node=node) as url:
        import json
        import urllib.request
        body = json.dumps([{"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [transfer(0)]},
                           {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber", "params": []}]).encode()
        req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=WAIT) as resp:
            answers = json.loads(resp.read())
        assert answers[1]["result"] == "0x1"  # the batch's second call saw the first one's block
    # a direct caller (web3 in process, the oracle's sender) gets the hash once the block is in
    node.send_raw_transaction(bytes.fromhex(transfer(1)[2:]))
    assert node.block_number == 2


def test_answer_first_keeps_the_lock_from_admission_to_block():
    node = build_node(node_config())
    with answer_first() as after:
        node.send_raw_transaction(bytes.fromhex(transfer(0)[2:]))
    assert len(after) == 1 and node.block_number == 0
    held = []
    probe = threading.Thread(target=lambda: held.append(not node.lock.acquire(blocking=False)))
    probe.start()
    probe.join()
    assert held == [True], "another thread could take the lock between admission and block"
    after[0]()
    assert node.block_number == 1 and not node.block_in_progress
    probe = threading.Thread(target=lambda: held.append(node.lock.acquire(timeout=WAIT) and (node.lock.release() or True)))
    probe.start()
    probe.join()
    assert held[-1] is True


def test_a_chain_on_disk_answers_a_send_only_once_its_block_is_written(tmp_path):
    """With --db an answered transaction must survive a kill -9, so there the answer waits."""
    node = build_node(node_config(db_path=str(tmp_path / "chain")))
    gate = gate_blocks(node)
    with running_node(node=node) as url:
        try:
            send = Call(url, "eth_sendRawTransaction", [transfer(0)])
            send.join(0.5)
            assert send.is_alive(), "a durable chain answered before its block was written"
        finally:
            gate.set()
        send.join(WAIT)
        assert send.answer["result"].startswith("0x") and node.block_number == 1
    node.close()
