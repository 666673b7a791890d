"""Small protocol defects (issue 11 part 10): ids that are not JSON, notifications that got
replies, and py-evm's words leaking from eth_call."""

from __future__ import annotations

import json

import pytest
from security_support import DEV, error_of, raw_post


@pytest.mark.parametrize("raw_id", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400"])
def test_ids_that_cannot_be_echoed(survives, raw_id):
    body = b'{"jsonrpc":"2.0","id":' + raw_id + b',"method":"eth_chainId","params":[]}'
    status, reply = raw_post(survives.url, body)  # raw_post parses strictly: NaN would fail
    assert reply["id"] is None and reply["error"]["code"] in (-32600, -32700), reply


@pytest.mark.parametrize("bad_id", [True, {"a": 1}, [1]])
def test_ids_of_the_wrong_type(survives, bad_id):
    body = json.dumps({"jsonrpc": "2.0", "id": bad_id, "method": "eth_chainId"}).encode()
    reply = raw_post(survives.url, body)[1]
    assert reply["id"] is None and reply["error"]["code"] == -32600, reply


def test_valid_ids_are_echoed(survives):
    for req_id in (0, -5, 2**70, 1.5, "abc", None):
        body = json.dumps({"jsonrpc": "2.0", "id": req_id, "method": "eth_chainId"}).encode()
        reply = raw_post(survives.url, body)[1]
        assert reply["id"] == req_id and reply["result"] == "0x7a69"


def test_notifications_get_no_reply(survives):
    url = survives.url
    one = {"jsonrpc": "2.0", "method": "eth_chainId"}
    assert raw_post(url, json.dumps(one).encode()) == (204, None)
    failing = {"jsonrpc": "2.0", "method": "no_suchMethod"}  # errors are not answered either
    assert raw_post(url, json.dumps(failing).encode()) == (204, None)
    assert raw_post(url, json.dumps([one, failing, one]).encode()) == (204, None)
    status, reply = raw_post(url, json.dumps([one, dict(one, id=3), failing]).encode())
    assert status == 200 and [r["id"] for r in reply] == [3]
    # not a valid request object: answered with id null, as the spec says
    status, reply = raw_post(url, json.dumps({"jsonrpc": "2.0"}).encode())
    assert reply["id"] is None and reply["error"]["code"] == -32600


def test_call_with_less_gas_than_its_calldata_costs(survives):
    call = {"from": DEV[0], "to": DEV[1], "gas": hex(21_000), "data": "0x" + "01" * 1000}
    err = error_of(survives.url, "eth_call", [call, "latest"])
    assert err == {"code": -32000, "message": "intrinsic gas too low"}, err
    err = error_of(survives.url, "eth_estimateGas", [call])
    assert "negative" not in err["message"], err
