"""The FastAPI app: JSON-RPC over HTTP POST and WebSocket on one port."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response

from . import dev, eth, filters  # noqa: F401  (registers methods)
from .dispatch import METHODS, Context, error_response, handle_payload
from .filters import FilterManager, subscription_payloads

try:  # optional namespaces: present once their packages are
    from . import debug  # noqa: F401
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


def create_app(node) -> FastAPI:
    app = FastAPI(title="imochain JSON-RPC", docs_url=None, redoc_url=None, openapi_url=None)
    # Browser dapps (ethers, viem, web3.js in a page on another port) need CORS, which anvil
    # allows from any origin by default.
    from fastapi.middleware.cors import CORSMiddleware
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST", "OPTIONS"],
                       allow_headers=["*"])
    manager = FilterManager(node)
    app.state.node = node
    app.state.filters = manager
    http_ctx = Context(node, manager)

    @app.post("/")
    async def rpc_http(request: Request) -> Response:
        length = request.headers.get("content-length")
        too_large = length is not None and length.isdigit() and int(length) > MAX_BODY
        chunks: list[bytes] = []  # joined once: `body += chunk` is quadratic for big uploads
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                too_large = True
            if too_large:
                # Drain (up to a cap) before answering: a client still sending would otherwise
                # get a connection reset instead of the error.
                if size > DRAIN_LIMIT:
                    break
                continue
            chunks.append(chunk)
        if too_large:
            return JSONResponse(error_response(None, -32600, "request body too large"), status_code=413)
        body = b"".join(chunks)
        # Chain work runs right here: one owner for py-evm, and no thread hop per request.
        result = handle_payload(http_ctx, body)
        if result is None:
            return Response(status_code=204)
        return Response(_dumps(result), media_type="application/json")

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

    return app


def serve(node, host: str = "127.0.0.1", port: int = 8545, log_level: str = "warning") -> None:
    import uvicorn
    config = uvicorn.Config(create_app(node), host=host, port=port, log_level=log_level,
                            access_log=False, ws_max_size=MAX_BODY, lifespan="off")
    uvicorn.Server(config).run()
