"""Requests the event loop serves itself when the node is free: reads of one entry, small sends, short calls.

A request handed to a worker thread pays the hand-off (executor, future, loop wake-up) and,
under the interpreter lock, the two threads' switches: about a quarter of the node's CPU per
automined transfer (send + receipt; docs/bench/profile_rpc.md, round 4). Hardhat's node serves
everything on its one loop. Here the loop serves only what is bounded: a read of one entry, a
send whose block is bounded by its own gas limit (the pool is empty, so the block holds it
alone), and an eth_call for at most CALL_S (past that it is given up midway and run again on a
worker, which costs the loop that long once). Everything else, and everything while the lock
is held elsewhere (a long eth_call, interval mining, a block in progress) or on a fork (whose
reads may wait on the remote), still goes to a worker, so a long request never stalls the loop.

A send's block is built after its answer is written (chain.answer_first): the block work is
queued behind the request's task, which writes the answer before it yields. Any request that
arrives meanwhile sees `block_in_progress` and waits for the block on a worker.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from imochain.chain import OverTime, answer_first, limits_enforced, time_limit

from . import params as p
from .dispatch import Context, handle_parsed, method_name

# Reads of one entry by key: a receipt, a transaction, an account field, a slot.
READS = frozenset({"eth_getTransactionReceipt", "eth_getTransactionByHash", "eth_getBalance",
                   "eth_getTransactionCount", "eth_getCode", "eth_getStorageAt"})
SENDS = frozenset({"eth_sendRawTransaction", "eth_sendTransaction"})
CALL_S = 0.01  # an eth_call longer than this is abandoned on the loop and run on a worker
# A send on the loop builds its block there: at most this much gas (an OpenZeppelin ERC-20
# transfer uses ~35 000, a typical contract deployment a few 100 000; py-evm runs ~10–30 Mgas/s).
SEND_GAS = 500_000


def on_loop(ctx: Context, payload: Any) -> bool:
    """Whether `payload` may run on the event loop (its cost is bounded and small). Takes no
    lock: a worker may hold the node's for seconds, and the loop must not wait for it."""
    if not isinstance(payload, dict) or ctx.node.fork is not None:
        return False
    name = method_name(payload)
    if name in READS:
        return True
    if name == "eth_call":
        return limits_enforced()
    if name == "eth_sendRawTransaction":
        return _raw_gas(ctx, payload.get("params")) <= SEND_GAS
    if name == "eth_sendTransaction":
        return _request_gas(payload.get("params")) <= SEND_GAS
    return False


def serve(ctx: Context, payload: dict) -> tuple[bool, Any]:
    """Answer on the loop: (True, answer), or (False, None) when the node's lock is busy (the
    caller hands the request to a worker). A send's block is queued behind this task."""
    limit = time_limit(CALL_S) if payload.get("method") == "eth_call" else contextlib.nullcontext()
    try:
        # a promised block holds the node's lock on its own (miner.automine_now)
        with ctx.node.atomic(wait=False) as node, answer_first() as after:
            if node is None or (payload.get("method") in SENDS and node.pending_count()):
                return False, None  # busy, or a block that would hold more than this send
            with limit:  # never a send's: a block is not given up midway
                answer = handle_parsed(ctx, payload)
    except OverTime:
        return False, None  # nothing it did is kept (a call's state is reverted on the way out)
    if after:
        loop = asyncio.get_running_loop()
        for work in after:
            loop.call_soon(work)
    return True, answer


def _raw_gas(ctx: Context, params: Any) -> int:
    """A signed transaction's gas limit; anything odd answers a huge number (the worker path
    reports what is wrong). The node keeps the decoded transaction for the admission."""
    try:
        return ctx.node.decode_raw(p.data(params[0], "transaction")).gas
    except Exception:
        return 1 << 256


def _request_gas(params: Any) -> int:
    """eth_sendTransaction: its explicit gas; without one the node estimates it, unbounded."""
    try:
        gas = params[0]["gas"]
        return int(gas, 16) if isinstance(gas, str) else 1 << 256
    except Exception:
        return 1 << 256
