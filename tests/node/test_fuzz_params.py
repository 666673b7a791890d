"""Every registered method with junk parameters: each answers with a result or a clean
error (never an internal error, never a dropped connection), and the node keeps working."""

from __future__ import annotations

from imochain.rpc import server  # noqa: F401  (registers every namespace)
from imochain.rpc.dispatch import METHODS
from imochain.testing import rpc
from node_support import ACCTS, call

JUNK = [[], [None], [1], [-1], [2**300], ["0x"], ["0xzz"], [{}], [[]], [True], ["latest"],
        ["0x" + "00" * 20, {}], ["0x" + "00" * 32, "0x" + "00" * 32, "0x" + "00" * 32],
        [{"from": 5, "to": [], "data": {}}], [{"to": "0x" + "11" * 20, "gas": "0x1"}], ["x" * 1000],
        [{"address": {}, "topics": "x"}], [1.5, 2.5], [{"blocks": "lots"}]]

# junk that is valid input for these and would change the mining mode for the rest of the run
SKIP = {("evm_setIntervalMining", 1), ("anvil_setIntervalMining", 1),
        ("evm_setIntervalMining", True), ("anvil_setIntervalMining", True)}


def test_every_method_survives_junk(node_url):
    assert len(METHODS) > 80
    internal = []
    for name in sorted(METHODS):
        for params in JUNK:
            if params and isinstance(params[0], (int, bool)) and (name, params[0]) in SKIP:
                continue
            resp = rpc(node_url, name, params)
            assert resp.get("id") == 1 and ("result" in resp) != ("error" in resp), (name, params, resp)
            if "error" in resp:
                assert isinstance(resp["error"]["code"], int) and resp["error"]["message"], (name, resp)
                if resp["error"]["code"] == -32603:
                    internal.append((name, params, resp["error"]["message"][:120]))
    assert internal == []
    call(node_url, "evm_setIntervalMining", [0])
    call(node_url, "evm_setAutomine", [True])
    h = call(node_url, "eth_sendTransaction", [{"from": ACCTS[0].address, "to": ACCTS[1].address, "value": "0x1"}])
    assert call(node_url, "eth_getTransactionReceipt", [h])["status"] == "0x1"
