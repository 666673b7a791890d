"""Requests a restarted node still owes an answer: found on its chain and served once more.

A node on a `--db` folder may stop while an answer is being generated or while the answer's
transaction waits in the pool (the pool is not kept on disk). On start the worker reads the
oracle's `AICallbackRequest` events from its chain, keeps those the oracle still lists as
Pending, and serves them before anything queued later. A request whose answer was mined is no
longer Pending, so nothing is answered twice.
"""

from __future__ import annotations

import logging

from .worker import REQUEST_V1, REQUEST_V2

log = logging.getLogger("imochain.oracle")

SCAN_BLOCKS = 256  # blocks per log query: the node's lock is free between them


def pending_requests(worker) -> list:
    """The worker's Requests (oldest first) that its chain's oracle still lists as Pending."""
    node = worker.node
    first = node.fork.number + 1 if node.fork is not None else 0  # only this node's own blocks
    head = node.block_number
    blocks: list[int] = []
    for lo in range(first, head + 1, SCAN_BLOCKS):
        logs = node.get_logs(lo, min(head, lo + SCAN_BLOCKS - 1), [worker.oracle], [[REQUEST_V1, REQUEST_V2]])
        blocks += sorted({entry.block_number for entry in logs})
    out = []
    for number in blocks:
        out += [r for r in worker._requests(node.get_block(number)) if worker._pending(r.request_id)]
    return sorted(out, key=lambda r: r.request_id)


def recover(worker) -> int:
    """Serve the requests still pending on the chain; returns how many there were."""
    try:
        requests = pending_requests(worker)
    except Exception:  # a chain we cannot scan must not stop the node
        log.warning("oracle: could not look for pending requests", exc_info=True)
        return 0
    if not requests:
        return 0
    log.info("oracle: %d request(s) still pending on the chain: answering them", len(requests))
    for r in requests:
        worker.book.requested(r.request_id, r.model_id, r.account, r.callback, r.gas_limit, len(r.input),
                              r.block, r.tx_hash)
    worker._serve(requests, first=True)
    return len(requests)
