"""eth_simulateV1: blocks of calls with block and state overrides, answered as blocks with each
call's result (execution-apis; geth's and anvil's answers are the reference)."""

from __future__ import annotations

from imochain.chain import BlockInfo, TxInfo
from imochain.chain.simulate import MAX_BLOCKS, SimulationError

from . import format as fmt
from . import params as p
from .dispatch import Context, method
from .params import RpcError, hexb, hexq, invalid

BLOCK_OVERRIDES = {"number": 2**63, "time": 2**63, "gasLimit": 2**63, "baseFeePerGas": p.MAX_QUANTITY,
                   "blobBaseFee": p.MAX_QUANTITY}


def _block_overrides(obj) -> dict:
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise invalid("invalid blockOverrides: expected an object")
    out = {}
    for key, limit in BLOCK_OVERRIDES.items():
        if obj.get(key) is not None:
            out[key] = p.quantity(obj[key], f"blockOverrides.{key}", limit)
    if obj.get("feeRecipient") is not None:
        out["feeRecipient"] = p.address(obj["feeRecipient"], "blockOverrides.feeRecipient")
    if obj.get("prevRandao") is not None:
        out["prevRandao"] = p.hash32(obj["prevRandao"], "blockOverrides.prevRandao")
    return out


def _block_call(obj, index: int) -> dict:
    if not isinstance(obj, dict):
        raise invalid(f"invalid blockStateCalls[{index}]: expected an object")
    overrides = obj.get("stateOverrides") or {}
    if not isinstance(overrides, dict):
        raise invalid("invalid stateOverrides: expected an object keyed by address")
    moves, plain = {}, {}
    for address, entry in overrides.items():
        if isinstance(entry, dict) and entry.get("movePrecompileToAddress") is not None:
            moves[p.address(address, "stateOverrides address")] = p.address(
                entry["movePrecompileToAddress"], "movePrecompileToAddress")
            entry = {k: v for k, v in entry.items() if k != "movePrecompileToAddress"}
        plain[address] = entry
    calls = obj.get("calls") or []
    if not isinstance(calls, list):
        raise invalid("invalid calls: expected an array")
    return {"block": _block_overrides(obj.get("blockOverrides")), "state": p.state_overrides(plain),
            "moves": moves, "calls": [p.tx_request(c, f"calls[{i}]") for i, c in enumerate(calls)]}


@method("eth_simulateV1")
def simulate_v1(ctx: Context, params: list):
    opts = p.arg(params, 0, "simulation")
    if not isinstance(opts, dict) or not isinstance(opts.get("blockStateCalls"), list):
        raise invalid("invalid simulation: expected an object with a blockStateCalls array")
    if len(opts["blockStateCalls"]) > MAX_BLOCKS:
        raise RpcError(-38026, f"too many blocks: at most {MAX_BLOCKS}")
    blocks = [_block_call(b, i) for i, b in enumerate(opts["blockStateCalls"])]
    flags = {k: p.boolean(opts.get(k, False), k) for k in ("validation", "traceTransfers", "returnFullTransactions")}
    block_id = p.block_id(p.arg(params, 1, "block", required=False))
    try:
        simulated = ctx.node.simulate(blocks, block_id, flags["validation"], flags["traceTransfers"])
    except SimulationError as exc:
        raise RpcError(exc.code, str(exc)) from None
    return [_block_json(b, flags["returnFullTransactions"]) for b in simulated]


def _block_json(block, full: bool) -> dict:
    h = block.header
    base_fee = getattr(h, "base_fee_per_gas", None)
    txs = [TxInfo(c.tx, c.tx.hash, c.sender, h.hash, h.block_number, i, base_fee, h.timestamp)
           for i, c in enumerate(block.calls)]
    out = fmt.block(BlockInfo(h, txs, block.size), full)
    calls, log_index = [], 0
    for i, c in enumerate(block.calls):
        logs = []
        for address, topics, data in c.logs:
            logs.append({"address": fmt.addr(address), "topics": [hexb(t) for t in topics], "data": hexb(data),
                         "blockNumber": hexq(h.block_number), "transactionHash": hexb(c.tx.hash),
                         "transactionIndex": hexq(i), "blockHash": hexb(h.hash),
                         "blockTimestamp": hexq(h.timestamp), "logIndex": hexq(log_index), "removed": False})
            log_index += 1
        entry = {"returnData": hexb(c.return_data), "logs": logs, "gasUsed": hexq(c.gas_used),
                 "maxUsedGas": hexq(c.max_used_gas), "status": hexq(c.status)}
        if c.error is not None:
            code, message, data = c.error
            entry["error"] = {"code": code, "message": message, **({"data": hexb(data)} if code == 3 else {})}
        calls.append(entry)
    out["calls"] = calls
    return out
