"""Start-up and the HTTP path: heavy code stays out of the way until used, and the server runs
on uvicorn's C parser and loop. (How fast is measured by benchmarks/bench_node.py, not here.)"""

from __future__ import annotations

import subprocess
import sys

from eth_utils import to_canonical_address

from imochain.builder import build_node
from imochain.chain import NodeConfig

G1ADD = to_canonical_address("0x000000000000000000000000000000000000000b")


def _in_fresh_interpreter(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_what_a_starting_node_imports_leaves_out_torch_and_the_bls_tables():
    loaded = _in_fresh_interpreter(
        "import sys, imochain.cli as c; c.build_parser(); import imochain.rpc.server, imochain.builder;"
        "print(sorted(m for m in ('torch', 'py_ecc.optimized_bls12_381.optimized_pairing',"
        " 'py_ecc.bls.ciphersuites') if m in sys.modules))")
    assert loaded == "[]"


def test_bls_precompile_answers_as_py_ecc_computes():
    from py_ecc.optimized_bls12_381 import G1, add, normalize

    def encode(point) -> bytes:
        x, y = normalize(point)
        return int(x).to_bytes(64, "big") + int(y).to_bytes(64, "big")

    node = build_node(NodeConfig(genesis_contracts=False))
    try:
        out = node.call({"to": G1ADD, "data": encode(G1) + encode(G1)})
        assert out == encode(add(G1, G1))
        assert node.execute_call({"to": G1ADD, "data": b"\x01" * 5}).error  # py-evm's own input check
    finally:
        node.close()


def test_v4_keyfiles_still_use_bls_on_demand():
    # eth_account imports eth_keyfile, which wants BLS only for v4 keyfiles
    ok = _in_fresh_interpreter(
        "import imochain, sys, eth_account, eth_keyfile;"
        "assert 'py_ecc.bls.ciphersuites' not in sys.modules;"
        "k = eth_keyfile.create_keyfile_json(b'\\x01' * 32, b'pw', version=4, iterations=2);"
        "print(eth_keyfile.decode_keyfile_json(k, b'pw') == b'\\x01' * 32, len(k['pubkey']))")
    assert ok == "True 96"


def test_server_runs_on_httptools_and_uvloop():
    from imochain.rpc.server import uvicorn_options
    options = uvicorn_options()
    assert options["http"] == "httptools" and options["loop"] == "uvloop"
    assert options["access_log"] is False and options["proxy_headers"] is False


def test_json_rpc_posts_skip_fastapis_middleware_stack_but_keep_its_checks():
    from starlette.testclient import TestClient

    from imochain.rpc.server import create_app
    node = build_node(NodeConfig(genesis_contracts=False))
    app = create_app(node, ui=False)
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    client = TestClient(app, base_url="http://127.0.0.1:8545")  # no `with`: no lifespan events
    try:
        reply = client.post("/", json=body, headers={"Origin": "http://localhost:3000"})
        assert reply.json()["result"] == "0x7a69"
        assert reply.headers["access-control-allow-origin"] == "http://localhost:3000"
        assert reply.headers["vary"] == "Origin"
        assert client.post("/", json=body, headers={"Origin": "http://evil.example"}).status_code == 403
        assert client.post("/", content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415
        assert app.middleware_stack is None  # built by Starlette on the first request it routes
        assert client.get("/").json()["chainId"] == 31337
        assert app.middleware_stack is not None
    finally:
        node.close()


def test_head_reads_answer_on_the_event_loop_while_the_lock_and_workers_are_busy(monkeypatch):
    """eth_blockNumber, eth_chainId and eth_gasPrice read the head without the lock and are
    answered on the event loop itself: they answer while a long block holds the lock and every
    worker thread is taken."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from imochain.rpc import server
    from imochain.testing import rpc, running_node
    node = build_node(NodeConfig(genesis_contracts=False))
    with running_node(node=node) as url:
        expected = rpc(url, "eth_gasPrice")["result"]
        held, release = threading.Event(), threading.Event()

        def hold() -> None:
            with node.lock:
                held.set()
                release.wait(120)  # longer than rpc()'s 60 s timeout: a queued request fails
        busy = ThreadPoolExecutor(max_workers=1)
        monkeypatch.setattr(server, "_executor", busy)
        busy.submit(hold)
        try:
            assert held.wait(60)
            answers = [rpc(url, m)["result"] for m in ("eth_blockNumber", "eth_chainId", "eth_gasPrice")]
            assert not release.is_set()  # answered with the lock held and the only worker taken
        finally:
            release.set()
            busy.shutdown()
        assert answers == ["0x0", "0x7a69", expected]


def test_an_idle_connection_is_kept_past_uvicorns_5_s():
    """A client reusing its connection after 6 s idle gets its answer (uvicorn's default closed it
    at 5 s; a process stalled that long had every pooled client's next request refused)."""
    import http.client
    import json
    import time

    from imochain.testing import running_node
    with running_node(NodeConfig(genesis_contracts=False)) as url:
        conn = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=60)
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
        for wait in (0, 6):
            time.sleep(wait)
            conn.request("POST", "/", body, {"Content-Type": "application/json"})
            assert json.loads(conn.getresponse().read())["result"] == "0x7a69"
        conn.close()
