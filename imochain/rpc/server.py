"""The FastAPI app: JSON-RPC over HTTP POST and WebSocket on one port."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from imochain.chain import answer_first

from . import config, dev, eth, filters, proof, raw, simulate, spec_extras, testing_ns  # noqa: F401  (registers methods)
from . import onloop
from .browser import BrowserGuard, BrowserPolicy
from .dispatch import METHODS, Context, error_response, handle_parsed, handle_payload, method_name, parse
from .filters import FilterManager
from .websocket import SLOW_CONSUMER, WsConnection, WsLimits, dumps

try:  # optional namespaces: present once their packages are
    from . import debug, trace  # noqa: F401
except ImportError:
    pass
try:
    from . import imo  # noqa: F401
except ImportError:
    pass
from . import forked  # noqa: F401,E402  (wraps the methods above: last)

log = logging.getLogger("imochain.rpc")

MAX_BODY = 64 * 1024 * 1024  # model uploads travel as hex; anything bigger is refused
# Idle keep-alive connections are kept this long: with uvicorn's 5 s, a process stalled 5 s (a loaded
# machine) closed connections its clients were reusing ("Remote end closed connection without response").
KEEP_ALIVE_S = 120
DRAIN_LIMIT = 4 * MAX_BODY  # an oversized body is read and dropped up to this, then cut off


def _dumps(obj: Any) -> bytes:
    return dumps(obj).encode()


# Answered on the event loop itself: they read a field or two and never take the chain's lock
# (eth_gasPrice: the next base fee is a function of the head header alone, one attribute read;
# see docs/bench/profile_rpc.md for why that is safe while a block is being mined).
INLINE_METHODS = frozenset({"eth_chainId", "net_version", "eth_blockNumber", "web3_clientVersion",
                            "net_listening", "eth_syncing", "eth_gasPrice"})
_executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="imochain-rpc")


SMALL_BODY = 4096  # parsed on the event loop; bigger bodies are parsed on a worker thread


# Sends answered before their automined block is built (chain.answer_first): the client reads
# the hash and asks for the receipt while the block is built, instead of waiting for both in turn.
ANSWER_FIRST = frozenset({"eth_sendRawTransaction", "eth_sendTransaction"})


def _inline(payload: Any) -> bool:
    if type(payload) is dict:  # one request, the common case: no list and generator made for it
        return method_name(payload) in INLINE_METHODS
    reqs = payload if isinstance(payload, list) else [payload]
    return all(method_name(r) in INLINE_METHODS for r in reqs)


def _after_block(handle, ctx: Context, request: Any) -> Any:
    """A request that arrives while an answered send's block is built waits for that block
    (those that take the node's lock would anyway; this covers the few that read the head)."""
    if ctx.node.block_in_progress:
        with ctx.node.atomic():  # taken once the block is in
            pass
    return handle(ctx, request)


WRITE_WAIT_S = 0.005  # how long a send's thread waits for its answer to be written before the block


def _send_answering_first(ctx: Context, payload: dict, loop, future: asyncio.Future) -> None:
    """Runs one send on a worker thread: hands the answer to the event loop and waits (without
    the interpreter lock) until the loop has written it, then builds the block, still holding
    the node's lock taken at admission. Without the wait the loop would need the interpreter
    lock while the block is built, and the answer would go out only after it."""
    with answer_first() as after:
        try:
            result = handle_parsed(ctx, payload)
        except Exception as exc:  # handle_parsed answers every error itself: a last guard
            log.exception("send failed")
            result = error_response(payload.get("id"), -32603, f"internal error: {exc}")
    try:
        written = threading.Event()
        loop.call_soon_threadsafe(_settle, loop, future, result, written)
        if after:
            written.wait(WRITE_WAIT_S)
    finally:
        for work in after:
            work()


def _settle(loop, future: asyncio.Future, result: Any, written: threading.Event) -> None:
    if not future.done():  # cancelled when the client went away
        future.set_result(result)
    # queued after the request's task, which writes the answer when it resumes
    loop.call_soon(written.set)


async def run_payload(ctx: Context, body: bytes | str) -> Any:
    """Dispatch a request body. Chain work blocks (py-evm is pure Python), so all but bounded
    work (onloop) runs on a worker thread: the event loop stays free to answer every other
    client meanwhile. A small body is parsed once, here, to see where it can be answered."""
    loop = asyncio.get_running_loop()
    if len(body) <= SMALL_BODY:
        try:
            payload = parse(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return handle_payload(ctx, body)  # the parse error, answered at once
        if _inline(payload) and not ctx.node.block_in_progress:
            return handle_parsed(ctx, payload)
        if onloop.on_loop(ctx, payload):
            served, answer = onloop.serve(ctx, payload)
            if served:
                return answer
        if method_name(payload) in ANSWER_FIRST:
            future = loop.create_future()
            _executor.submit(_send_answering_first, ctx, payload, loop, future)
            return await future
        return await loop.run_in_executor(_executor, _after_block, handle_parsed, ctx, payload)
    return await loop.run_in_executor(_executor, _after_block, handle_payload, ctx, body)


class JsonRpcOverHttp:
    """POST / goes straight to the dispatcher as a bare ASGI handler, in front of FastAPI's
    middleware stack (which serves the rest: WebSocket, GET, CORS preflights). It makes the
    browser checks itself (the same BrowserGuard methods) and adds the CORS headers that
    Starlette's middleware would. Routing every call through FastAPI cost ~0.2 ms a request,
    and its five middleware layers another ~0.05 ms."""

    def __init__(self, guard: BrowserGuard, ctx: Context):
        self.guard = guard
        self.ctx = ctx

    async def __call__(self, scope, receive, send) -> None:
        problem = self.guard.problem(scope)
        if problem is not None:
            await self.guard.refuse(scope, receive, send, problem)
            return
        length = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
        too_large = length.isdigit() and int(length) > MAX_BODY
        chunks: list[bytes] = []  # joined once: `body += chunk` is quadratic for big uploads
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                too_large = True
            if not too_large:
                chunks.append(chunk)
            # Drain (up to a cap) before answering: a client still sending would otherwise
            # get a connection reset instead of the error.
            if not message.get("more_body") or size > DRAIN_LIMIT:
                break
        cors = self.guard.cors_headers(scope)
        if too_large:
            await _respond(send, 413, _dumps(error_response(None, -32600, "request body too large")), cors)
            return
        result = await run_payload(self.ctx, b"".join(chunks))
        if result is None:
            await _respond(send, 204, b"", cors)
        else:
            await _respond(send, 200, _dumps(result), cors)


class RpcApp(FastAPI):
    """The FastAPI app, with JSON-RPC POSTs to / answered before its middleware stack."""

    rpc_http: JsonRpcOverHttp | None = None

    async def __call__(self, scope, receive, send) -> None:
        if self.rpc_http is not None and scope["type"] == "http" and scope["method"] == "POST" \
                and scope["path"] == "/":
            await self.rpc_http(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


async def _respond(send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] = ()) -> None:
    headers = [(b"content-length", str(len(body)).encode()), *extra]
    if body:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(node, ui: bool = True, abi_dir: str | None = None, policy: BrowserPolicy | None = None,
               ws_limits: WsLimits = WsLimits()) -> FastAPI:
    """The app; `policy` says which hosts and browser origins may call (default: loopback
    and local dev servers)."""
    policy = policy or BrowserPolicy()
    app = RpcApp(title="imochain JSON-RPC", docs_url=None, redoc_url=None, openapi_url=None)
    manager = FilterManager(node)
    app.state.node = node
    app.state.filters = manager
    app.rpc_http = JsonRpcOverHttp(BrowserGuard(None, policy), Context(node, manager))
    # Browser dapps (ethers, viem, web3.js in a page on a local dev server) need CORS. The
    # guard first refuses foreign hosts, origins and non-JSON posts, then CORS answers
    # preflights and labels responses (for everything but POST /, which does both itself).
    from fastapi.middleware.cors import CORSMiddleware
    app.add_middleware(CORSMiddleware, allow_origins=["*"] if policy.any_origin else [],
                       allow_origin_regex=None if policy.any_origin else policy.regex,
                       allow_methods=["GET", "POST", "OPTIONS"], allow_headers=["*"], max_age=600)
    app.add_middleware(BrowserGuard, policy=policy)

    if not ui:  # with the explorer on, GET / is its home page (JSON still for Accept: application/json)
        @app.get("/")
        async def health() -> dict:
            return {"name": "imochain", "chainId": node.config.chain_id, "block": node.block_number,
                    "methods": len(METHODS)}

    @app.websocket("/")
    async def rpc_ws(ws: WebSocket) -> None:
        await ws.accept()
        conn = WsConnection(node, asyncio.get_running_loop(), ws_limits)
        manager.subscribers.append(conn.on_event)
        ctx = Context(node, manager, connection=conn)

        async def serve_requests() -> None:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                # web3.py's WebSocketProvider sends binary frames; accept text and bytes.
                text = message.get("text")
                if text is None:
                    text = message.get("bytes") or b""
                if len(text) > MAX_BODY:
                    result: Any = error_response(None, -32600, "request too large")
                else:
                    result = await run_payload(ctx, text)  # one at a time: answers keep their order
                if result is not None:
                    conn.put(dumps(result))

        tasks = [asyncio.create_task(serve_requests()), asyncio.create_task(conn.pump(ws.send_text)),
                 asyncio.create_task(conn.overflowed.wait())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if tasks[2] in done:
                log.warning("closing a WebSocket that stopped reading (over %d queued bytes)",
                            ws_limits.max_queued_bytes)
                for t in tasks[:2]:
                    t.cancel()
                conn.drop()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(SLOW_CONSUMER, "slow consumer: outbound queue full"), 15)
            else:
                for t in done:
                    if not t.cancelled() and t.exception() is not None and \
                            not isinstance(t.exception(), (WebSocketDisconnect, RuntimeError)):
                        log.warning("WebSocket ended: %r", t.exception())
        finally:
            for t in tasks:
                t.cancel()
            conn.drop()
            if conn.on_event in manager.subscribers:
                manager.subscribers.remove(conn.on_event)

    if ui:
        from imochain.ui import mount
        mount(app, Context(node, manager), abi_dir)
    return app


def uvicorn_options(log_level: str = "warning") -> dict:
    """How uvicorn runs the node: C parser (httptools) and loop (uvloop) when installed (they
    halve the server's CPU per small request against h11 + asyncio), no access log, no proxy
    header rewriting (a dev node behind no proxy)."""
    return dict(http="httptools" if importlib.util.find_spec("httptools") else "h11",
                loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
                log_level=log_level, access_log=False, proxy_headers=False, ws_max_size=MAX_BODY, lifespan="off",
                timeout_keep_alive=KEEP_ALIVE_S)


def serve(node, host: str = "127.0.0.1", port: int = 8545, log_level: str = "warning", ui: bool = True,
          abi_dir: str | None = None, policy: BrowserPolicy | None = None) -> None:
    import uvicorn
    config = uvicorn.Config(create_app(node, ui, abi_dir, policy or BrowserPolicy.for_bind(host)), host=host, port=port,
                            **uvicorn_options(log_level))
    uvicorn.Server(config).run(sockets=[_bind(host, port)])


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a taken port is an OSError the CLI reports (uvicorn
    would exit). Made with IPPROTO_TCP, as uvicorn makes it: asyncio sets TCP_NODELAY only on
    connections of such sockets, and without it every answer waited ~40 ms for a delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    return sock
