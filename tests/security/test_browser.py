"""Browsers: only JSON POSTs, Host allow-list (DNS rebinding), CORS origins, WebSocket origins,
and a loud warning when the node listens beyond loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from imochain.rpc.browser import BrowserPolicy, origin_regex
from imochain.testing import free_port, running_node

BODY = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "evm_mine", "params": []}).encode()


def post(url: str, body: bytes = BODY, **headers: str) -> tuple[int, dict, dict]:
    """(status, headers, JSON body) of a raw POST with exactly these headers."""
    req = urllib.request.Request(url, body, method="POST")
    for k, v in headers.items():  # always given a content_type: urllib would add a form type
        req.add_header(k.replace("_", "-"), v)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


def block_number(url: str) -> int:
    status, _, reply = post(url, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"}).encode(),
                            content_type="application/json")
    assert status == 200
    return int(reply["result"], 16)


@pytest.fixture(scope="module")
def url():
    with running_node() as u:
        yield u


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", ""])
def test_non_json_posts_are_refused_and_not_run(url, content_type):
    """What a page may POST without a CORS preflight (text/plain, forms, an untyped Blob)."""
    before = block_number(url)
    status, _, reply = post(url, content_type=content_type)
    assert status == 415
    assert "only application/json" in reply["error"]["message"]
    assert block_number(url) == before  # evm_mine did not run


def test_json_posts_work_with_parameters(url):
    before = block_number(url)
    status, _, reply = post(url, content_type="application/json; charset=utf-8")
    assert status == 200 and reply["result"] == "0x0"
    assert block_number(url) == before + 1


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8545", "attacker.localhost.evil:1", "10.0.0.5"])
def test_foreign_host_header_is_refused(url, host):
    """DNS rebinding: a page on evil.example resolves its name to 127.0.0.1 and posts JSON
    same-origin; the Host header still says evil.example."""
    before = block_number(url)
    status, _, reply = post(url, content_type="application/json", host=host)
    assert status == 403
    assert "invalid host specified" in reply["error"]["message"]
    assert block_number(url) == before


@pytest.mark.parametrize("host", ["localhost", "localhost:{port}", "127.0.0.1:{port}", "[::1]:{port}", "LOCALHOST"])
def test_loopback_host_headers_are_accepted(url, host):
    port = url.rsplit(":", 1)[1]
    status, _, reply = post(url, content_type="application/json", host=host.format(port=port))
    assert status == 200 and reply["result"] == "0x0"


@pytest.mark.parametrize("origin", ["http://localhost:3000", "http://127.0.0.1:5173", "http://[::1]:8080",
                                    "https://localhost", "chrome-extension://nkbihfbeogaeaoehlefnkodbefgpgknn"])
def test_local_dev_servers_and_wallets_get_cors(url, origin):
    req = urllib.request.Request(url, method="OPTIONS", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.headers["Access-Control-Allow-Origin"] == origin
    status, headers, reply = post(url, content_type="application/json", origin=origin)
    assert status == 200 and reply["result"] == "0x0"
    assert headers["access-control-allow-origin"] == origin


@pytest.mark.parametrize("origin", ["http://evil.example", "https://localhost.evil.example",
                                    "http://localhost.evil.example:3000", "null", "http://127.0.0.2:3000"])
def test_foreign_origins_get_no_cors_and_are_not_run(url, origin):
    req = urllib.request.Request(url, method="OPTIONS", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=60)
    assert info.value.code == 403
    assert "Access-Control-Allow-Origin" not in info.value.headers
    before = block_number(url)
    status, headers, reply = post(url, content_type="application/json", origin=origin)
    assert status == 403 and "--allow-origin" in reply["error"]["message"]
    assert "access-control-allow-origin" not in {k.lower() for k in headers}
    assert block_number(url) == before


def test_allow_origin_and_allow_host_widen_the_defaults():
    policy = BrowserPolicy.for_bind("0.0.0.0", hosts=["devbox"], origins=["https://remix.ethereum.org",
                                                                         "http://dapp.test:*"])
    assert policy.host_allowed("devbox:8545") and not policy.host_allowed("otherbox:8545")
    assert policy.origin_allowed("https://remix.ethereum.org", "devbox")
    assert policy.origin_allowed("http://dapp.test:1234", "devbox")
    assert not policy.origin_allowed("http://dapp.test.evil:1234", "devbox")
    assert BrowserPolicy.for_bind("192.168.1.20").host_allowed("192.168.1.20:8545")
    anything = BrowserPolicy.for_bind("127.0.0.1", hosts=["*"], origins=["*"])
    assert anything.host_allowed("whatever.example") and anything.origin_allowed("http://x.example", None)
    with pytest.raises(ValueError):
        origin_regex(["localhost:3000"])  # no scheme


def test_any_origin_as_anvil():
    with running_node(policy=BrowserPolicy.for_bind("127.0.0.1", origins=["*"])) as u:
        status, headers, _ = post(u, content_type="application/json", origin="https://remix.ethereum.org")
        assert status == 200 and headers["access-control-allow-origin"] == "*"


def test_websocket_checks_origin_and_host(url):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect
    ws_url = url.replace("http", "ws")
    with connect(ws_url, origin="http://localhost:3000") as ws:  # a local dApp
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}))
        assert json.loads(ws.recv(timeout=60))["result"] == "0x7a69"
    with connect(ws_url) as ws:  # no Origin: not a browser (web3.py, ethers in node, cast)
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}))
        assert json.loads(ws.recv(timeout=60))["result"] == "0x7a69"
    with pytest.raises(InvalidStatus) as info:
        connect(ws_url, origin="http://evil.example", open_timeout=60)
    assert info.value.response.status_code == 403
    port = int(url.rsplit(":", 1)[1])
    with pytest.raises(InvalidStatus) as info:  # a rebound name: the socket reaches us, Host says evil
        connect(f"ws://evil.example:{port}", sock=socket.create_connection(("127.0.0.1", port)), open_timeout=60)
    assert info.value.response.status_code == 403


def test_cli_rejects_a_malformed_origin():
    proc = subprocess.run([sys.executable, "-m", "imochain.cli", "node", "--allow-origin", "localhost:3000"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: --allow-origin") and proc.stderr.count("\n") == 1


def test_cli_warns_loudly_off_loopback():
    """--host 0.0.0.0 on a port already taken: the warning comes first, then the bind fails,
    so nothing is exposed while the test runs."""
    with socket.socket() as taken:
        port = free_port()
        taken.bind(("127.0.0.1", port))
        taken.listen()
        proc = subprocess.run([sys.executable, "-m", "imochain.cli", "node", "--host", "0.0.0.0", "--port", str(port),
                               "--quiet", "--no-oracle", "--no-challenger"],
                              capture_output=True, text=True, timeout=120)
    assert proc.stderr.startswith("WARNING: listening on 0.0.0.0, not loopback")
    assert proc.returncode == 2 and "cannot listen" in proc.stderr
