"""JSON-RPC 2.0 dispatch: method registry, batches, and the mapping of errors to codes."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from imochain.chain import (BlockNotFound, ChainError, ExecutionFailed, ExecutionReverted,
                            InvalidParams, TransactionRejected)

from .format import shapes
from .params import RpcError, hexb

log = logging.getLogger("imochain.rpc")

Handler = Callable[["Context", list], Any]
METHODS: dict[str, Handler] = {}

MAX_BATCH = 1000
MAX_DEPTH = 256  # JSON nesting; py_ecc raises the recursion limit to 100 000, so a deeply
                 # nested body would overflow the C stack inside json.loads (a segfault)


def _too_deep(body: bytes | str) -> bool:
    """True when brackets nest deeper than MAX_DEPTH (strings are not parsed: a conservative
    over-count is possible only for strings full of unbalanced brackets)."""
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return False
    import numpy as np
    arr = np.frombuffer(body, dtype=np.uint8)
    depth = 0
    for start in range(0, len(arr), 1 << 20):
        chunk = arr[start:start + (1 << 20)]
        step = ((chunk == 0x5B) | (chunk == 0x7B)).astype(np.int32) - ((chunk == 0x5D) | (chunk == 0x7D))
        running = np.cumsum(step) + depth
        if running.max() > MAX_DEPTH:
            return True
        depth = int(running[-1])
    return False


def method(*names: str):
    """Register a handler under one or more JSON-RPC names (anvil_ and hardhat_ aliases)."""
    def register(fn: Handler) -> Handler:
        for name in names:
            METHODS[name] = fn
        return fn
    return register


@dataclass
class Context:
    """What a handler sees: the node, the shared filters, and its connection (WebSocket)."""
    node: Any
    filters: Any
    connection: Any = None
    extras: dict = field(default_factory=dict)


def error_response(req_id: Any, code: int, message: str, data: Any = None) -> dict:
    err: dict = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": req_id, "error": err}


def handle_one(ctx: Context, req: Any) -> dict | None:
    if not isinstance(req, dict):
        return error_response(None, -32600, "invalid request: expected a JSON object")
    req_id = req.get("id")
    if req.get("jsonrpc") != "2.0" and "jsonrpc" in req:
        return error_response(req_id, -32600, "invalid request: jsonrpc must be \"2.0\"")
    name = req.get("method")
    if not isinstance(name, str):
        return error_response(req_id, -32600, "invalid request: missing method")
    params = req.get("params", [])
    if params is None:
        params = []
    if not isinstance(params, list):
        if isinstance(params, dict):
            params = [params]
        else:
            return error_response(req_id, -32602, "invalid params: expected an array")
    handler = METHODS.get(name)
    if handler is None:
        return error_response(req_id, -32601, f"the method {name} does not exist/is not available")
    shapes.set(getattr(ctx.node.config, "rpc_shapes", "anvil"))
    try:
        result = handler(ctx, params)
    except RpcError as exc:
        return error_response(req_id, exc.code, exc.message, exc.data)
    except ExecutionReverted as exc:
        return error_response(req_id, 3, str(exc), hexb(exc.data))
    except TransactionRejected as exc:
        return error_response(req_id, -32000, str(exc))
    except BlockNotFound as exc:
        return error_response(req_id, -32000, str(exc))
    except InvalidParams as exc:
        return error_response(req_id, -32602, str(exc))
    except ExecutionFailed as exc:
        return error_response(req_id, -32000, str(exc))
    except ChainError as exc:
        return error_response(req_id, -32000, str(exc))
    except Exception as exc:  # the node must answer, whatever a handler hits
        log.exception("internal error in %s", name)
        return error_response(req_id, -32603, f"internal error: {exc.__class__.__name__}: {exc}")
    if "id" not in req:
        return None  # a notification gets no answer
    return {"jsonrpc": "2.0", "id": req_id, "result": result}


def handle_payload(ctx: Context, body: bytes | str) -> Any:
    """Raw request body → response object (dict, list, or None when nothing to answer)."""
    if _too_deep(body):
        return error_response(None, -32700, f"parse error: JSON nested deeper than {MAX_DEPTH} levels")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return error_response(None, -32700, f"parse error: {exc}")
    if isinstance(payload, list):
        if not payload:
            return error_response(None, -32600, "invalid request: empty batch")
        if len(payload) > MAX_BATCH:
            return error_response(None, -32600, f"invalid request: batch larger than {MAX_BATCH}")
        out = [r for r in (handle_one(ctx, item) for item in payload) if r is not None]
        return out or None
    return handle_one(ctx, payload)
