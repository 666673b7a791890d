"""The JSON-RPC path's per-request work: a request body is parsed, and an answer written, by one
decoder and one encoder built once (json.loads/dumps build one per call when given options),
with the same results and errors as json's own functions."""

from __future__ import annotations

import json

import pytest

from imochain.rpc import server  # noqa: F401  (registers every namespace)
from imochain.rpc.dispatch import parse
from imochain.rpc.websocket import dumps

BODIES = [b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}', '[{"a":[1,2,{"b":"\\u00e9"}]}]',
          '{"a":1}'.encode("utf-16"), b'\xef\xbb\xbf{"a":1}', '\ufeff{"a":1}', b'{"a":NaN}', b"[-Infinity]",
          b'{"a":', b"\xff\xfe\x00", b"", 5]


def _stock_parse(body):
    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(body, parse_constant=refuse)


def _outcome(fn, body):
    try:
        return "ok", fn(body)
    except Exception as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("body", BODIES)
def test_parse_answers_and_refuses_as_json_loads_does(body):
    assert _outcome(parse, body) == _outcome(_stock_parse, body)


def test_no_decoder_or_encoder_is_built_per_request(monkeypatch):
    answer = {"jsonrpc": "2.0", "id": 1, "result": ["0x1", None, True, 1.5, "é"]}
    expected = json.dumps(answer, separators=(",", ":"))
    built = []
    for cls in (json.JSONDecoder, json.JSONEncoder):
        init = cls.__init__
        monkeypatch.setattr(cls, "__init__", lambda self, *a, init=init, **k: built.append(cls) or init(self, *a, **k))
    for body in BODIES[:3]:
        parse(body)
    assert dumps(answer) == expected
    assert server._dumps(answer) == expected.encode()
    assert built == []
