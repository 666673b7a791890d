"""Run imochain inside a Python process: for tests, notebooks and scripts.

    from imochain.testing import in_process_web3, running_node
    w3, node = in_process_web3()            # web3.py wired straight to the dispatcher
    with running_node() as url: ...         # a real HTTP/WebSocket server on a free port

The pytest fixture `imochain_url` (see tests/conftest.py) wraps `running_node`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from typing import Any, Iterator

from imochain.builder import build_node
from imochain.chain import Node, NodeConfig


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class InProcessProvider:
    """A web3.py provider that calls the JSON-RPC dispatcher directly (no HTTP)."""

    def __new__(cls, node: Node):
        from web3.providers.base import JSONBaseProvider

        from imochain.rpc.dispatch import Context, handle_payload
        from imochain.rpc.filters import FilterManager
        from imochain.rpc import server  # noqa: F401  (registers every namespace)

        class _Provider(JSONBaseProvider):
            def __init__(self) -> None:
                super().__init__()
                self.node = node
                self.ctx = Context(node, FilterManager(node))

            def make_request(self, method: str, params: Any) -> Any:
                body = self.encode_rpc_request(method, params)
                return handle_payload(self.ctx, body)

            def is_connected(self, show_traceback: bool = False) -> bool:
                return True

        return _Provider()


def in_process_web3(config: NodeConfig | None = None, node: Node | None = None):
    """(Web3, Node): a fresh full node (or the given node) behind web3.py, no server."""
    from web3 import Web3
    node = node or build_node(config)
    return Web3(InProcessProvider(node)), node


class _ServerThread(threading.Thread):
    def __init__(self, node: Node, app_options: dict):
        super().__init__(daemon=True, name="imochain-rpc")
        import uvicorn

        from imochain.rpc.server import create_app, uvicorn_options
        # Bound here and handed over: a port chosen free and bound later can be taken between
        # (by any process's outgoing connection: they draw from the same ephemeral range).
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(create_app(node, **app_options), host="127.0.0.1",
                                                    port=self.port, **uvicorn_options()))

    def run(self) -> None:
        try:
            self.server.run(sockets=[self.socket])
        finally:
            self.socket.close()


@contextlib.contextmanager
def running_node(config: NodeConfig | None = None, node: Node | None = None, **app_options) -> Iterator[str]:
    """Serve a node (a fresh full one unless given) on a free loopback port for the duration of
    the block; yields its URL. `app_options` go to `create_app` (policy=BrowserPolicy(...),
    ws_limits=WsLimits(...))."""
    node = node or build_node(config)
    thread = _ServerThread(node, app_options)
    port = thread.port
    thread.start()
    deadline = time.time() + 60  # a bound on a hung start (it takes ~0.1 s), not a speed requirement
    while not thread.server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("imochain RPC server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        thread.server.should_exit = True
        thread.join(timeout=10)
        node.stop_interval_mining()


def rpc(url: str, method: str, params: list | None = None) -> Any:
    """One raw JSON-RPC call (stdlib only); returns the whole response object."""
    import urllib.request
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


@contextlib.contextmanager
def node_process(*args: str, timeout: float = 120) -> Iterator[str]:
    """Run `imochain node` as its own process (as a user would) on a free port; yields its URL.
    Unlike `running_node`, the server does not share this process's interpreter lock."""
    import sys

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "imochain.cli", "node", "--port", str(port), "--quiet", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"imochain node exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                rpc(url, "eth_blockNumber")
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("imochain node did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen, grace: float = 20) -> None:
    """Ask a child process to stop; kill it if it has not within `grace` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
