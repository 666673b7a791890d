"""The dev node on every fork from Cancun on: inference, the IMO genesis, and each fork's own rules."""

import numpy as np
import pytest
from web3 import Web3

from imochain.chain import NodeConfig
from imochain.precompiles import INFERENCE_ADDRESS
from imochain.models.tensor import encode_array, encode_call
from imochain.testing import in_process_web3

ORA_ORACLE = "0x0A0f4321214BB6C7811dD8a71cF587bdaF03f0A0"
# initcode that returns CLZ(1) as one word: PUSH1 1, CLZ, PUSH1 0, MSTORE, PUSH1 32, PUSH1 0, RETURN
CLZ_OF_ONE = "0x60011e60005260206000f3"


@pytest.mark.parametrize("fork", ["cancun", "prague", "osaka", "bpo1", "bpo2"])
def test_node_runs_ai_features_on(fork):
    w3, node = in_process_web3(NodeConfig(hardfork=fork))
    assert w3.provider.make_request("anvil_nodeInfo", [])["result"]["hardFork"] == fork
    assert len(w3.eth.get_code(ORA_ORACLE)) > 0
    model = node.models.find("mlp-784-32-10")
    data = encode_call(model, encode_array(np.arange(784).astype(np.int8)))
    out = w3.eth.call({"to": Web3.to_checksum_address(INFERENCE_ADDRESS), "data": "0x" + data.hex()})
    assert len(out) > 0 and out == node.inference.execute(data)
    tx = w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": w3.eth.accounts[1], "value": 1})
    assert w3.eth.wait_for_transaction_receipt(tx).status == 1
    has_clz = fork in ("osaka", "bpo1", "bpo2")
    if has_clz:
        assert int.from_bytes(w3.eth.call({"data": CLZ_OF_ONE}), "big") == 255
        with pytest.raises(Exception, match="16777216"):  # EIP-7825's cap on one transaction
            w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": w3.eth.accounts[1],
                                     "gas": 2**24 + 1})
    else:
        with pytest.raises(Exception):
            w3.eth.call({"data": CLZ_OF_ONE})
