"""`--fork-url` against a real anvil (Foundry's, from node_modules): the forked node reads the
token's code, storage and balances at the pinned block, and an impersonated holder transfers."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from eth_abi import encode

from imochain.builder import build_node
from imochain.chain import NodeConfig
from imochain.testing import free_port
from fork_support import HOLDER, OTHER, Client, balance_slot, transfer_data
from test_fork import token_balance

ANVIL = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "anvil"
pytestmark = pytest.mark.skipif(not ANVIL.exists(), reason="anvil is not installed (npm ci installs it)")


class Http:
    def __init__(self, url: str):
        self.url = url

    def call(self, method: str, params: list | None = None):
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
        req = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as reply:
            out = json.loads(reply.read())
        assert "error" not in out, out
        return out["result"]


@pytest.fixture(scope="module")
def anvil(token_artifact):
    port = free_port()
    proc = subprocess.Popen([str(ANVIL), "--port", str(port), "--silent"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    remote = Http(f"http://127.0.0.1:{port}")
    try:
        deadline = time.time() + 120  # anvil starts in well under a second, unless the box is loaded
        while True:
            try:
                remote.call("eth_blockNumber")
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("anvil did not start") from None
                time.sleep(0.1)
        dev = remote.call("eth_accounts")[0]

        def send(to, data="0x", value=0):
            tx = {"from": dev, "data": data, "value": hex(value), "gas": hex(3_000_000)}
            if to:
                tx["to"] = to
            tx_hash = remote.call("eth_sendTransaction", [tx])
            receipt = None
            for _ in range(300):  # automined; the receipt can trail the answer by a moment
                receipt = remote.call("eth_getTransactionReceipt", [tx_hash])
                if receipt is not None:
                    break
                time.sleep(0.1)
            assert receipt is not None and receipt["status"] == "0x1", receipt
            return receipt

        token = send(None, token_artifact["bytecode"] + encode(["uint256"], [10**24]).hex())["contractAddress"]
        send(HOLDER, value=10**18)
        send(token, transfer_data(HOLDER, 5000))
        pin = int(remote.call("eth_blockNumber"), 16)
        send(token, transfer_data(HOLDER, 1))  # after the pin: the fork must not see it
        yield remote, token, pin
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_forking_anvil(anvil):
    remote, token, pin = anvil
    node = build_node(NodeConfig(fork_url=remote.url, fork_block_number=pin, genesis_contracts=False))
    try:
        client = Client(node)
        assert int(client.call("eth_blockNumber"), 16) == pin
        assert client.call("eth_getCode", [token, "latest"]) == remote.call("eth_getCode", [token, "latest"])
        assert client.call("eth_getBalance", [HOLDER, "latest"]) == remote.call("eth_getBalance", [HOLDER, hex(pin)])
        assert int(client.call("eth_getStorageAt", [token, hex(balance_slot(HOLDER)), "latest"]), 16) == 5000
        pinned = remote.call("eth_getBlockByNumber", [hex(pin), False])
        assert client.call("eth_getBlockByNumber", [hex(pin), False])["hash"] == pinned["hash"]
        # the whale has no key: impersonate it and move its tokens on the fork only
        client.call("anvil_impersonateAccount", [HOLDER])
        tx = client.call("eth_sendTransaction", [{"from": HOLDER, "to": token, "data": transfer_data(OTHER, 1234),
                                                  "gas": hex(200_000)}])
        assert client.call("eth_getTransactionReceipt", [tx])["status"] == "0x1"
        assert token_balance(client, token, OTHER) == 1234 and token_balance(client, token, HOLDER) == 3766
        assert int(remote.call("eth_getStorageAt", [token, hex(balance_slot(OTHER)), "latest"]), 16) == 0
    finally:
        node.close()
