"""imo_ methods: the model store, inference quotes and dry runs, and the genesis contracts."""

from __future__ import annotations

from eth_abi import encode as abi_encode

from . import params as p
from .dispatch import Context, method
from .params import RpcError, hexb

MAX_MODEL_BYTES = 32 * 1024 * 1024


def _precompile(ctx: Context):
    if ctx.node.inference is None:
        raise RpcError(-32601, "this node runs without the inference precompile")
    return ctx.node.inference


def _call_data(ctx: Context, params: list) -> bytes:
    """The 0xA1 call data for (modelHash, tensor) or, for a text model, (modelHash, prompt,
    maxNewTokens=32, seed=0) where the prompt is hex bytes or plain text."""
    model_hash = p.hash32(p.arg(params, 0, "modelHash"), "modelHash")
    if ctx.node.inference.is_text(model_hash):
        from imochain.models.text import encode_text_call
        raw = p.arg(params, 1, "prompt")
        if not isinstance(raw, str):
            raise p.invalid("invalid prompt: expected a string")
        prompt = p.data(raw, "prompt") if raw.startswith("0x") else raw.encode("utf-8")
        cap = p.arg(params, 2, "maxNewTokens", False)
        seed = p.arg(params, 3, "seed", False)
        cap = 32 if cap is None else p.quantity(cap, "maxNewTokens", 2**32 - 1)
        seed = 0 if seed is None else p.quantity(seed, "seed", 2**64 - 1)
        return encode_text_call(model_hash, prompt, cap, seed)
    tensor = p.data(p.arg(params, 1, "tensor"), "tensor")
    return abi_encode(["bytes32", "bytes"], [model_hash, tensor])


def _precompile_error(exc) -> RpcError:
    return RpcError(-32000, f"inference failed: {getattr(exc, 'reason', exc)}")


@method("imo_listModels")
def list_models(ctx: Context, params: list):
    return _precompile(ctx).list()


@method("imo_uploadModel")
def upload_model(ctx: Context, params: list):
    from imochain.precompiles import PrecompileError
    _precompile(ctx)
    blob = p.arg(params, 0, "model")
    if isinstance(blob, str) and len(blob) > 2 * MAX_MODEL_BYTES + 2:
        raise p.invalid(f"invalid model: larger than {MAX_MODEL_BYTES // 2**20} MiB")
    data = p.data(blob, "model")
    try:
        return hexb(ctx.node.inference.add_model(data))
    except PrecompileError as exc:
        raise p.invalid(f"invalid model: {getattr(exc, 'reason', exc)}") from None


@method("imo_quoteGas")
def quote_gas(ctx: Context, params: list):
    from imochain.precompiles import PrecompileError
    pc = _precompile(ctx)
    try:
        return hex(pc.gas_cost(_call_data(ctx, params)))
    except PrecompileError as exc:
        raise _precompile_error(exc) from None


@method("imo_dryRun")
def dry_run(ctx: Context, params: list):
    from imochain.precompiles import PrecompileError
    pc = _precompile(ctx)
    try:
        return pc.dry_run(_call_data(ctx, params))  # the model service is inference's one owner
    except PrecompileError as exc:
        raise _precompile_error(exc) from None


@method("imo_contracts")
def contracts(ctx: Context, params: list):
    try:
        from imochain.contracts import GENESIS_ADDRESSES, abi
    except ImportError:
        return {}
    out = {}
    for name, address in GENESIS_ADDRESSES.items():
        if ctx.node.get_code(bytes.fromhex(address[2:])):
            out[name] = {"address": address, "abi": abi(name)}
    return out


def _worker(ctx: Context):
    from imochain.oracle import oracle_worker
    worker = oracle_worker(ctx.node)
    if worker is None:
        raise RpcError(-32601, "this node runs without the oracle worker")
    return worker


@method("imo_setOracleFaults")
def set_oracle_faults(ctx: Context, params: list):
    """The fault switch: the fraction of results the worker falsifies (for teaching and tests)."""
    rate = p.arg(params, 0, "rate")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise p.invalid("invalid rate: expected a number between 0 and 1")
    _worker(ctx).fault_rate = float(rate)
    return True


@method("imo_oracleStatus")
def oracle_status(ctx: Context, params: list):
    """What the worker did: one entry per forward pass (block, model, batch size, µs)."""
    worker = _worker(ctx)
    with ctx.node.atomic():
        failed = [r.to_json() for r in worker.book.failed()[-1000:]]
        rejected = [r.to_json() for r in list(worker.book.records.values())[-1000:] if r.state == "rejected"]
        return {"faultRate": worker.fault_rate, "maxTextTokens": worker.text_tokens,
                "passes": [{"block": r.block, "model": r.model, "modelHash": r.model_hash,
                            "requests": r.request_ids, "batchSize": r.batch_size, "micros": r.micros,
                            "faulty": r.faulty} for r in worker.records[-1000:]],
                "failedCallbacks": failed, "rejected": rejected}


@method("imo_getRequest")
def get_request(ctx: Context, params: list):
    """One oracle request as the node saw it: the request, its state (pending, answered,
    rejected, callback failed, challenged, finalized, dropped) and why, the batch, the forward pass's µs
    and the transactions involved; null for an id this node's worker never saw."""
    request_id = p.quantity(p.arg(params, 0, "requestId"), "requestId")
    worker = _worker(ctx)
    with ctx.node.atomic():
        record = worker.book.get(request_id)
        if record is None:
            return None
        settled = record.state in ("answered", "challenged") and _finalized(ctx, worker, request_id)
        return record.to_json(finalized=settled)


def _finalized(ctx: Context, worker, request_id: int) -> bool:
    from eth_abi import decode as abi_decode
    from eth_utils import function_signature_to_4byte_selector
    data = function_signature_to_4byte_selector("isFinalized(uint256)") + abi_encode(["uint256"], [request_id])
    try:
        return bool(abi_decode(["bool"], ctx.node.call({"to": worker.oracle, "data": data}))[0])
    except Exception:  # an oracle without the opML extension: nothing to add
        return False
