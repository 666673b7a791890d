"""--db: resume at the same head after a restart, and survive kill -9 at any moment."""

import http.client
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from eth_account import Account

from imochain.chain import Node, NodeConfig
from imochain.testing import free_port, rpc

KEY0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
SINK = "0x000000000000000000000000000000000000dEaD"


def test_reopen_resumes_head_state_and_history(tmp_path):
    db = str(tmp_path / "chain")
    node = Node(NodeConfig(db_path=db, genesis_contracts=False))
    a0, a1 = node.accounts[0].address, node.accounts[1].address
    hashes = [node.send_transaction({"from": a0, "to": a1, "value": 1000 + i}) for i in range(5)]
    node.set_balance(b"\x42" * 20, 12345)  # a dev edit without a block must persist too
    head, root = node.head.hash, node.head_root
    balance = node.get_balance(a1)
    node.close()

    again = Node(NodeConfig(db_path=db, genesis_contracts=False))
    assert again.head.hash == head and again.head_root == root
    assert again.block_number == 5
    assert again.get_balance(a1) == balance
    assert again.get_balance(b"\x42" * 20) == 12345
    for i, h in enumerate(hashes):
        r = again.get_receipt(h)
        assert r is not None and r.status == 1 and r.block_number == i + 1
    # and the chain goes on from there
    again.send_transaction({"from": a0, "to": a1, "value": 1})
    assert again.block_number == 6
    again.close()


def test_reopen_refuses_another_chain_id(tmp_path):
    db = str(tmp_path / "chain")
    Node(NodeConfig(db_path=db, genesis_contracts=False)).close()
    from imochain.chain import ChainError
    with pytest.raises(ChainError, match="chain id"):
        Node(NodeConfig(db_path=db, chain_id=5, genesis_contracts=False))


def _start(db: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "imochain.cli", "node", "--db", db, "--port", str(port),
                             "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120  # a bound on a hung start (~5 s; more on a loaded machine)
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"node exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            rpc(url, "eth_blockNumber")
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("node did not start")


def _raw_transfers(count: int, start_nonce: int = 0) -> list[str]:
    return ["0x" + bytes(Account.sign_transaction(
        dict(chainId=31337, nonce=n, maxPriorityFeePerGas=10**9, maxFeePerGas=10**11, gas=21000,
             to=SINK, value=1, type=2), KEY0).raw_transaction).hex()
        for n in range(start_nonce, start_nonce + count)]


@pytest.mark.timeout(240)
def test_kill_9_mid_stream_leaves_last_committed_block_consistent(tmp_path):
    db = str(tmp_path / "chain")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start(db, port)
    raws = _raw_transfers(400)
    sent = []

    def stream():
        for raw in raws:
            try:
                resp = rpc(url, "eth_sendRawTransaction", [raw])
            except (OSError, http.client.HTTPException):  # killed, maybe halfway through an answer
                return
            if "result" in resp:
                sent.append(resp["result"])

    t = threading.Thread(target=stream)
    t.start()
    while len(sent) < 40:  # let it get going, then kill it mid-stream
        time.sleep(0.01)
        assert t.is_alive() or len(sent) >= 40
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    t.join()

    proc = _start(db, port)
    try:
        head = int(rpc(url, "eth_blockNumber")["result"], 16)
        assert head >= 40 - 1  # every answered automined tx had its block committed before the reply
        block = rpc(url, "eth_getBlockByNumber", [hex(head), True])["result"]
        assert block is not None and int(block["number"], 16) == head
        # state at the head agrees with history: one wei per mined transfer, nonces match
        mined = 0
        for n in range(1, head + 1):
            mined += len(rpc(url, "eth_getBlockByNumber", [hex(n), False])["result"]["transactions"])
        assert int(rpc(url, "eth_getBalance", [SINK, "latest"])["result"], 16) == mined
        assert int(rpc(url, "eth_getTransactionCount", [
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "latest"])["result"], 16) == mined
        for h in sent:
            receipt = rpc(url, "eth_getTransactionReceipt", [h])["result"]
            assert receipt is not None and receipt["status"] == "0x1"
        # the chain continues
        nxt = rpc(url, "eth_sendRawTransaction", _raw_transfers(1, mined))
        assert "result" in nxt, nxt
        assert int(rpc(url, "eth_blockNumber")["result"], 16) == head + 1
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
