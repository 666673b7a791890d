"""debug_ methods: transaction tracing with geth's struct logger and callTracer.

    debug_traceTransaction  [txHash, traceConfig?]
    debug_traceCall         [transaction, block?, traceConfig?]   (traceConfig.stateOverrides)
    debug_traceBlockByNumber / debug_traceBlockByHash  [block, traceConfig?] → [{txHash, result}]

traceConfig: tracer (omitted: struct logger; "callTracer", "4byteTracer", "noopTracer"),
tracerConfig ({onlyTopCall, withLog} for callTracer), disableStack, disableStorage,
enableMemory, enableReturnData, limit, timeout (a Go duration: "5s", "1m30s").

Bounds: a trace runs for at most `timeout` (default DEFAULT_TIMEOUT; geth's is 5 s) and a struct
log holds at most MAX_TRACE_BYTES of JSON and MAX_STRUCT_LOGS steps, for one transaction or a
whole block; past either the request fails with a clear error and the node carries on.
"""

from __future__ import annotations

import re
import time

from eth_utils import ValidationError

from imochain.chain import ChainError, InvalidParams
from imochain.chain.tracers import CallTracer, FourByteTracer, NoopTracer, StructLogger
from imochain.chain.tracing import MAX_TRACE_BYTES, TraceTimeout, TraceTooLarge, Tracer

from . import format as fmt
from . import params as p
from .dispatch import Context, method
from .params import RpcError, hexb, invalid

TRACERS = ("callTracer", "4byteTracer", "noopTracer")
LOGGER_FLAGS = {"disableStack": "disable_stack", "disableStorage": "disable_storage",
                "enableMemory": "enable_memory", "enableReturnData": "enable_return_data"}
CALL_TRACER_FLAGS = {"onlyTopCall": "only_top_call", "withLog": "with_log"}
DEFAULT_TIMEOUT = 30.0  # seconds; generous for a shared 2-core machine, still bounded


def _flags(obj: dict, names: dict[str, str], where: str) -> dict:
    out = {}
    for key, kw in names.items():
        if obj.get(key) is not None:
            out[kw] = p.boolean(obj[key], f"{where}.{key}")
    return out


def trace_config(value) -> dict:
    """Validate a traceConfig object; unknown keys are ignored, as geth does."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid("invalid traceConfig: expected an object")
    name = value.get("tracer")
    if name is not None and not isinstance(name, str):
        raise invalid("invalid traceConfig.tracer: expected a tracer name")
    if name and name not in TRACERS:
        raise invalid(f"unknown tracer {name[:80]!r}: supported are "
                      f"{', '.join(TRACERS)}, or no tracer for the struct logger "
                      "(JavaScript tracers are not supported)")
    _flags(value, LOGGER_FLAGS, "traceConfig")
    if value.get("limit") is not None:
        p.quantity(value["limit"], "traceConfig.limit", 2**63)
    tc = value.get("tracerConfig")
    if tc is not None and not isinstance(tc, dict):
        raise invalid("invalid traceConfig.tracerConfig: expected an object")
    if tc and name == "callTracer":
        _flags(tc, CALL_TRACER_FLAGS, "tracerConfig")
    if value.get("timeout") is not None:
        duration(value["timeout"])
    return value


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration(value) -> float:
    """A Go duration string ("5s", "1m30s", "500ms"), as geth's timeout takes → seconds."""
    bad = invalid(f"invalid traceConfig.timeout: {str(value)[:40]!r} is not a duration such as \"10s\"")
    if not isinstance(value, str) or not value:
        raise bad
    pos, total = 0, 0.0
    for m in _DURATION.finditer(value):
        if m.start() != pos:
            raise bad
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if pos != len(value):
        raise bad
    return total


def deadline(config: dict) -> float:
    """When a trace started now must stop (time.monotonic())."""
    timeout = config.get("timeout")
    return time.monotonic() + (duration(timeout) if timeout is not None else DEFAULT_TIMEOUT)


def make_tracer(config: dict, stop_at: float | None = None, max_bytes: int = MAX_TRACE_BYTES) -> Tracer:
    """A fresh tracer for one transaction, from a validated traceConfig; a block's traces share
    one deadline and one byte budget."""
    name = config.get("tracer") or None
    tracer: Tracer
    if name is None:
        limit = config.get("limit")
        tracer = StructLogger(**_flags(config, LOGGER_FLAGS, "traceConfig"), max_bytes=max_bytes,
                              limit=p.quantity(limit, "traceConfig.limit", 2**63) if limit is not None else 0)
    elif name == "callTracer":
        tracer = CallTracer(**_flags(config.get("tracerConfig") or {}, CALL_TRACER_FLAGS, "tracerConfig"))
    elif name == "4byteTracer":
        tracer = FourByteTracer()
    else:
        tracer = NoopTracer()
    tracer.deadline = stop_at if stop_at is not None else deadline(config)
    return tracer


def _top_error(comp):
    return comp.error if comp is not None and comp.is_error else None


def replay_mined(node, tx_hash: bytes, tracer: Tracer):
    """(receipt, tx info, computation) of a mined transaction re-run under `tracer`."""
    with node.atomic():  # the receipt and the replay must see the same chain
        receipt = node.get_receipt(tx_hash)
        if receipt is None:
            raise RpcError(-32000, "transaction not found")
        try:
            info, comp = node.replay_transaction(tx_hash, tracer)
        except InvalidParams:
            raise RpcError(-32000, "transaction not found") from None
        except ValidationError as exc:  # the recorded block no longer replays: say so plainly
            raise RpcError(-32000, f"cannot replay transaction: {exc}") from None
    return receipt, info, comp


def _trace_mined(node, tx_hash: bytes, config: dict, tracer: Tracer | None = None):
    tracer = tracer or make_tracer(config)
    receipt, info, comp = replay_mined(node, tx_hash, tracer)
    tx = info.tx
    top = {"from": info.sender, "to": tx.to or None, "value": tx.value, "input": tx.data}
    first_log = receipt.logs[0].log_index if receipt.logs else 0
    return tracer.result(gas_limit=tx.gas, gas_used=receipt.gas_used, output=comp.output,
                         error=_top_error(comp), top=top, log_index=first_log)


@method("debug_traceTransaction")
def trace_transaction(ctx: Context, params: list):
    tx_hash = p.hash32(p.arg(params, 0, "transactionHash"), "transactionHash")
    config = trace_config(p.arg(params, 1, "traceConfig", False))
    return _trace_mined(ctx.node, tx_hash, config)


@method("debug_traceCall")
def trace_call(ctx: Context, params: list):
    tx = p.tx_request(p.arg(params, 0, "transaction"))
    block = p.block_id(p.arg(params, 1, "block", False))
    config = trace_config(p.arg(params, 2, "traceConfig", False))
    overrides = p.state_overrides(config.get("stateOverrides"))
    if config.get("blockOverrides") is not None:
        raise invalid("traceConfig.blockOverrides is not supported")
    tracer = make_tracer(config)
    node = ctx.node
    block_gas = node.resolve_block(block).gas_limit  # also the call gas cap
    gas_limit = min(tx.get("gas") or block_gas, block_gas)
    result = node.execute_call(tx, block, overrides, tracer=tracer)  # off the lock, on its own state
    top = {"from": tx.get("from"), "to": tx.get("to"), "value": tx.get("value", 0),
           "input": tx.get("data", b"")}
    return tracer.result(gas_limit=gas_limit, gas_used=result.gas_used, output=result.output,
                         error=_top_error(result.computation), top=top)


def _trace_block(node, block_id, config: dict) -> list:
    with node.atomic():
        info = node.get_block(block_id)
        if info.number == 0 and fmt.shapes.get() == fmt.GETH:  # anvil answers [] for genesis
            raise p.RpcError(-32000, "genesis is not traceable")
        out = []
        stop_at, budget = deadline(config), MAX_TRACE_BYTES
        # each replay re-executes the block's earlier transactions: fine for dev-chain blocks
        for t in info.transactions:
            tracer = make_tracer(config, stop_at, budget)
            try:
                out.append({"txHash": hexb(t.hash), "result": _trace_mined(node, t.hash, config, tracer)})
            except RpcError as exc:  # one transaction's failure, as geth reports it
                out.append({"txHash": hexb(t.hash), "error": exc.message})
            except (TraceTooLarge, TraceTimeout):
                raise  # the block's trace as a whole is past its bounds
            except ChainError as exc:
                out.append({"txHash": hexb(t.hash), "error": str(exc)})
            budget -= getattr(tracer, "size", 0)
        return out


@method("debug_traceBlockByNumber")
def trace_block_by_number(ctx: Context, params: list):
    block = p.arg(params, 0, "block")
    if isinstance(block, str) and block.startswith("0x") and len(block) == 66:
        raise invalid("invalid block: expected a block number or tag, got a hash")
    block_id = p.block_id(block)
    config = trace_config(p.arg(params, 1, "traceConfig", False))
    return _trace_block(ctx.node, block_id, config)


@method("debug_traceBlockByHash")
def trace_block_by_hash(ctx: Context, params: list):
    block_hash = p.hash32(p.arg(params, 0, "blockHash"), "blockHash")
    config = trace_config(p.arg(params, 1, "traceConfig", False))
    return _trace_block(ctx.node, block_hash, config)
