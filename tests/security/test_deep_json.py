"""Deep JSON, wherever it hides (issue 11 part 1): nesting sent hex-encoded or gzipped inside a
parameter killed the node (rc -11) through json.loads under py_ecc's recursion limit."""

from __future__ import annotations

import gzip
import json

import pytest
from security_support import error_of, raw_post

from imochain import safejson

DEEP = b"[" * 99_000 + b"]" * 99_000


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _model_with_header(header: bytes) -> bytes:
    header += b" " * (-len(header) % 8)
    return len(header).to_bytes(8, "little") + header


def test_load_state_gzip_payload(survives):
    blob = gzip.compress(b'{"accounts":' + DEEP + b"}")
    assert len(blob) < 1000  # the 567-byte reproducer
    err = error_of(survives.url, "anvil_loadState", [_hex(blob)])
    assert err["code"] == -32602 and "nested deeper" in err["message"], err


def test_load_state_plain_hex_payload(survives):
    err = error_of(survives.url, "hardhat_loadState", [_hex(b'{"accounts":' + DEEP + b"}")])
    assert err["code"] == -32602 and "nested deeper" in err["message"], err


def test_model_upload_nesting_in_safetensors_header(survives):
    header = b'{"__metadata__":{"imochain.graph":"{}"},"x":' + DEEP + b"}"
    err = error_of(survives.url, "imo_uploadModel", [_hex(_model_with_header(header))])
    assert err["code"] == -32602 and "nested deeper" in err["message"], err


def test_model_upload_nesting_in_graph_string(survives):
    graph = json.dumps(DEEP.decode())
    header = b'{"__metadata__":{"imochain.graph":' + graph.encode() + b"}}"
    err = error_of(survives.url, "imo_uploadModel", [_hex(_model_with_header(header))])
    assert err["code"] == -32602 and "graph" in err["message"] and "nested deeper" in err["message"], err


def test_typed_data_string(survives):
    err = error_of(survives.url, "eth_signTypedData_v4", [
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", DEEP.decode()])
    assert err["code"] == -32602, err


def test_request_body(survives):
    status, reply = raw_post(survives.url, b'{"jsonrpc":"2.0","id":1,"method":"eth_call","params":' + DEEP + b"}")
    assert reply["error"]["code"] == -32700 and "nested deeper" in reply["error"]["message"]


def test_brackets_inside_strings_are_not_nesting(survives):
    """Part 10: > 256 '[' inside a string tripped the depth check (-32700)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "eth_getBalance",
                       "params": ["[" * 5000 + "{" * 5000, "latest"]}).encode()
    status, reply = raw_post(survives.url, body)
    assert reply["id"] == 7 and reply["error"]["code"] == -32602, reply  # the handler's refusal


@pytest.mark.parametrize("text, deep", [
    (b"[" * 257 + b"]" * 257, True),
    (b"[" * 256 + b"]" * 256, False),
    (b'{"a":' * 300 + b"1" + b"}" * 300, True),
    (json.dumps(["[" * 1000, {"k": "{" * 1000}]).encode(), False),
    (json.dumps(['\\"[' * 600]).encode(), False),          # escaped quotes do not end strings
    (b'["\\\\"' + b"[" * 300 + b"]" * 300 + b"]", True),   # an escaped backslash does
    (b'"' + b'\\"' * 10_000 + b"[" * 300, False),           # unterminated string: invalid anyway
])
def test_depth_prescan(text, deep):
    assert safejson.depth_exceeds(text) is deep
    if deep:
        with pytest.raises(safejson.JsonTooDeep):
            safejson.loads(text)


def test_geth_genesis_file(tmp_path):
    from imochain.chain.errors import GenesisError
    from imochain.chain.geth_genesis import load_genesis
    path = tmp_path / "genesis.json"
    path.write_bytes(b'{"config":{},"alloc":' + DEEP + b"}")
    with pytest.raises(GenesisError, match="nested deeper"):
        load_genesis(path)


def test_explorer_abi_upload(survives):
    """The explorer's POST /abi (2 MiB of JSON) parses through the same bounded parser."""
    import urllib.error
    import urllib.request
    req = urllib.request.Request(survives.url + "/abi", b'{"address":"0x' + b"11" * 20 + b'","abi":' + DEEP + b"}",
                                 {"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=60)
    assert info.value.code == 400 and b"nested deeper" in info.value.read()
