"""trace_ methods: Parity-style flat call traces of mined transactions, as anvil returns them.

    trace_transaction  [txHash]       → [trace, ...] in call order
    trace_block        [blockNumber]  → the traces of every transaction of the block
    trace_filter       [{fromBlock, toBlock, fromAddress, toAddress, after, count}]

Each trace: {action, blockHash, blockNumber, result | error, subtraces, traceAddress,
transactionHash, transactionPosition, type}. Calls into precompiles (0xA1 inference included)
are listed with their real output: the one place outside this node where a tool sees what 0xA1
returned, since Foundry's own EVM cannot run it.
"""

from __future__ import annotations

from eth_utils import to_checksum_address

from imochain.chain import ChainError
from imochain.chain.tracers import CallTracer

from . import params as p
from .debug import replay_mined
from .dispatch import Context, method
from .params import RpcError, hexb, hexq, invalid

CALL_TYPES = {"CALL": "call", "STATICCALL": "staticcall", "DELEGATECALL": "delegatecall",
              "CALLCODE": "callcode"}


def _error(text: str) -> str:
    # Parity (and anvil) name a revert "Reverted"; other failures keep their message
    return "Reverted" if text == "execution reverted" else text


def _action(frame) -> tuple[str, dict]:
    kind = frame.type
    if kind == "SELFDESTRUCT":
        return "suicide", {"address": to_checksum_address(frame.sender),
                           "refundAddress": to_checksum_address(frame.to), "balance": hexq(frame.value or 0)}
    if kind in ("CREATE", "CREATE2"):
        return "create", {"from": to_checksum_address(frame.sender), "gas": hexq(frame.gas),
                          "init": hexb(frame.input), "value": hexq(frame.value or 0),
                          "creationMethod": kind.lower()}
    return "call", {"from": to_checksum_address(frame.sender), "callType": CALL_TYPES.get(kind, "call"),
                    "gas": hexq(frame.gas), "input": hexb(frame.input),
                    "to": to_checksum_address(frame.to) if frame.to else None,
                    "value": hexq(frame.value or 0)}


def _result(kind: str, frame) -> dict | None:
    if kind == "suicide" or frame.error is not None:
        return None
    if kind == "create":
        return {"address": to_checksum_address(frame.to) if frame.to else None,
                "code": hexb(frame.output or b""), "gasUsed": hexq(frame.gas_used)}
    return {"gasUsed": hexq(frame.gas_used), "output": hexb(frame.output or b"")}


def flatten(root, where: dict) -> list[dict]:
    """The call tree of one transaction → Parity's flat list (depth first, with traceAddress)."""
    out: list[dict] = []

    def visit(frame, address: list[int]) -> None:
        kind, action = _action(frame)
        entry = {"action": action, **where, "result": _result(kind, frame),
                 "subtraces": len(frame.calls), "traceAddress": address, "type": kind}
        if frame.error is not None:
            entry["error"] = _error(frame.error)
        out.append(entry)
        for i, child in enumerate(frame.calls):
            visit(child, address + [i])

    visit(root, [])
    return out


def transaction_traces(node, tx_hash: bytes) -> list[dict]:
    tracer = CallTracer()
    receipt, info, _ = replay_mined(node, tx_hash, tracer)
    root = tracer.root
    if root is None:  # no frame ran (an address collision): describe the transaction alone
        root = _bare_frame(info, receipt)
    where = {"blockHash": hexb(receipt.block_hash), "blockNumber": receipt.block_number,
             "transactionHash": hexb(tx_hash), "transactionPosition": receipt.tx_index}
    return flatten(root, where)


def _bare_frame(info, receipt):
    from imochain.chain.tracers import _Frame
    tx = info.tx
    frame = _Frame("CREATE" if not tx.to else "CALL", info.sender, tx.to or None, tx.value, tx.gas, tx.data)
    frame.gas_used = receipt.gas_used
    frame.error = "failed" if receipt.status != 1 else None
    return frame


@method("trace_transaction")
def trace_transaction(ctx: Context, params: list):
    return transaction_traces(ctx.node, p.hash32(p.arg(params, 0, "transactionHash"), "transactionHash"))


@method("trace_block")
def trace_block(ctx: Context, params: list):
    block = p.arg(params, 0, "block")
    if isinstance(block, str) and block.startswith("0x") and len(block) == 66:
        raise invalid("invalid block: expected a block number or tag, got a hash")
    node = ctx.node
    with node.atomic():
        info = node.get_block(p.block_id(block))
        out: list[dict] = []
        for t in info.transactions:
            try:
                out += transaction_traces(node, t.hash)
            except ChainError as exc:  # one transaction that no longer replays: say which
                raise RpcError(-32000, f"cannot trace transaction {hexb(t.hash)}: {exc}") from None
        return out


MAX_FILTER_BLOCKS = 1000  # each block is replayed: a bounded range keeps the node responsive


def _addresses(value, field: str) -> set[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise invalid(f"invalid {field}: expected an array of addresses")
    return {to_checksum_address(p.address(a, field)) for a in value}


def _ends(trace: dict) -> tuple[str | None, str | None]:
    action, result = trace["action"], trace.get("result") or {}
    if trace["type"] == "suicide":
        return action["address"], action["refundAddress"]
    if trace["type"] == "create":
        return action["from"], result.get("address")
    return action["from"], action.get("to")


@method("trace_filter")
def trace_filter(ctx: Context, params: list):
    spec = p.arg(params, 0, "filter")
    if not isinstance(spec, dict):
        raise invalid("invalid filter: expected an object")
    node = ctx.node
    senders = _addresses(spec.get("fromAddress"), "fromAddress")
    receivers = _addresses(spec.get("toAddress"), "toAddress")
    after = p.quantity(spec["after"], "after") if spec.get("after") is not None else 0
    count = p.quantity(spec["count"], "count") if spec.get("count") is not None else None
    with node.atomic():
        lo = node.resolve_block(p.block_id(spec.get("fromBlock", "latest"))).block_number
        hi = node.resolve_block(p.block_id(spec.get("toBlock", "latest"))).block_number
        if lo > hi:
            raise invalid(f"invalid block range: fromBlock {lo} is after toBlock {hi}")
        if hi - lo >= MAX_FILTER_BLOCKS:
            raise invalid(f"block range too large: at most {MAX_FILTER_BLOCKS} blocks")
        matched: list[dict] = []
        for number in range(lo, hi + 1):
            for t in node.get_block(number).transactions:
                for trace in transaction_traces(node, t.hash):
                    sender, receiver = _ends(trace)
                    # both lists given: either end may match (OpenEthereum's rule, kept by anvil)
                    if senders is not None and receivers is not None:
                        if sender not in senders and receiver not in receivers:
                            continue
                    elif senders is not None and sender not in senders:
                        continue
                    elif receivers is not None and receiver not in receivers:
                        continue
                    matched.append(trace)
        matched = matched[after:]
        return matched if count is None else matched[:count]
