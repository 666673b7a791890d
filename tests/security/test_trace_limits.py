"""Trace size and time (issue 11 part 2): enableMemory on a 4-byte loop grew the node to 23.9 GB."""

from __future__ import annotations

from security_support import DEV, error_of, rpc

MEMORY_LOOP = "0x5b595150600056"  # JUMPDEST MSIZE MLOAD POP PUSH1 0 JUMP: memory grows each turn
SPIN = "0x5b5f56"                 # JUMPDEST PUSH0 JUMP: runs until the gas is gone


def test_trace_call_memory_loop_is_refused_by_size(survives):
    call = {"from": DEV[0], "data": MEMORY_LOOP, "gas": hex(300_000)}
    err = error_of(survives.url, "debug_traceCall", [call, "latest", {"enableMemory": True}])
    assert err["code"] == -32000 and "trace exceeds 64 MiB" in err["message"], err
    # the same call with a step limit, or with another tracer, still traces
    small = rpc(survives.url, "debug_traceCall", [call, "latest", {"enableMemory": True, "limit": 50}])
    assert len(small["result"]["structLogs"]) == 50
    frames = rpc(survives.url, "debug_traceCall", [call, "latest", {"tracer": "callTracer"}])["result"]
    assert frames["type"] == "CREATE" and frames["error"] == "out of gas"


def test_trace_call_timeout_option(survives):
    call = {"from": DEV[0], "data": SPIN, "gas": hex(30_000_000)}
    err = error_of(survives.url, "debug_traceCall", [call, "latest", {"timeout": "50ms", "disableStack": True}])
    assert err["code"] == -32000 and err["message"] == "execution timeout", err
    err = error_of(survives.url, "debug_traceCall", [call, "latest", {"timeout": "soon"}])
    assert err["code"] == -32602 and "timeout" in err["message"]


def test_mined_transaction_and_block_traces_are_bounded(survives):
    url = survives.url
    snap = rpc(url, "evm_snapshot")["result"]
    try:
        tx = rpc(url, "eth_sendTransaction", [{"from": DEV[0], "data": MEMORY_LOOP, "gas": hex(300_000)}])["result"]
        receipt = rpc(url, "eth_getTransactionReceipt", [tx])["result"]
        assert receipt["status"] == "0x0"
        err = error_of(url, "debug_traceTransaction", [tx, {"enableMemory": True}])
        assert "trace exceeds" in err["message"], err
        err = error_of(url, "debug_traceBlockByNumber", [receipt["blockNumber"], {"enableMemory": True}])
        assert "trace exceeds" in err["message"], err
        ok = rpc(url, "debug_traceBlockByNumber", [receipt["blockNumber"], {"tracer": "callTracer"}])["result"]
        assert ok[0]["txHash"] == tx
    finally:
        assert rpc(url, "evm_revert", [snap])["result"] is True


def test_every_trace_has_a_deadline():
    from imochain.rpc.debug import DEFAULT_TIMEOUT, make_tracer
    for config in ({}, {"tracer": "callTracer"}, {"tracer": "4byteTracer"}):
        assert make_tracer(config).deadline is not None
    assert 0 < DEFAULT_TIMEOUT <= 60
