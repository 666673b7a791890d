"""Every JSON-RPC error code, batches, and bad input: each answered cleanly, nothing changed,
and the node keeps serving afterwards."""

from __future__ import annotations

import json

import pytest
import rlp
from eth_account import Account

from node_support import ACCTS, call, chain_state, deploy, hexraw, node_config, raw_post, rpc_error, signed

WATCH = [ACCTS[0].address, ACCTS[1].address, ACCTS[2].address]


@pytest.fixture(scope="module", autouse=True)
def used_accounts(node_url):
    """Each watched account has sent one transaction, so nonce 0 is "too low"."""
    for acct in ACCTS:
        call(node_url, "eth_sendRawTransaction", [hexraw(signed(acct.key, 0, ACCTS[0].address))])


@pytest.fixture
def unchanged(node_url):
    """The test's failures must leave head, balances, nonces and pool exactly as they were."""
    before = chain_state(node_url, WATCH)
    yield
    assert chain_state(node_url, WATCH) == before
    assert call(node_url, "eth_chainId") == "0x7a69"  # and the node still answers


def post_json(url, obj):
    status, body = raw_post(url, json.dumps(obj).encode())
    return status, body


# ------------------------------------------------------------------ protocol-level errors

def test_parse_error(node_url, unchanged):
    for body in (b"{", b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ", b"nonsense", b"\xff\xfe\x00",
                 b"", b"[1, 2,"):
        status, resp = raw_post(node_url, body)
        assert resp is not None, body
        assert resp["error"]["code"] == -32700, (body, resp)
        assert resp["id"] is None


def test_invalid_request(node_url, unchanged):
    cases = [1, "eth_chainId", None, True, [], {"jsonrpc": "2.0", "id": 1},
             {"jsonrpc": "2.0", "id": 2, "method": 5}, {"jsonrpc": "1.0", "id": 3, "method": "eth_chainId"}]
    for obj in cases:
        status, resp = post_json(node_url, obj)
        assert resp["error"]["code"] == -32600, (obj, resp)
    status, resp = post_json(node_url, {"jsonrpc": "2.0", "id": 9, "method": None})
    assert resp["error"]["code"] == -32600 and resp["id"] == 9
    # a method that is a list or an object (unhashable: the server's own routing once raised on it)
    for method in ([], ["eth_chainId"], {}, {"a": 1}):
        status, resp = post_json(node_url, {"jsonrpc": "2.0", "id": 10, "method": method})
        assert status == 200 and resp["error"]["code"] == -32600 and resp["id"] == 10, (method, resp)
        status, resp = post_json(node_url, [{"jsonrpc": "2.0", "id": 11, "method": method}])
        assert status == 200 and resp[0]["error"]["code"] == -32600, (method, resp)


def test_unknown_method(node_url, unchanged):
    err = rpc_error(node_url, "eth_doesNotExist")
    assert err["code"] == -32601 and "eth_doesNotExist" in err["message"]
    assert rpc_error(node_url, "")["code"] == -32601


@pytest.mark.parametrize("method,params,field", [
    ("eth_getBalance", ["0x1234", "latest"], "address"),
    ("eth_getBalance", ["0x" + "zz" * 20, "latest"], "address"),
    ("eth_getBalance", [12345, "latest"], "address"),
    ("eth_getBalance", [], "address"),
    ("eth_getBalance", ["0x" + "11" * 20, "newest"], "block"),
    ("eth_getBalance", ["0x" + "11" * 20, True], "block"),
    ("eth_getTransactionCount", ["0x" + "11" * 21], "address"),
    ("eth_getCode", [["0x" + "11" * 20]], "address"),
    ("eth_getStorageAt", ["0x" + "11" * 20], "slot"),
    ("eth_getStorageAt", ["0x" + "11" * 20, "zero"], "slot"),
    ("eth_getBlockByNumber", ["0xnope", False], "block"),
    ("eth_getBlockByNumber", ["latest", "yes"], "fullTransactions"),
    ("eth_getBlockByHash", ["0x1234", False], "blockHash"),
    ("eth_getTransactionByHash", ["0x12"], "hash"),
    ("eth_getTransactionReceipt", [], "hash"),
    ("eth_call", ["0x00"], "transaction"),
    ("eth_call", [{"to": "0x12"}], "to"),
    ("eth_call", [{"to": "0x" + "11" * 20, "gas": "lots"}], "gas"),
    ("eth_call", [{"to": "0x" + "11" * 20, "value": -1}], "value"),
    ("eth_call", [{"to": "0x" + "11" * 20, "data": "0x123"}], "input"),
    ("eth_estimateGas", [{"from": "0xabc"}], "from"),
    ("eth_sendRawTransaction", ["0xzz"], "transaction"),
    ("eth_sendRawTransaction", [], "transaction"),
    ("eth_sendRawTransaction", [42], "transaction"),
    ("eth_sendTransaction", [{"to": "0x" + "11" * 20}], "from"),
    ("eth_getLogs", [{"address": ["0x" + "11" * 20, "0x22"]}], "address"),
    ("eth_feeHistory", ["many", "latest"], "blockCount"),
    ("web3_sha3", ["hello"], "data"),
    ("evm_setAutomine", ["yes"], "enabled"),
    ("anvil_setNonce", ["0x" + "11" * 20, "0x" + "f" * 20], "nonce"),
    ("eth_getTransactionByBlockNumberAndIndex", ["latest", "first"], "index"),
])
def test_invalid_params_name_the_field(node_url, method, params, field, unchanged):
    err = rpc_error(node_url, method, params)
    assert err["code"] == -32602, (method, params, err)
    assert field in err["message"], (method, params, err)


def test_params_must_be_array_or_object(node_url, unchanged):
    status, resp = post_json(node_url, {"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": "0x00"})
    assert resp["error"]["code"] == -32602
    status, resp = post_json(node_url, {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": None})
    assert "result" in resp
    status, resp = post_json(node_url, {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"})
    assert "result" in resp


# ------------------------------------------------------------------ batches

def test_batch_mixed(node_url, unchanged):
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": "two", "method": "eth_nope"},
        {"jsonrpc": "2.0", "method": "eth_chainId"},  # notification: no entry
        {"jsonrpc": "2.0", "id": 3, "method": "eth_getBalance", "params": ["0x12"]},
        17,
        {"jsonrpc": "2.0", "id": None, "method": "net_version"},
        {"jsonrpc": "2.0", "id": 5, "method": "eth_blockNumber"},
    ]
    status, resp = post_json(node_url, batch)
    assert status == 200
    assert [r["id"] for r in resp] == [1, "two", 3, None, None, 5]
    assert resp[0]["result"] == "0x7a69"
    assert resp[1]["error"]["code"] == -32601
    assert resp[2]["error"]["code"] == -32602
    assert resp[3]["error"]["code"] == -32600
    assert resp[4]["result"] == "31337"
    assert resp[5]["result"].startswith("0x")
    for r in resp:
        assert r["jsonrpc"] == "2.0" and ("result" in r) != ("error" in r)


def test_batch_edge_cases(node_url, unchanged):
    status, resp = post_json(node_url, [])
    assert isinstance(resp, dict) and resp["error"]["code"] == -32600
    status, resp = post_json(node_url, [{"jsonrpc": "2.0", "method": "eth_chainId"}] * 3)
    assert resp is None  # only notifications: nothing to answer
    status, resp = post_json(node_url, [1, 2])
    assert [r["error"]["code"] for r in resp] == [-32600, -32600]
    status, resp = post_json(node_url, [{"jsonrpc": "2.0", "id": i, "method": "eth_blockNumber"}
                                        for i in range(1001)])
    assert resp["error"]["code"] == -32600
    # a big but allowed batch keeps order
    status, resp = post_json(node_url, [{"jsonrpc": "2.0", "id": i, "method": "eth_getBalance",
                                         "params": [ACCTS[i % 3].address, "latest"]} for i in range(100)])
    assert [r["id"] for r in resp] == list(range(100))


def test_single_notification_gets_no_body(node_url, unchanged):
    status, resp = post_json(node_url, {"jsonrpc": "2.0", "method": "eth_chainId"})
    assert resp is None and status in (200, 204)


def test_batch_with_transactions(w3, node_url, isolated):
    a = ACCTS[1]
    n = int(call(node_url, "eth_getTransactionCount", [a.address, "latest"]), 16)
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction",
              "params": [hexraw(signed(a.key, n + i, ACCTS[0].address))]} for i in range(3)]
    batch.append({"jsonrpc": "2.0", "id": 3, "method": "eth_sendRawTransaction",
                  "params": [hexraw(signed(a.key, n, ACCTS[0].address))]})  # nonce now too low
    status, resp = post_json(node_url, batch)
    assert [("result" in r) for r in resp] == [True, True, True, False]
    assert resp[3]["error"]["code"] == -32000 and "nonce too low" in resp[3]["error"]["message"]
    assert int(call(node_url, "eth_getTransactionCount", [a.address, "latest"]), 16) == n + 3


# ------------------------------------------------------------------ rejected transactions

def _with_signature(raw: bytes, r: int, s: int) -> bytes:
    """Replace r and s of a typed (EIP-2718) transaction."""
    assert raw[0] == 2
    fields = rlp.decode(raw[1:])
    fields[-2] = r.to_bytes(32, "big").lstrip(b"\0")
    fields[-1] = s.to_bytes(32, "big").lstrip(b"\0")
    return raw[:1] + rlp.encode(fields)


def test_rejected_transactions(w3, node_url, unchanged):
    acct = ACCTS[0]
    to = ACCTS[1].address
    n = int(call(node_url, "eth_getTransactionCount", [acct.address, "latest"]), 16)
    assert n > 0
    poor = Account.create()
    secp_n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    cases = [
        (signed(acct.key, n - 1, to), "nonce too low"),
        (signed(poor.key, 0, to, 10**18), "insufficient funds"),
        (signed(acct.key, n, to, maxFeePerGas=1, maxPriorityFeePerGas=1), "base fee"),
        (signed(acct.key, n, to, gas=30_000_001), "gas limit"),
        (signed(acct.key, n, to, gas=20_000), "intrinsic gas too low"),
        (signed(acct.key, n, to, chainId=1), "chain id"),
        (signed(acct.key, n, to, chainId=1, gasPrice=2 * 10**9), "chain id"),
        (signed(acct.key, n, to) + b"\x00", "decode"),
        (signed(acct.key, n, to, maxFeePerGas=10**9, maxPriorityFeePerGas=2 * 10**9), "priority fee"),
        (_with_signature(signed(acct.key, n, to), 0, 0), "invalid signature"),
        (_with_signature(signed(acct.key, n, to), 1, secp_n - 1), "invalid signature"),
        (b"\x02\xc0", "decode"),
        (b"\x05" + b"\x00" * 40, "decode"),
        (bytes.fromhex("deadbeef"), "decode"),
    ]
    for raw, words in cases:
        err = rpc_error(node_url, "eth_sendRawTransaction", [hexraw(raw)])
        assert err["code"] == -32000, (words, err)
        assert words in err["message"].lower(), (words, err)


def test_already_known(w3, node_url):
    sid = call(node_url, "evm_snapshot")
    call(node_url, "evm_setAutomine", [False])
    try:
        acct = ACCTS[2]
        n = int(call(node_url, "eth_getTransactionCount", [acct.address, "pending"]), 16)
        raw = hexraw(signed(acct.key, n, ACCTS[0].address))
        call(node_url, "eth_sendRawTransaction", [raw])
        err = rpc_error(node_url, "eth_sendRawTransaction", [raw])
        assert err["code"] == -32000 and "already known" in err["message"]
        assert call(node_url, "txpool_status")["pending"] == "0x1"
    finally:
        call(node_url, "anvil_dropAllTransactions")
        call(node_url, "evm_setAutomine", [True])
        call(node_url, "evm_revert", [sid])


def test_send_transaction_errors(w3, node_url, store_artifact, unchanged):
    a = ACCTS[0].address
    err = rpc_error(node_url, "eth_sendTransaction", [{"from": "0x" + "77" * 20, "to": a, "value": "0x1"}])
    assert err["code"] == -32000
    err = rpc_error(node_url, "eth_sendTransaction", [{"from": a, "to": a, "value": hex(10**30)}])
    assert err["code"] == -32000 and "insufficient funds" in err["message"]
    err = rpc_error(node_url, "eth_sendTransaction", [{"from": a, "to": a, "gas": hex(10**8)}])
    assert err["code"] == -32000 and "gas" in err["message"]
    err = rpc_error(node_url, "eth_sendTransaction", [{"from": a, "to": a, "nonce": "0x0"}])
    assert err["code"] == -32000 and "nonce too low" in err["message"]


def test_send_transaction_that_reverts_in_estimation(w3, node_url, store_artifact, isolated):
    store = deploy(w3, store_artifact, 0)
    before = chain_state(node_url, WATCH)
    err = rpc_error(node_url, "eth_sendTransaction", [{"from": ACCTS[0].address, "to": store.address,
                                                       "data": store.encode_abi("set", [13])}])
    assert err["code"] == 3
    assert err["message"] == "execution reverted: unlucky number"
    assert err["data"].startswith("0x08c379a0")
    assert chain_state(node_url, WATCH) == before


# ------------------------------------------------------------------ hostile input

def test_huge_payload(node_url, unchanged):
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0x' + b"00" * (35 * 1024 * 1024) + b'"]}'
    assert len(body) > 70 * 1000 * 1000
    status, resp = raw_post(node_url, body, timeout=120)
    assert status in (200, 413)
    assert resp["error"]["code"] in (-32600, -32000, -32602)
    # the same without a Content-Length (chunked upload)
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", int(node_url.rsplit(":", 1)[1]), timeout=120)

    def chunks():
        yield b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":["'
        for _ in range(70):
            yield b"0" * (1024 * 1024)
        yield b'"]}'
    conn.request("POST", "/", body=chunks(), headers={"Content-Type": "application/json"}, encode_chunked=True)
    reply = conn.getresponse()
    assert reply.status == 413 and json.loads(reply.read())["error"]["code"] == -32600
    conn.close()
    # just under the limit: read whole, parsed, refused by size (in linear time: the next test)
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0x' + b"00" * (30 * 1024 * 1024) + b'"]}'
    status, resp = raw_post(node_url, body, timeout=120)
    assert resp["error"]["code"] == -32000 and "oversized" in resp["error"]["message"]


class CountedChunk(bytes):
    """A piece of a request body that counts the bytes copied by `body + chunk` (Python asks
    the subclass on the right first), the quadratic way to gather a body."""

    copied = 0

    def __radd__(self, other):
        CountedChunk.copied += len(other) + len(self)
        return bytes(other) + bytes(self)


def test_a_big_body_is_gathered_in_linear_time():
    """30 MiB in 64 KiB pieces, as uvicorn hands them over: each byte is copied a bounded number
    of times (the count does not depend on the machine's speed, as a stopwatch would)."""
    import asyncio

    from imochain.chain import Node
    from imochain.rpc.server import create_app

    node = Node(node_config())
    try:
        app = create_app(node, ui=False)
        piece = 64 * 1024
        data = b"00" * (15 * 1024 * 1024)
        pieces = [b'{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0x']
        pieces += [data[i:i + piece] for i in range(0, len(data), piece)] + [b'"]}']
        body_size = sum(map(len, pieces))
        incoming = [{"type": "http.request", "body": CountedChunk(p), "more_body": True} for p in pieces]
        incoming[-1]["more_body"] = False
        sent = []

        async def receive():
            return incoming.pop(0)

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/", "headers": [
            (b"host", b"127.0.0.1:8545"), (b"content-type", b"application/json"),
            (b"content-length", str(body_size).encode())]}
        CountedChunk.copied = 0
        asyncio.run(app(scope, receive, send))
        assert not incoming, "the whole body was read"
        assert sent[0]["status"] == 200
        assert "oversized" in json.loads(sent[1]["body"])["error"]["message"]
        assert CountedChunk.copied <= 2 * body_size, f"{CountedChunk.copied} bytes copied for a {body_size}-byte body"
    finally:
        node.close()


def test_large_but_allowed_raw_transaction(node_url, unchanged):
    # 1 MiB of data in one transaction: refused by size, cleanly
    raw = signed(ACCTS[0].key, 0, ACCTS[1].address, data="0x" + "00" * (1024 * 1024), gas=29_000_000)
    err = rpc_error(node_url, "eth_sendRawTransaction", [hexraw(raw)])
    assert err["code"] == -32000 and "oversized" in err["message"]


def test_deeply_nested_json(node_url, unchanged):
    depth = 100_000
    for body in (b"[" * depth + b"]" * depth,
                 b'{"jsonrpc":"2.0","id":1,"method":"eth_call","params":' + b"[" * depth + b"]" * depth + b"}",
                 b'{"a":' * depth + b"1" + b"}" * depth):
        status, resp = raw_post(node_url, body)
        assert resp is not None and "error" in resp, (status, resp)
        assert resp["error"]["code"] in (-32700, -32600), resp
    # moderately nested params are parsed and refused by the handler
    status, resp = raw_post(node_url, b'{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":'
                            + b"[" * 200 + b"]" * 200 + b"}")
    assert resp["error"]["code"] == -32602


def test_odd_values(node_url, unchanged):
    a = ACCTS[0].address
    for value in ["0x" + "f" * 65, "0x", "0x-1", "0x 1", " 0x1", 1.5, -1, 2**300, None, {}, []]:
        err = rpc_error(node_url, "eth_getBalance", [value, "latest"])
        assert err["code"] == -32602, (value, err)
        err = rpc_error(node_url, "eth_getBlockByNumber", [value, False]) if value is not None else None
        if err is not None:
            assert err["code"] == -32602, (value, err)
    # quantities with leading zeros and upper-case hex are accepted, as anvil does
    assert call(node_url, "eth_getBalance", [a.upper().replace("0X", "0x"), "0x0"]) == hex(10_000 * 10**18)


def test_unicode_and_control_characters(node_url, unchanged):
    err = rpc_error(node_url, "eth_getBalance", ["0x\u00e9\u4e2d\u0000", "latest"])
    assert err["code"] == -32602
    err = rpc_error(node_url, "\u4e2d\u6587")
    assert err["code"] == -32601


def test_node_still_serves_after_everything(w3, node_url):
    h = w3.eth.send_transaction({"from": ACCTS[0].address, "to": ACCTS[1].address, "value": 1})
    assert w3.eth.wait_for_transaction_receipt(h).status == 1
    assert w3.eth.get_balance(ACCTS[1].address) > 0


def test_cors_for_browser_dapps(node_url):
    """A page on another origin can call the node (anvil allows any origin by default)."""
    import urllib.request
    req = urllib.request.Request(node_url, method="OPTIONS", headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] in ("*", "http://localhost:3000")
        assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    req = urllib.request.Request(node_url, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}).encode(),
                                 {"Content-Type": "application/json", "Origin": "http://localhost:3000"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.headers["Access-Control-Allow-Origin"] in ("*", "http://localhost:3000")
        assert json.loads(resp.read())["result"] == "0x7a69"
