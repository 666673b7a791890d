"""On a fork, what the remote answers: blocks, transactions, logs and state at or before the pinned block.

Each read method here is wrapped: when its block argument names the pinned block or an earlier
one (by number or by a hash the local chain does not have), or its transaction is not local,
the request goes to the remote as it came. The pinned block itself is served by the remote
too, since only the remote has its transactions and receipts. Import after every namespace.
"""

from __future__ import annotations

from typing import Any

from . import params as p
from .dispatch import METHODS, Context

# method → index of its block argument (state reads and block reads)
BLOCK_ARG = {
    "eth_getBalance": 1, "eth_getTransactionCount": 1, "eth_getCode": 1, "eth_getStorageAt": 2,
    "eth_call": 1, "eth_getProof": 2, "eth_getBlockByNumber": 0, "eth_getBlockByHash": 0, "eth_getBlockReceipts": 0,
    "eth_getBlockTransactionCountByNumber": 0, "eth_getBlockTransactionCountByHash": 0,
    "eth_getTransactionByBlockNumberAndIndex": 0, "eth_getTransactionByBlockHashAndIndex": 0,
}
# transaction lookups: tried locally first, then on the remote if mined at or before the pin
TX_METHODS = ("eth_getTransactionByHash", "eth_getTransactionReceipt")


STATE_METHODS = ("eth_getBalance", "eth_getTransactionCount", "eth_getCode", "eth_getStorageAt", "eth_call",
                 "eth_getProof")


def _is_remote_block(ctx: Context, name: str, params: list, index: int) -> bool:
    """Whether the request reads the remote's history: state before the pinned block (the
    pinned block's own state is local: dev accounts are funded on it), or blocks up to it."""
    fork = ctx.node.fork
    if fork is None:
        return False
    try:
        block = p.block_id(params[index] if len(params) > index else None)
    except Exception:
        return False  # the local handler reports the bad argument
    state = name in STATE_METHODS
    if isinstance(block, str) and block != "earliest":  # latest, pending, safe, finalized
        return not state and ctx.node.block_number == fork.number
    if block == "earliest":
        block = 0
    if isinstance(block, int):
        return block < fork.number if state else block <= fork.number
    if block == fork.hash:
        return not state
    return ctx.node.header_by_hash(block) is None


def _block_wrapper(name: str, handler, index: int):
    def wrapped(ctx: Context, params: list) -> Any:
        if _is_remote_block(ctx, name, params, index):
            result = ctx.node.fork.client.call(name, params)
            if name == "eth_getBlockByHash" and isinstance(result, dict):
                # a hash the remote learnt after the pin is not on this fork
                number = result.get("number")
                if not isinstance(number, str) or int(number, 16) > ctx.node.fork.number:
                    return None
            return result
        return handler(ctx, params)
    return wrapped


def _tx_wrapper(name: str, handler):
    def wrapped(ctx: Context, params: list) -> Any:
        result = handler(ctx, params)
        fork = ctx.node.fork
        if result is not None or fork is None:
            return result
        remote = fork.client.call(name, params)
        number = remote.get("blockNumber") if isinstance(remote, dict) else None
        if not isinstance(number, str) or int(number, 16) > fork.number:
            return None  # pending there, or mined after the pin: not part of this fork
        return remote
    return wrapped


def _logs_wrapper(handler):
    """eth_getLogs over a range that starts at or before the pinned block: the remote's logs up
    to it, then the local ones after it."""
    def wrapped(ctx: Context, params: list) -> Any:
        fork = ctx.node.fork
        query = params[0] if params and isinstance(params[0], dict) else None
        if fork is None or query is None:
            return handler(ctx, params)
        if query.get("blockHash") is not None:
            remote = _is_remote_block(ctx, "eth_getLogs", [query["blockHash"]], 0)
            return fork.client.call("eth_getLogs", params) if remote else handler(ctx, params)
        try:
            start, end = (p.block_id(query.get(k), k) for k in ("fromBlock", "toBlock"))
        except Exception:
            return handler(ctx, params)  # it reports the bad argument
        start = 0 if start == "earliest" else start
        if not isinstance(start, int) or start > fork.number:
            return handler(ctx, params)
        head = ctx.node.block_number
        end = head if not isinstance(end, int) else end
        until = min(end, fork.number)
        logs = fork.client.call("eth_getLogs", [dict(query, fromBlock=hex(start), toBlock=hex(until))])
        if end > fork.number:
            logs = list(logs) + handler(ctx, [dict(query, fromBlock=hex(fork.number + 1), toBlock=hex(end))])
        return logs
    return wrapped


def install() -> None:
    for name, index in BLOCK_ARG.items():
        if name in METHODS:
            METHODS[name] = _block_wrapper(name, METHODS[name], index)
    if "eth_getLogs" in METHODS:
        METHODS["eth_getLogs"] = _logs_wrapper(METHODS["eth_getLogs"])
    for name in TX_METHODS:
        if name in METHODS:
            METHODS[name] = _tx_wrapper(name, METHODS[name])


install()
