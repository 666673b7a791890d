"""debug_traceTransaction / debug_traceCall / debug_traceBlockBy*: geth's struct logger and
callTracer shapes, against the live HTTP server.

The contracts: the suite's Store (compiled once per session) behind a hand-assembled
forwarder that runs `1 + 2` (a known ADD), then passes its calldata and value on with CALL,
STATICCALL or DELEGATECALL and returns or reverts with whatever came back.
"""

from __future__ import annotations

import hashlib

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak
from web3 import Web3

from node_support import call, chain_state, deploy, rpc_error

OPS = {"CALL": 0xF1, "STATICCALL": 0xFA, "DELEGATECALL": 0xF4}


def forwarder_runtime(target: str, op: str = "CALL") -> bytes:
    code = bytes([0x60, 0x01, 0x60, 0x02, 0x01, 0x50])      # PUSH1 1 PUSH1 2 ADD POP
    code += bytes([0x36, 0x5F, 0x5F, 0x37])                 # calldata → memory[0:]
    code += bytes([0x5F, 0x5F, 0x36, 0x5F])                 # retSize retOffset argsSize argsOffset
    if op == "CALL":
        code += bytes([0x34])                               # value = CALLVALUE
    code += bytes([0x73]) + bytes.fromhex(target[2:])       # PUSH20 target
    code += bytes([0x5A, OPS[op]])                          # GAS, call
    code += bytes([0x3D, 0x5F, 0x5F, 0x3E])                 # returndata → memory[0:]
    ok = len(code) + 6
    code += bytes([0x60, ok, 0x57])                         # success? jump to ok
    code += bytes([0x3D, 0x5F, 0xFD])                       # REVERT(0, returndatasize)
    code += bytes([0x5B, 0x3D, 0x5F, 0xF3])                 # ok: RETURN(0, returndatasize)
    return code


def initcode(runtime: bytes) -> bytes:
    # CODECOPY the runtime that follows this 10-byte prologue, then RETURN it
    return bytes([0x60, len(runtime), 0x80, 0x60, 0x0A, 0x5F, 0x39, 0x5F, 0xF3, 0x00]) + runtime


def hx(b) -> str:
    return Web3.to_hex(b)


def error_data(reason: str) -> str:
    return "0x08c379a0" + abi_encode(["string"], [reason]).hex()


@pytest.fixture(scope="module")
def setup(w3, store_artifact):
    me = w3.eth.accounts[0]
    store = deploy(w3, store_artifact, 1)
    forwarders = {}
    for name, target, op in (("call", store.address, "CALL"), ("static", store.address, "STATICCALL"),
                             ("delegate", store.address, "DELEGATECALL"),
                             ("sha256", "0x" + "00" * 19 + "02", "CALL")):
        h = w3.eth.send_transaction({"from": me, "data": initcode(forwarder_runtime(target, op))})
        forwarders[name] = w3.eth.wait_for_transaction_receipt(h).contractAddress
    ok_hash = w3.eth.send_transaction({"from": me, "to": forwarders["call"], "value": 0,
                                       "data": store.encode_abi("set", [5])})
    bad_hash = w3.eth.send_transaction({"from": me, "to": forwarders["call"], "gas": 200_000,
                                        "data": store.encode_abi("set", [13])})
    return dict(me=me, store=store, fw=forwarders, ok=hx(ok_hash), bad=hx(bad_hash),
                ok_receipt=w3.eth.get_transaction_receipt(ok_hash),
                bad_receipt=w3.eth.get_transaction_receipt(bad_hash))


# ---------------------------------------------------------------------------- struct logger

def test_struct_log_of_a_nested_call(node_url, setup):
    store, fw, receipt = setup["store"], setup["fw"]["call"], setup["ok_receipt"]
    assert receipt.status == 1
    trace = call(node_url, "debug_traceTransaction", [setup["ok"]])
    assert set(trace) == {"gas", "failed", "returnValue", "structLogs"}
    assert trace["gas"] == receipt.gasUsed
    assert trace["failed"] is False and trace["returnValue"] == ""
    logs = trace["structLogs"]
    first = logs[0]
    assert (first["pc"], first["op"], first["depth"], first["stack"]) == (0, "PUSH1", 1, [])
    tx = call(node_url, "eth_getTransactionByHash", [setup["ok"]])
    data = bytes.fromhex(tx["input"][2:])
    intrinsic = 21000 + sum(16 if b else 4 for b in data)
    assert first["gas"] == int(tx["gas"], 16) - intrinsic
    add = logs[2]
    assert (add["pc"], add["op"], add["gasCost"], add["stack"]) == (4, "ADD", 3, ["0x1", "0x2"])
    assert logs[3]["stack"] == ["0x3"] and logs[3]["op"] == "POP"
    for e in logs:
        assert {"pc", "op", "gas", "gasCost", "depth", "stack"} <= set(e)
        assert "memory" not in e and "returnData" not in e and "error" not in e
    # inside the frame, gas falls by exactly each step's cost (call-family steps aside)
    for a, b in zip(logs, logs[1:]):
        if a["depth"] == b["depth"] and a["op"] not in ("CALL", "STATICCALL", "DELEGATECALL"):
            assert b["gas"] == a["gas"] - a["gasCost"], (a, b)
    # the CALL hands the child its gas: the child starts with at most what the CALL cost
    i = next(i for i, e in enumerate(logs) if e["op"] == "CALL")
    child = logs[i + 1]
    assert child["depth"] == 2 and child["pc"] == 0 and child["op"] == "PUSH1"
    assert child["gas"] <= logs[i]["gasCost"]
    assert int(logs[i]["stack"][-2], 16) == int(store.address, 16)  # CALL's address argument
    sstore = [e for e in logs if e["op"] == "SSTORE"]
    assert sstore and all(e["depth"] == 2 for e in sstore)
    assert sstore[0]["storage"] == {"00" * 32: f"{5:064x}"}
    assert any(e["op"] == "LOG3" for e in logs)
    assert "storage" not in logs[0]
    # the depth-1 frame resumes after the child returns, and ends with RETURN
    assert logs[-1]["depth"] == 1 and logs[-1]["op"] == "RETURN"


def test_struct_log_options(node_url, setup):
    h = setup["ok"]
    bare = call(node_url, "debug_traceTransaction",
                [h, {"disableStack": True, "disableStorage": True}])["structLogs"]
    assert bare and all("stack" not in e and "storage" not in e for e in bare)
    full = call(node_url, "debug_traceTransaction",
                [h, {"enableMemory": True, "enableReturnData": True}])["structLogs"]
    assert len(full) == len(bare)
    assert full[0]["memory"] == []
    # the forwarder copies its calldata to memory 0 before it calls
    mem = next(e["memory"] for e in full if e["depth"] == 1 and e["memory"])
    data = setup["store"].encode_abi("set", [5])[2:]
    assert all(len(w) == 64 and not w.startswith("0x") for w in mem)
    assert "".join(mem)[:len(data)] == data
    assert all(e["returnData"] == "0x" for e in full)  # set() returns nothing
    # once the reverted CALL is back, the caller's return data is the revert data
    bad = call(node_url, "debug_traceTransaction", [setup["bad"], {"enableReturnData": True}])
    logs = bad["structLogs"]
    i = next(i for i, e in enumerate(logs) if e["op"] == "CALL")
    after = next(e for e in logs[i + 1:] if e["depth"] == 1)
    assert logs[i]["returnData"] == "0x" and after["returnData"] == error_data("unlucky number")
    limited = call(node_url, "debug_traceTransaction", [h, {"limit": 5}])["structLogs"]
    assert [e["op"] for e in limited] == [e["op"] for e in bare[:5]]


def test_struct_log_of_a_revert(node_url, setup):
    receipt = setup["bad_receipt"]
    assert receipt.status == 0
    trace = call(node_url, "debug_traceTransaction", [setup["bad"]])
    assert trace["failed"] is True
    assert trace["gas"] == receipt.gasUsed
    assert trace["returnValue"] == error_data("unlucky number")[2:]  # bare hex, as geth
    ops = [(e["depth"], e["op"]) for e in trace["structLogs"]]
    assert (2, "REVERT") in ops and ops[-1] == (1, "REVERT")
    assert all("error" not in e for e in trace["structLogs"])  # a revert is no step error


# ---------------------------------------------------------------------------- callTracer

def test_call_tracer_nested_call(node_url, setup):
    store, fw, receipt = setup["store"], setup["fw"]["call"], setup["ok_receipt"]
    me = setup["me"]
    top = call(node_url, "debug_traceTransaction", [setup["ok"], {"tracer": "callTracer"}])
    assert top["type"] == "CALL" and top["from"] == me and top["to"] == fw
    assert top["value"] == "0x0" and top["input"] == store.encode_abi("set", [5])
    assert int(top["gasUsed"], 16) == receipt.gasUsed
    tx = call(node_url, "eth_getTransactionByHash", [setup["ok"]])
    assert top["gas"] == tx["gas"]
    assert "output" not in top and "error" not in top and "logs" not in top
    [inner] = top["calls"]
    assert inner["type"] == "CALL" and inner["from"] == fw and inner["to"] == store.address
    assert inner["input"] == top["input"] and inner["value"] == "0x0"
    assert 0 < int(inner["gasUsed"], 16) < int(inner["gas"], 16) < int(top["gas"], 16)
    assert "calls" not in inner and "logs" not in inner

    logged = call(node_url, "debug_traceTransaction",
                  [setup["ok"], {"tracer": "callTracer", "tracerConfig": {"withLog": True}}])
    [entry] = logged["calls"][0]["logs"]
    assert entry["address"] == store.address and entry["position"] == "0x0" and entry["index"] == "0x0"
    assert entry["topics"][0] == hx(keccak(text="Set(address,uint256,string)"))
    assert int(entry["topics"][1], 16) == int(fw, 16) and int(entry["topics"][2], 16) == 5

    only = call(node_url, "debug_traceTransaction",
                [setup["ok"], {"tracer": "callTracer", "tracerConfig": {"onlyTopCall": True}}])
    assert "calls" not in only and only["gasUsed"] == top["gasUsed"]


def test_call_tracer_revert_reason(node_url, setup):
    top = call(node_url, "debug_traceTransaction",
               [setup["bad"], {"tracer": "callTracer", "tracerConfig": {"withLog": True}}])
    assert int(top["gasUsed"], 16) == setup["bad_receipt"].gasUsed
    for frame in (top, top["calls"][0]):
        assert frame["error"] == "execution reverted"
        assert frame["revertReason"] == "unlucky number"
        assert frame["output"] == error_data("unlucky number")
        assert "logs" not in frame


def test_call_tracer_value_static_delegate_and_precompile(node_url, setup):
    store, fw, me = setup["store"], setup["fw"], setup["me"]
    data = store.encode_abi("set", [9])
    paid = call(node_url, "debug_traceCall", [{"from": me, "to": fw["call"], "value": "0x7b",
                                               "data": data}, "latest", {"tracer": "callTracer"}])
    assert paid["value"] == "0x7b" and paid["calls"][0]["value"] == "0x7b"
    assert paid["calls"][0]["error"] == "execution reverted"  # set() is not payable

    static = call(node_url, "debug_traceCall", [{"from": me, "to": fw["static"], "data": data},
                                                "latest", {"tracer": "callTracer"}])
    inner = static["calls"][0]
    assert inner["type"] == "STATICCALL" and "value" not in inner
    assert inner["error"] == "write protection" and "revertReason" not in inner
    assert static["error"] == "execution reverted" and "output" not in static

    delegate = call(node_url, "debug_traceCall", [{"from": me, "to": fw["delegate"], "data": data},
                                                  "latest", {"tracer": "callTracer"}])
    inner = delegate["calls"][0]
    assert inner["type"] == "DELEGATECALL"
    assert inner["from"] == fw["delegate"] and inner["to"] == store.address
    assert "error" not in delegate

    payload = b"imochain tracing"
    sha = call(node_url, "debug_traceCall", [{"from": me, "to": fw["sha256"], "data": hx(payload)},
                                             "latest", {"tracer": "callTracer"}])
    [pre] = sha["calls"]
    assert pre["to"] == "0x" + "00" * 19 + "02" and pre["input"] == hx(payload)
    assert pre["output"] == hx(hashlib.sha256(payload).digest()) == sha["output"]
    assert "calls" not in pre and int(pre["gasUsed"], 16) == 60 + 12
    # a precompile runs no opcodes: the struct log never reaches depth 2
    logs = call(node_url, "debug_traceCall", [{"from": me, "to": fw["sha256"], "data": hx(payload)}])
    assert logs["structLogs"] and {e["depth"] for e in logs["structLogs"]} == {1}
    assert logs["returnValue"] == pre["output"][2:]


def test_call_tracer_contract_creation(w3, node_url, setup, store_artifact):
    factory = w3.eth.contract(abi=store_artifact["abi"], bytecode=store_artifact["bytecode"])
    h = factory.constructor(3).transact({"from": setup["me"]})
    receipt = w3.eth.wait_for_transaction_receipt(h)
    top = call(node_url, "debug_traceTransaction", [hx(h), {"tracer": "callTracer"}])
    assert top["type"] == "CREATE" and top["to"] == receipt.contractAddress
    assert top["output"] == store_artifact["runtime"]
    assert top["input"].startswith(store_artifact["bytecode"])
    assert int(top["gasUsed"], 16) == receipt.gasUsed
    logs = call(node_url, "debug_traceTransaction", [hx(h)])
    assert logs["returnValue"] == store_artifact["runtime"][2:] and logs["gas"] == receipt.gasUsed


def test_out_of_gas_in_a_child(node_url, setup):
    store, fw, me = setup["store"], setup["fw"]["call"], setup["me"]
    tx = {"from": me, "to": fw, "gas": hex(80_000), "data": store.encode_abi("burn", [50])}
    top = call(node_url, "debug_traceCall", [tx, "latest", {"tracer": "callTracer"}])
    assert top["calls"][0]["error"] == "out of gas"
    assert top["calls"][0]["gasUsed"] == top["calls"][0]["gas"]  # all of it burnt
    assert top["error"] == "execution reverted" and top["gas"] == hex(80_000)
    trace = call(node_url, "debug_traceCall", [tx, "latest", {"disableStack": True}])
    assert trace["failed"] is True and trace["returnValue"] == ""
    assert [e["error"] for e in trace["structLogs"] if "error" in e] == ["out of gas"]


def test_call_tracer_log_positions_and_failed_frames(node_url, setup):
    # top: LOG0, CALL child (child: LOG0 then REVERT), LOG0 — code given by state overrides
    child, top = "0x" + "cc" * 20, "0x" + "dd" * 20
    child_code = bytes([0x5F, 0x5F, 0xA0, 0x5F, 0x5F, 0xFD])
    top_code = bytes([0x5F, 0x5F, 0xA0, 0x5F, 0x5F, 0x5F, 0x5F, 0x5F, 0x73]) + bytes.fromhex("cc" * 20)
    top_code += bytes([0x5A, 0xF1, 0x50, 0x5F, 0x5F, 0xA0, 0x00])
    overrides = {child: {"code": hx(child_code)}, top: {"code": hx(top_code)}}
    trace = call(node_url, "debug_traceCall", [
        {"from": setup["me"], "to": top}, "latest",
        {"tracer": "callTracer", "tracerConfig": {"withLog": True}, "stateOverrides": overrides}])
    assert [(e["position"], e["index"]) for e in trace["logs"]] == [("0x0", "0x0"), ("0x1", "0x1")]
    [inner] = trace["calls"]
    assert inner["error"] == "execution reverted" and "logs" not in inner and "output" not in inner


# ---------------------------------------------------------------------------- traceCall, blocks

def test_trace_call_is_not_mined_and_changes_nothing(w3, node_url, setup):
    store, fw, me = setup["store"], setup["fw"]["call"], setup["me"]
    before = chain_state(node_url, [me, fw, store.address])
    value_before = store.functions.value().call()
    tx = {"from": me, "to": fw, "data": store.encode_abi("set", [21])}
    trace = call(node_url, "debug_traceCall", [tx, "latest"])
    sstore = [e for e in trace["structLogs"] if e["op"] == "SSTORE"]
    assert sstore[0]["storage"] == {"00" * 32: f"{21:064x}"}
    assert trace["failed"] is False and trace["gas"] > 21000
    call(node_url, "debug_traceTransaction", [setup["ok"]])
    call(node_url, "debug_traceTransaction", [setup["bad"], {"tracer": "callTracer"}])
    assert chain_state(node_url, [me, fw, store.address]) == before
    assert store.functions.value().call() == value_before
    # state overrides reach the traced call
    over = call(node_url, "debug_traceCall", [
        {"from": me, "to": store.address, "data": store.encode_abi("value", [])}, "latest",
        {"tracer": "callTracer", "stateOverrides": {store.address: {"stateDiff": {
            "0x" + "00" * 32: "0x" + f"{77:064x}"}}}}])
    assert int(over["output"], 16) == 77
    # a revert in traceCall is a trace, not an error
    bad = call(node_url, "debug_traceCall", [{"from": me, "to": store.address,
                                             "data": store.encode_abi("fail", ["nope"])},
                                            "latest", {"tracer": "callTracer"}])
    assert bad["revertReason"] == "nope"


def test_trace_block(node_url, setup):
    receipt = setup["ok_receipt"]
    by_number = call(node_url, "debug_traceBlockByNumber",
                     [hex(receipt.blockNumber), {"tracer": "callTracer"}])
    assert by_number == [{"txHash": setup["ok"], "result": call(
        node_url, "debug_traceTransaction", [setup["ok"], {"tracer": "callTracer"}])}]
    by_hash = call(node_url, "debug_traceBlockByHash", [hx(receipt.blockHash)])
    assert by_hash[0]["txHash"] == setup["ok"] and by_hash[0]["result"]["gas"] == receipt.gasUsed
    assert call(node_url, "debug_traceBlockByNumber", ["earliest"]) == []
    assert call(node_url, "debug_traceTransaction", [setup["ok"], {"tracer": "4byteTracer"}]) == {
        setup["store"].encode_abi("set", [5])[:10] + "-32": 2}
    assert call(node_url, "debug_traceTransaction", [setup["ok"], {"tracer": "noopTracer"}]) == {}


def test_replay_sees_earlier_transactions_of_its_block(w3, node_url, setup, isolated):
    store, me = setup["store"], setup["me"]
    call(node_url, "evm_setAutomine", [False])
    try:
        first = w3.eth.send_transaction({"from": me, "to": store.address, "gas": 100_000,
                                         "data": store.encode_abi("set", [42])})
        second = w3.eth.send_transaction({"from": me, "to": store.address, "gas": 100_000,
                                          "data": store.encode_abi("value", [])})
        third = w3.eth.send_transaction({"from": me, "to": store.address, "gas": 100_000,
                                         "data": store.encode_abi("ping", [7])})
        call(node_url, "evm_mine")
    finally:
        call(node_url, "evm_setAutomine", [True])
    receipts = [w3.eth.get_transaction_receipt(h) for h in (first, second)]
    assert receipts[0].blockNumber == receipts[1].blockNumber
    block = call(node_url, "debug_traceBlockByNumber", ["latest", {"tracer": "callTracer"}])
    assert [b["txHash"] for b in block] == [hx(first), hx(second), hx(third)]
    assert int(block[1]["result"]["output"], 16) == 42  # the first transaction's write is seen
    for entry, receipt in zip(block, receipts):
        assert int(entry["result"]["gasUsed"], 16) == receipt.gasUsed
    # a log's index counts the logs of the block's earlier transactions, as the receipt does
    pinged = call(node_url, "debug_traceTransaction",
                  [hx(third), {"tracer": "callTracer", "tracerConfig": {"withLog": True}}])
    assert pinged["logs"][0]["index"] == hex(w3.eth.get_transaction_receipt(third).logs[0].logIndex) == "0x1"
    logs = call(node_url, "debug_traceTransaction", [hx(second)])
    sload = next(e for e in logs["structLogs"] if e["op"] == "SLOAD")
    assert sload["storage"] == {"00" * 32: f"{42:064x}"}


def test_replay_starts_from_dev_edited_state(w3, node_url, setup, isolated):
    # funds that exist only through anvil_setBalance must be there when the block replays
    me, fresh = setup["me"], "0x" + "5a" * 20
    sender = Web3.to_checksum_address(fresh)
    call(node_url, "anvil_setBalance", [fresh, hex(10**18)])
    call(node_url, "anvil_impersonateAccount", [fresh])
    h = w3.eth.send_transaction({"from": sender, "to": setup["fw"]["call"],
                                 "data": setup["store"].encode_abi("set", [8])})
    receipt = w3.eth.get_transaction_receipt(h)
    assert receipt.status == 1
    top = call(node_url, "debug_traceTransaction", [hx(h), {"tracer": "callTracer"}])
    assert top["from"] == sender and int(top["gasUsed"], 16) == receipt.gasUsed
    assert "error" not in top


# ---------------------------------------------------------------------------- bad input

def test_bad_input(node_url, setup):
    me = setup["me"]
    err = rpc_error(node_url, "debug_traceTransaction", ["0x" + "ab" * 32])
    assert (err["code"], err["message"]) == (-32000, "transaction not found")
    err = rpc_error(node_url, "debug_traceTransaction", [setup["ok"], {"tracer": "prestateTracerX"}])
    assert err["code"] == -32602 and "callTracer" in err["message"]
    err = rpc_error(node_url, "debug_traceTransaction", [setup["ok"], {"tracer": "{step: function() {}}"}])
    assert err["code"] == -32602
    for params in ([], ["0x12"], ["nothex"], [setup["ok"], "callTracer"],
                   [setup["ok"], {"disableStack": "yes"}],
                   [setup["ok"], {"tracer": "callTracer", "tracerConfig": {"onlyTopCall": 1}}],
                   [setup["ok"], {"tracer": "callTracer", "tracerConfig": []}],
                   [setup["ok"], {"limit": -1}], [setup["ok"], {"timeout": "soon"}]):
        err = rpc_error(node_url, "debug_traceTransaction", params)
        assert err["code"] == -32602, (params, err)
    err = rpc_error(node_url, "debug_traceCall", [{"from": me, "to": "0x1234"}])
    assert err["code"] == -32602
    err = rpc_error(node_url, "debug_traceCall", [{"from": me, "to": me}, "0xffffff"])
    assert err["code"] == -32000 and "not found" in err["message"]
    err = rpc_error(node_url, "debug_traceBlockByHash", ["0x" + "cd" * 32])
    assert err["code"] == -32000
    err = rpc_error(node_url, "debug_traceBlockByNumber", ["0x" + "cd" * 32])
    assert err["code"] == -32602
    for config in ({"timeout": "1ns"}, {"timeout": "1ns", "tracer": "callTracer"}):
        err = rpc_error(node_url, "debug_traceTransaction", [setup["ok"], config])
        assert (err["code"], err["message"]) == (-32000, "execution timeout")
    assert call(node_url, "debug_traceTransaction", [setup["ok"], {"timeout": "1m"}])["structLogs"]
    # a call the sender cannot pay for fails as eth_call does
    poor = "0x" + "11" * 20
    err = rpc_error(node_url, "debug_traceCall", [{"from": poor, "to": me, "value": "0x1"}])
    assert err["code"] == -32000


# ---------------------------------------------------------------------------- the machinery

def test_traced_restores_the_state_and_bounds_the_trace():
    from imochain.builder import build_node
    from imochain.chain.tracers import StructLogger
    from imochain.chain.tracing import TraceTooLarge, traced
    from node_support import node_config

    node = build_node(node_config())
    state = node.state_at("latest")
    base = state.computation_class
    with traced(state, StructLogger()):
        assert state.computation_class is not base and issubclass(state.computation_class, base)
    assert state.computation_class is base and "computation_class" not in vars(state)

    looper = b"\x11" * 20
    spin = bytes([0x5B, 0x5F, 0x56])  # JUMPDEST PUSH0 JUMP: runs until the gas is gone
    params = {"from": node.accounts[0].address, "to": looper, "gas": 100_000}
    head, balance = node.head.hash, node.get_balance(params["from"])
    with pytest.raises(TraceTooLarge):
        node.execute_call(params, overrides={looper: {"code": spin}}, tracer=StructLogger(max_logs=50))
    small = StructLogger(limit=7)
    result = node.execute_call(params, overrides={looper: {"code": spin}}, tracer=small)
    assert result.error and len(small.logs) == 7
    assert node.head.hash == head and node.get_balance(params["from"]) == balance
    # plain execution afterwards runs untraced classes
    assert node.execute_call(params, overrides={looper: {"code": b"\x00"}}).error is None
    node.close()
