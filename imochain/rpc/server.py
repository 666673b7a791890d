"""The FastAPI app: JSON-RPC over HTTP POST and WebSocket on one port."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from . import config, dev, eth, filters, proof, raw  # noqa: F401  (registers methods)
from .dispatch import METHODS, Context, error_response, handle_payload
from .filters import FilterManager, subscription_payloads

try:  # optional namespaces: present once their packages are
    from . import debug, trace  # noqa: F401
except ImportError:
    pass
try:
    from . import imo  # noqa: F401
except ImportError:
    pass

log = logging.getLogger("imochain.rpc")

MAX_BODY = 64 * 1024 * 1024  # model uploads travel as hex; anything bigger is refused
DRAIN_LIMIT = 4 * MAX_BODY  # an oversized body is read and dropped up to this, then cut off


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class WsConnection:
    """One WebSocket: its subscriptions and an outbound queue fed from any thread."""

    _ids = itertools.count(1)

    def __init__(self, node, loop: asyncio.AbstractEventLoop):
        self.node = node
        self.loop = loop
        self.queue: asyncio.Queue = asyncio.Queue()
        self.subs: dict[str, tuple[str, Any]] = {}

    def subscribe(self, kind: str, criteria) -> str:
        sid = hex(next(self._ids) * 0x9E3779B97F4A7C15 % (1 << 128))
        self.subs[sid] = (kind, criteria)
        return sid

    def unsubscribe(self, sid: str) -> bool:
        return self.subs.pop(sid, None) is not None

    def on_event(self, event: str, obj) -> None:
        for sid, (kind, criteria) in list(self.subs.items()):
            for payload in subscription_payloads(self.node, kind, criteria, event, obj):
                msg = {"jsonrpc": "2.0", "method": "eth_subscription",
                       "params": {"subscription": sid, "result": payload}}
                self.loop.call_soon_threadsafe(self.queue.put_nowait, msg)


class JsonRpcOverHttp:
    """POST / goes straight to the dispatcher as a bare ASGI handler; FastAPI serves the rest
    (WebSocket, GET, CORS). Routing every call through FastAPI cost ~0.2 ms a request, a
    sixth of an automined transfer's two round trips."""

    def __init__(self, app, ctx: Context):
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/":
            await self.app(scope, receive, send)
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
        if too_large:
            await _respond(send, 413, _dumps(error_response(None, -32600, "request body too large")))
            return
        # Chain work runs right here: one owner for py-evm, and no thread hop per request.
        result = handle_payload(self.ctx, b"".join(chunks))
        if result is None:
            await _respond(send, 204, b"")
        else:
            await _respond(send, 200, _dumps(result))


async def _respond(send, status: int, body: bytes) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if body:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(node, ui: bool = True, abi_dir: str | None = None) -> FastAPI:
    app = FastAPI(title="imochain JSON-RPC", docs_url=None, redoc_url=None, openapi_url=None)
    manager = FilterManager(node)
    app.state.node = node
    app.state.filters = manager
    app.add_middleware(JsonRpcOverHttp, ctx=Context(node, manager))
    # Browser dapps (ethers, viem, web3.js in a page on another port) need CORS, which anvil
    # allows from any origin by default. Added last, it is the outermost layer, so it also
    # wraps the JSON-RPC handler above.
    from fastapi.middleware.cors import CORSMiddleware
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST", "OPTIONS"],
                       allow_headers=["*"])

    if not ui:  # with the explorer on, GET / is its home page (JSON still for Accept: application/json)
        @app.get("/")
        async def health() -> dict:
            return {"name": "imochain", "chainId": node.config.chain_id, "block": node.block_number,
                    "methods": len(METHODS)}

    @app.websocket("/")
    async def rpc_ws(ws: WebSocket) -> None:
        await ws.accept()
        conn = WsConnection(node, asyncio.get_running_loop())
        manager.subscribers.append(conn.on_event)
        ctx = Context(node, manager, connection=conn)

        async def pump() -> None:
            while True:
                msg = await conn.queue.get()
                await ws.send_text(json.dumps(msg))

        sender = asyncio.create_task(pump())
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                # web3.py's WebSocketProvider sends binary frames; accept text and bytes.
                text = message.get("text")
                if text is None:
                    text = message.get("bytes") or b""
                if len(text) > MAX_BODY:
                    result: Any = error_response(None, -32600, "request too large")
                else:
                    result = handle_payload(ctx, text)
                if result is not None:
                    conn.queue.put_nowait(result)
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()
            if conn.on_event in manager.subscribers:
                manager.subscribers.remove(conn.on_event)

    if ui:
        from imochain.ui import mount
        mount(app, Context(node, manager), abi_dir)
    return app


def serve(node, host: str = "127.0.0.1", port: int = 8545, log_level: str = "warning", ui: bool = True,
          abi_dir: str | None = None) -> None:
    import uvicorn
    config = uvicorn.Config(create_app(node, ui, abi_dir), host=host, port=port, log_level=log_level,
                            access_log=False, ws_max_size=MAX_BODY, lifespan="off")
    uvicorn.Server(config).run()
