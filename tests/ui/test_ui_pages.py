"""The explorer over plain HTTP (no browser): every page, decoding, escaping, 404s, --no-ui."""

from __future__ import annotations

import json
import re

import httpx
import numpy as np
import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak

from imochain.contracts import GENESIS_ADDRESSES

from .ui_support import HTML, SEVEN, call, digit_tensor, reverting_runtime, served_node, wait_for

EVIL = '<script>alert("x")</script>'
PROMPT = GENESIS_ADDRESSES["Prompt"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with served_node() as (url, node):
        yield url, node


def get(url: str, path: str) -> httpx.Response:
    r = httpx.get(url + path, headers=HTML, follow_redirects=True, timeout=120)
    assert "Traceback" not in r.text
    return r


@pytest.mark.parametrize("path", ["/", "/accounts", "/models", "/oracle", "/imo", "/playground", "/costs"])
def test_every_page_renders(served, path):
    url, _ = served
    r = get(url, path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'href="/playground"' in r.text  # the navigation is on every page
    assert "http://" not in re.sub(r'http://www\.w3\.org[^"]*', "", r.text).replace(url, "")  # no CDN


@pytest.mark.parametrize("path, words", [
    ("/block/99999", "no block"), ("/block/0x" + "ab" * 32, "no block"), ("/block/zz", "not a 32-byte"), ("/block/²", "not a 32-byte"), ("/block/" + "9" * 90, "invalid"),
    ("/tx/0x" + "00" * 32, "no transaction"), ("/tx/0x12", "not a 32-byte"), ("/tx/<b>x<b>", "not a 32-byte"),
    ("/address/0x" + "77" * 20, "no account"), ("/address/0x1234", "not a 20-byte"),
    ("/model/0x" + "11" * 32, "no model"), ("/nothing/here", "no page"), ("/search?q=hello", "nothing matches"),
    ("/costs/../../etc/passwd.png", "no page"), ("/static/../app.py", "no page"),
])
def test_unknown_things_get_a_clear_404(served, path, words):
    url, _ = served
    r = get(url, path)
    assert r.status_code == 404
    assert words in r.text
    assert "<b>x" not in r.text


def test_search_finds_blocks_transactions_and_addresses(served):
    url, _ = served
    acc = call(url, "eth_accounts")
    tx = call(url, "eth_sendTransaction", {"from": acc[0], "to": acc[1], "value": "0x1"})
    assert get(url, f"/search?q={tx}").url.path == f"/tx/{tx}"
    assert get(url, "/search?q=0").url.path == "/block/0"
    assert get(url, f"/search?q={acc[1]}").url.path == f"/address/{acc[1]}"
    block = call(url, "eth_getBlockByNumber", "0x1", False)
    assert get(url, f"/search?q={block['hash']}").url.path == f"/block/{block['hash']}"


def test_oracle_request_is_decoded_traced_and_rendered(served):
    url, node = served
    acc = call(url, "eth_accounts")
    image = digit_tensor(SEVEN)
    fee = call(url, "eth_call", {"to": PROMPT, "data": "0x" + (keccak(text="estimateFee(uint256)")[:4]
                                                            + abi_encode(["uint256"], [1])).hex()}, "latest")
    data = keccak(text="calculateAIResult(uint256,bytes)")[:4] + abi_encode(["uint256", "bytes"], [1, image])
    tx = call(url, "eth_sendTransaction", {"from": acc[5], "to": PROMPT, "data": "0x" + data.hex(), "value": fee})
    page = get(url, f"/tx/{tx}").text
    assert "<b>Prompt</b>." in page and "calculateAIResult" in page  # the call, decoded
    assert "AICallbackRequest" in page  # the oracle's event, decoded
    assert 'id="trace"' in page and "AIOracle" in page  # the call trace enters the oracle
    assert "read / written" in page and re.search(r"<td class=\"mono\">0x[0-9a-f]", page)  # storage slots
    def delivered():
        text = get(url, "/oracle").text
        return text if "callback in" in text else None
    oracle = wait_for("the callback on the oracle page", delivered)
    hash_ = next(m["hash"] for m in call(url, "imo_listModels") if m["name"] == "digits-classifier")
    output = bytes.fromhex(call(url, "imo_dryRun", hash_, "0x" + image.hex())["output"][2:])
    dtype, _, raw = abi_decode(["uint8", "uint32[]", "bytes"], output)
    scores = np.frombuffer(raw, dtype={1: "<i1", 2: "<i4", 3: "<f4"}[dtype])
    assert f"class <b>{int(np.argmax(scores))}</b>" in oracle  # the output, rendered for people
    assert "stakes" in oracle and "0.1 ETH" in oracle  # the opML bonds
    assert "<svg class=\"digit\"" in oracle and "batch 1" in oracle and "challenge window until" in oracle


def test_revert_reasons_and_uploaded_names_are_escaped_and_abi_dir_decodes(tmp_path):
    runtime = reverting_runtime(EVIL)
    abi = [{"type": "function", "name": "poke", "inputs": [{"name": "n", "type": "uint256"}], "outputs": [],
            "stateMutability": "nonpayable"}]
    out = tmp_path / "out" / "Evil.sol"
    out.mkdir(parents=True)
    (out / "Evil.json").write_text(json.dumps({"abi": abi, "deployedBytecode": {"object": "0x" + runtime.hex()}}))
    (out / "junk.json").write_text("{not json")
    from imochain.builder import build_node
    from imochain.chain import NodeConfig
    from imochain.rpc.server import create_app
    from fastapi.testclient import TestClient
    node = build_node(NodeConfig())
    client = TestClient(create_app(node, abi_dir=str(tmp_path / "out")), base_url="http://localhost")  # an allowed Host

    def rpc(method, *params):
        return client.post("/", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).json()

    target = "0x" + "5e" * 20
    rpc("anvil_setCode", target, "0x" + runtime.hex())
    acc = rpc("eth_accounts")["result"]
    data = keccak(text="poke(uint256)")[:4] + abi_encode(["uint256"], [7])
    tx = rpc("eth_sendTransaction", {"from": acc[0], "to": target, "data": "0x" + data.hex(), "gas": "0x30000"})["result"]
    page = client.get(f"/tx/{tx}", headers=HTML).text
    assert "Evil</a>" in page and "poke" in page and "n=<b>7</b>" in page  # named and decoded from the artifact
    assert EVIL not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page  # the revert, escaped
    r = client.post("/abi", json={"address": target, "name": "<i>Evil</i>", "abi": abi})
    assert r.status_code == 200
    page = client.get(f"/address/{target}", headers=HTML).text
    assert "<i>Evil</i>" not in page and "&lt;i&gt;Evil&lt;/i&gt;" in page
    assert client.post("/abi", json={"address": "0x12", "abi": abi}).status_code == 400
    assert client.post("/abi", content=b"[[[", headers={"Content-Type": "application/json"}).status_code == 400
    assert client.post("/abi", content=b"[[[").status_code == 415  # not JSON: refused before parsing (tests/security)
    assert client.post("/abi", json={"address": target, "abi": "nope"}).status_code == 400


def test_json_health_and_no_ui():
    from fastapi.testclient import TestClient

    from imochain.builder import build_node
    from imochain.chain import NodeConfig
    from imochain.rpc.server import create_app
    node = build_node(NodeConfig())
    with_ui = TestClient(create_app(node), base_url="http://localhost")
    assert with_ui.get("/", headers={"accept": "application/json"}).json()["chainId"] == 31337
    assert "<html" in with_ui.get("/", headers=HTML).text
    without = TestClient(create_app(node, ui=False), base_url="http://localhost")
    assert without.get("/", headers=HTML).json()["chainId"] == 31337
    assert without.get("/accounts", headers=HTML).status_code == 404
    assert without.post("/", json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}).json()["result"] == "0x7a69"


def test_cli_refuses_a_missing_abi_dir(tmp_path):
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-m", "imochain.cli", "node", "--abi-dir", str(tmp_path / "nope")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "not a directory" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_activity_index_follows_reverts(served):
    url, _ = served
    acc = call(url, "eth_accounts")
    target = "0x" + "3a" * 20
    snap = call(url, "evm_snapshot")
    gone = call(url, "eth_sendTransaction", {"from": acc[2], "to": target, "value": "0x5"})
    assert gone in get(url, f"/address/{target}").text
    assert call(url, "evm_revert", snap)
    assert get(url, f"/address/{target}").status_code == 404  # the reverted transfer was its only trace
    kept = call(url, "eth_sendTransaction", {"from": acc[3], "to": target, "value": "0x7"})
    page = get(url, f"/address/{target}").text
    assert kept in page and gone not in page


def test_rendering_escapes_what_comes_from_the_chain():
    from imochain.ui.render import make_env, render_tensor, text_or_hex
    answer = EVIL.encode()
    assert EVIL not in str(text_or_hex(answer)) and "&lt;script&gt;" in str(text_or_hex(answer))
    assert EVIL not in str(render_tensor("0x" + answer.hex()))
    page = make_env().from_string("{% from 'macros.html' import args %}{{ args(d) }}").render(
        d=type("D", (), {"name": EVIL, "args": [("n<b>", "string", EVIL)]})())
    assert "<script>" not in page and "<b>" not in page.replace("<b>&lt;", "")
