"""JSON-RPC 2.0 dispatch: method registry, batches, and the mapping of errors to codes."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from imochain import safejson
from imochain.chain import (BlockNotFound, ChainError, ExecutionFailed, ExecutionReverted,
                            InvalidParams, TransactionRejected)

from .format import shapes
from .params import RpcError, hexb

log = logging.getLogger("imochain.rpc")

Handler = Callable[["Context", list], Any]
METHODS: dict[str, Handler] = {}

MAX_BATCH = 1000
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


def method_name(req: Any) -> str | None:
    """A request's method when it is a string; None otherwise (a list or an object as the method
    cannot be looked up in a set of names: it is answered "invalid request" by the dispatcher)."""
    name = req.get("method") if type(req) is dict else None
    return name if type(name) is str else None


def _valid_id(req_id: Any) -> bool:
    """JSON-RPC ids are strings, numbers or null; a non-finite float (NaN, Infinity, 1e400)
    cannot even be written back as JSON."""
    if isinstance(req_id, float):
        return math.isfinite(req_id)
    return req_id is None or (isinstance(req_id, (str, int)) and not isinstance(req_id, bool))


def handle_one(ctx: Context, req: Any) -> dict | None:
    if not isinstance(req, dict):
        return error_response(None, -32600, "invalid request: expected a JSON object")
    req_id = req.get("id")
    if not _valid_id(req_id):
        return error_response(None, -32600, "invalid request: id must be a string, a finite number or null")
    if "id" not in req and isinstance(req.get("method"), str):
        _answer(ctx, req, None)  # a notification: run it, never answer it (JSON-RPC 2.0, 4.1)
        return None
    return _answer(ctx, req, req_id)


def _answer(ctx: Context, req: dict, req_id: Any) -> dict:
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
    return {"jsonrpc": "2.0", "id": req_id, "result": result}


def _not_json(name: str):
    raise ValueError(f"{name} is not JSON")


# Built once: json.loads builds a decoder (and its scanner) per call when given an option.
_DECODER = json.JSONDecoder(parse_constant=_not_json)


def parse(body: bytes | str) -> Any:
    """A request body as JSON (bounded nesting, no NaN/Infinity); raises ValueError,
    UnicodeDecodeError or RecursionError."""
    return safejson.loads(body, cls=lambda: _DECODER)  # json.loads decodes bytes, then calls cls()


def handle_payload(ctx: Context, body: bytes | str) -> Any:
    """Raw request body → response object (dict, list, or None when nothing to answer)."""
    try:
        payload = parse(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return error_response(None, -32700, f"parse error: {exc}")
    return handle_parsed(ctx, payload)


def handle_parsed(ctx: Context, payload: Any) -> Any:
    """A parsed request (one object or a batch) → response object."""
    if isinstance(payload, list):
        if not payload:
            return error_response(None, -32600, "invalid request: empty batch")
        if len(payload) > MAX_BATCH:
            return error_response(None, -32600, f"invalid request: batch larger than {MAX_BATCH}")
        out = [r for r in (handle_one(ctx, item) for item in payload) if r is not None]
        return out or None
    return handle_one(ctx, payload)
