"""Reading state: historical blocks by number, hash and tag; eth_call and eth_estimateGas with
state overrides; reverts (code 3, reason, data); eth_createAccessList; eth_feeHistory."""

from __future__ import annotations

import pytest
from eth_abi import encode
from web3 import Web3

from node_support import ACCTS, call, deploy, rpc_error

TAGS = ["latest", "pending", "safe", "finalized"]


@pytest.fixture(scope="module")
def history(w3, node_url, store_artifact):
    """A contract whose value is 1, 2, 3 at three known blocks, and a balance that moves."""
    store = deploy(w3, store_artifact, 1)
    blocks = [w3.eth.block_number]
    for v in (2, 3):
        h = store.functions.set(v).transact({"from": w3.eth.accounts[0]})
        blocks.append(w3.eth.wait_for_transaction_receipt(h).blockNumber)
    target = "0x" + "e1" * 20
    for i, amount in enumerate((100, 200)):
        h = w3.eth.send_transaction({"from": w3.eth.accounts[1], "to": w3.to_checksum_address(target), "value": amount})
        blocks.append(w3.eth.wait_for_transaction_receipt(h).blockNumber)
    return {"store": store, "blocks": blocks, "target": target, "created": blocks[0]}


def storage(url, addr, block):
    return int(call(url, "eth_getStorageAt", [addr, "0x0", block]), 16)


def test_historical_state_by_number_and_hash(w3, node_url, history):
    store, blocks = history["store"], history["blocks"]
    for expected, n in zip((1, 2, 3), blocks[:3]):
        block_hash = w3.eth.get_block(n).hash.to_0x_hex()
        assert storage(node_url, store.address, hex(n)) == expected
        assert storage(node_url, store.address, block_hash) == expected
        assert storage(node_url, store.address, {"blockHash": block_hash}) == expected
        assert storage(node_url, store.address, {"blockNumber": hex(n)}) == expected
        assert store.functions.value().call(block_identifier=n) == expected
        assert store.functions.value().call(block_identifier=block_hash) == expected
        data = store.encode_abi("value", [])
        assert int(call(node_url, "eth_call", [{"to": store.address, "data": data}, hex(n)]), 16) == expected
    # a call at a past block runs in that block's context: its number and timestamp
    past = blocks[1]
    assert store.functions.number().call(block_identifier=past) == past
    assert store.functions.stamp().call(block_identifier=past) == w3.eth.get_block(past).timestamp
    # at the head, a call sees the block being built (number head + 1, as Hardhat)
    assert store.functions.number().call() >= w3.eth.block_number
    # before its creation the contract has no code
    assert call(node_url, "eth_getCode", [store.address, hex(history["created"] - 1)]) == "0x"
    assert call(node_url, "eth_getCode", [store.address, hex(history["created"])]) != "0x"
    assert call(node_url, "eth_getCode", [store.address, "earliest"]) == "0x"
    # balances through history
    t = history["target"]
    assert int(call(node_url, "eth_getBalance", [t, hex(blocks[3] - 1)]), 16) == 0
    assert int(call(node_url, "eth_getBalance", [t, hex(blocks[3])]), 16) == 100
    assert int(call(node_url, "eth_getBalance", [t, hex(blocks[4])]), 16) == 300
    a1 = ACCTS[1].address
    assert int(call(node_url, "eth_getTransactionCount", [a1, "earliest"]), 16) == 0
    assert int(call(node_url, "eth_getBalance", [a1, "earliest"]), 16) == 10_000 * 10**18
    assert int(call(node_url, "eth_getTransactionCount", [a1, hex(blocks[3])]), 16) \
        == int(call(node_url, "eth_getTransactionCount", [a1, hex(blocks[4])]), 16) - 1


def test_block_tags(w3, node_url, history):
    store = history["store"]
    for tag in TAGS:
        assert storage(node_url, store.address, tag) == 3, tag
        assert int(call(node_url, "eth_getBalance", [history["target"], tag]), 16) == 300
    assert storage(node_url, store.address, "earliest") == 0
    # a block past the head and an unknown hash are errors, not zeros
    future = hex(w3.eth.block_number + 10)
    err = rpc_error(node_url, "eth_getBalance", [history["target"], future])
    assert err["code"] in (-32000, -32602) and "not found" in err["message"]
    err = rpc_error(node_url, "eth_getStorageAt", [store.address, "0x0", "0x" + "ab" * 32])
    assert err["code"] in (-32000, -32602)
    err = rpc_error(node_url, "eth_getBalance", [history["target"], "yesterday"])
    assert err["code"] == -32602
    assert call(node_url, "eth_getBlockByNumber", ["earliest", False])["number"] == "0x0"
    for tag in ("latest", "safe", "finalized"):
        assert call(node_url, "eth_getBlockByNumber", [tag, False])["number"] == hex(w3.eth.block_number)


def test_storage_slot_forms(node_url, history):
    store = history["store"]
    assert int(call(node_url, "eth_getStorageAt", [store.address, "0x" + "00" * 32, "latest"]), 16) == 3
    assert int(call(node_url, "eth_getStorageAt", [store.address, "0x0"]), 16) == 3  # block defaults to latest


def test_call_with_state_overrides(w3, node_url, history, store_artifact):
    store = history["store"]
    data = store.encode_abi("value", [])
    slot0 = "0x" + "00" * 32
    override = {store.address: {"stateDiff": {slot0: "0x" + (555).to_bytes(32, "big").hex()}}}
    assert int(call(node_url, "eth_call", [{"to": store.address, "data": data}, "latest", override]), 16) == 555
    override = {store.address: {"state": {slot0: "0x" + (9).to_bytes(32, "big").hex()}}}
    assert int(call(node_url, "eth_call", [{"to": store.address, "data": data}, "latest", override]), 16) == 9
    # code override: any address becomes the contract
    elsewhere = "0x" + "ee" * 20
    override = {elsewhere: {"code": store_artifact["runtime"]}}
    assert int(call(node_url, "eth_call", [{"to": elsewhere, "data": data}, "latest", override]), 16) == 0
    # balance override seen by BALANCE
    rich = "0x" + "ab" * 20
    bal_data = store.encode_abi("balanceOf", [w3.to_checksum_address(rich)])
    override = {rich: {"balance": hex(10**30)}}
    assert int(call(node_url, "eth_call", [{"to": store.address, "data": bal_data}, "latest", override]), 16) == 10**30
    # overrides never persist
    assert storage(node_url, store.address, "latest") == 3
    assert call(node_url, "eth_getCode", [elsewhere, "latest"]) == "0x"
    # estimateGas with an override: a sender with no money can transfer when given some
    poor = "0x" + "0f" * 20
    tx = {"from": poor, "to": ACCTS[0].address, "value": hex(10**18)}
    assert rpc_error(node_url, "eth_estimateGas", [tx])["code"] in (-32000, 3)
    assert int(call(node_url, "eth_estimateGas", [tx, "latest", {poor: {"balance": hex(10**20)}}]), 16) == 21000
    # bad overrides name the field
    err = rpc_error(node_url, "eth_call", [{"to": store.address, "data": data}, "latest", {"0x12": {}}])
    assert err["code"] == -32602 and "override" in err["message"]
    err = rpc_error(node_url, "eth_call", [{"to": store.address, "data": data}, "latest",
                                           {store.address: {"state": {}, "stateDiff": {}}}])
    assert err["code"] == -32602


def test_estimate_gas(w3, node_url, history):
    store = history["store"]
    assert int(call(node_url, "eth_estimateGas", [{"from": ACCTS[0].address, "to": ACCTS[1].address,
                                                    "value": "0x1"}]), 16) == 21000
    data = store.encode_abi("burn", [20])
    estimate = int(call(node_url, "eth_estimateGas", [{"from": ACCTS[0].address, "to": store.address,
                                                       "data": data}]), 16)
    assert estimate > 20 * 20000
    # the estimate is enough, and a little less is not
    ok = w3.eth.wait_for_transaction_receipt(store.functions.burn(20).transact({"from": ACCTS[0].address, "gas": estimate}))
    assert ok.status == 1
    err = rpc_error(node_url, "eth_estimateGas", [{"from": ACCTS[0].address, "to": store.address,
                                                   "data": store.encode_abi("set", [13])}])
    assert err["code"] == 3 and err["message"] == "execution reverted: unlucky number"
    err = rpc_error(node_url, "eth_estimateGas", [{"from": ACCTS[0].address, "to": store.address,
                                                   "data": data, "gas": hex(50_000)}])
    assert err["code"] == -32000 and "gas" in err["message"]


def test_estimate_gas_pays_the_calldata_floor(w3, node_url):
    """EIP-7623: a calldata-heavy transaction pays 10 gas per token, more than it executes; the
    estimate must cover that floor or the transaction is refused as intrinsic gas too low."""
    data = "0x" + "ab" * 10_000  # 10 000 non-zero bytes to an account without code
    params = {"from": ACCTS[0].address, "to": ACCTS[1].address, "data": data}
    estimate = int(call(node_url, "eth_estimateGas", [params]), 16)
    assert estimate == 21000 + 10 * 4 * 10_000  # the floor; execution alone is 21000 + 16 * 10 000
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(dict(params, gas=estimate)))
    assert receipt.status == 1 and receipt.gasUsed == estimate
    err = rpc_error(node_url, "eth_sendTransaction", [dict(params, gas=hex(estimate - 1))])
    assert "gas" in err["message"]


def test_revert_reason_and_data(w3, node_url, history):
    store = history["store"]
    err = rpc_error(node_url, "eth_call", [{"to": store.address, "data": store.encode_abi("fail", ["boom"])}])
    assert err["code"] == 3
    assert err["message"] == "execution reverted: boom"
    assert err["data"] == "0x08c379a0" + encode(["string"], ["boom"]).hex()
    # a custom error: the selector and arguments come back in data
    sender = ACCTS[2].address
    err = rpc_error(node_url, "eth_call", [{"from": sender, "to": store.address,
                                            "data": store.encode_abi("failCustom", [])}])
    selector = Web3.keccak(text="Unauthorized(address,uint256)")[:4].hex()
    assert err["code"] == 3
    assert err["message"].startswith("execution reverted")
    assert err["data"] == "0x" + selector + encode(["address", "uint256"], [sender, 42]).hex()
    # require() through web3.py raises with the reason
    from web3.exceptions import ContractLogicError
    with pytest.raises(ContractLogicError, match="unlucky number"):
        store.functions.set(13).call()
    with pytest.raises(ContractLogicError) as info:
        store.functions.failCustom().call()
    assert info.value.data.startswith("0x" + selector)


def test_revert_without_reason_panic_and_invalid(node_url, history):
    store = history["store"]
    err = rpc_error(node_url, "eth_call", [{"to": store.address, "data": store.encode_abi("failEmpty", [])}])
    assert err["code"] == 3 and err["message"] == "execution reverted"
    assert err.get("data", "0x") == "0x"
    err = rpc_error(node_url, "eth_call", [{"to": store.address, "data": store.encode_abi("divide", [1, 0])}])
    assert err["code"] == 3 and err["message"].startswith("execution reverted")
    assert "division or modulo by zero" in err["message"]
    assert err["data"] == "0x4e487b71" + (0x12).to_bytes(32, "big").hex()
    assert int(call(node_url, "eth_call", [{"to": store.address, "data": store.encode_abi("divide", [9, 3])}]), 16) == 3
    # an invalid opcode is a failure without revert data: -32000 (anvil: an EVM error)
    err = rpc_error(node_url, "eth_call", [{"to": store.address, "data": store.encode_abi("invalid", [])}])
    assert err["code"] in (-32000, -32015, -32603) and err["code"] != 3
    assert "invalid" in err["message"].lower()


def test_call_defaults(node_url, history):
    store = history["store"]
    data = store.encode_abi("value", [])
    # no from, no gas, "input" instead of "data"
    assert int(call(node_url, "eth_call", [{"to": store.address, "input": data}]), 16) == 3
    err = rpc_error(node_url, "eth_call", [{"to": store.address, "input": data, "data": "0x00"}])
    assert err["code"] == -32602
    # a call to an address without code returns nothing
    assert call(node_url, "eth_call", [{"to": "0x" + "99" * 20, "data": data}]) == "0x"
    # a call with more value than the sender has fails cleanly
    err = rpc_error(node_url, "eth_call", [{"from": "0x" + "98" * 20, "to": store.address,
                                            "value": hex(10**18)}])
    assert err["code"] in (-32000, 3)


def test_create_access_list(w3, node_url, history):
    store = history["store"]
    req = {"from": ACCTS[0].address, "to": store.address, "data": store.encode_abi("set", [4])}
    out = call(node_url, "eth_createAccessList", [req])
    assert set(out) >= {"accessList", "gasUsed"}
    entries = {e["address"]: e["storageKeys"] for e in out["accessList"]}
    assert entries.get(store.address) == ["0x" + "00" * 32], out
    gas = int(out["gasUsed"], 16)
    assert gas > 21000
    # the access list it gives is usable
    tx = {"from": ACCTS[0].address, "to": store.address, "data": req["data"], "type": 1,
          "accessList": out["accessList"], "gasPrice": 2 * 10**9}
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(tx))
    assert receipt.status == 1
    err = rpc_error(node_url, "eth_createAccessList", [{"to": store.address, "data": store.encode_abi("fail", ["x"])}])
    assert err["code"] == 3
    # a plain transfer needs no access list: from and to are warm anyway (geth, anvil)
    out = call(node_url, "eth_createAccessList", [{"from": ACCTS[0].address, "to": ACCTS[1].address, "value": "0x1"}])
    assert out["accessList"] == [] and out["gasUsed"] == hex(21000)
    # a contract reading another account's balance lists that account
    other = "0x" + "ab" * 20
    out = call(node_url, "eth_createAccessList", [{"from": ACCTS[0].address, "to": store.address,
                                                   "data": store.encode_abi("balanceOf", [Web3.to_checksum_address(other)])}])
    assert {e["address"].lower() for e in out["accessList"]} == {other}, out
    via_web3 = w3.eth.create_access_list({"from": ACCTS[0].address, "to": store.address, "data": req["data"]})
    assert via_web3.gasUsed == int(call(node_url, "eth_createAccessList", [req])["gasUsed"], 16)
    assert via_web3.accessList[0]["address"] == store.address


def test_fee_history(w3, node_url, history):
    n = w3.eth.block_number
    fh = call(node_url, "eth_feeHistory", ["0x4", "latest", [25, 75]])
    assert int(fh["oldestBlock"], 16) == n - 3
    assert len(fh["baseFeePerGas"]) == 5  # one more: the next block's
    assert len(fh["gasUsedRatio"]) == 4 and all(0 <= r <= 1 for r in fh["gasUsedRatio"])
    assert len(fh["reward"]) == 4 and all(len(r) == 2 for r in fh["reward"])
    assert int(fh["baseFeePerGas"][-1], 16) == int(call(node_url, "eth_gasPrice"), 16) - 10**9 \
        or int(fh["baseFeePerGas"][-1], 16) > 0
    history_w3 = w3.eth.fee_history(2, "latest", [50])
    assert history_w3.oldestBlock == n - 1
    # more blocks than exist: clipped at genesis
    fh = call(node_url, "eth_feeHistory", ["0x400", "0x2"])
    assert fh["oldestBlock"] == "0x0" and len(fh["gasUsedRatio"]) == 3 and "reward" not in fh
    assert call(node_url, "eth_feeHistory", ["0x0", "latest"]) == {"oldestBlock": "0x0", "baseFeePerGas": [],
                                                                   "gasUsedRatio": []}
    assert rpc_error(node_url, "eth_feeHistory", ["0x2", "latest", [90, 10]])["code"] == -32602
    assert rpc_error(node_url, "eth_feeHistory", ["0x2", "latest", [101]])["code"] == -32602
    assert rpc_error(node_url, "eth_feeHistory", [])["code"] == -32602


def test_base_fee_follows_eip1559(w3, node_url, history):
    blocks = [w3.eth.get_block(i) for i in range(max(1, w3.eth.block_number - 3), w3.eth.block_number + 1)]
    for parent, child in zip(blocks, blocks[1:]):
        target = parent.gasLimit // 2
        if parent.gasUsed < target:
            assert child.baseFeePerGas <= parent.baseFeePerGas
    assert w3.eth.get_block(0).baseFeePerGas == 10**9
