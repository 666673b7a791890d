"""Slow oracle inference (text answers, big tensor batches) run on one thread off the node's lock.

The real ORA oracle is asynchronous: a request is mined, the operator runs the model, and the
answer arrives in a later block with the operator's `invokeCallback`. The worker does the same
for any inference the gas schedule prices above `OFFLOCK_GAS` (~5 ms at the 10 ns/gas anchor)
and for every text answer (seconds): while it runs, the node keeps answering RPC and mining.

Order of delivery: one FIFO queue, one thread. Slow answers are delivered in request-id order
(the order their requests were mined), each as soon as it is ready: with automine in a block of
its own; with interval or manual mining (`anvil_setAutomine false`, `evm_mine`) in the next
block mined after it is ready. Fast answers are still run at once under the lock and sent in
the next block, so they may overtake a slow one, as they would with ORA.

Stale answers: before an answer is sent, under the node's lock, its request must still be in
the canonical chain in the block it was seen in (an `evm_revert`, `anvil_reset` or a restart on
another chain drops it) and still Pending on-chain (one delivery). Check and send hold the lock
together, so no revert slips in between; a dropped answer is logged and never sent.
"""

from __future__ import annotations

import atexit
import collections
import logging
import threading
import weakref

log = logging.getLogger("imochain.oracle")

OFFLOCK_GAS = 500_000  # inference priced above this (≈5 ms at 10 ns/gas) runs off the lock
MAX_REMEMBERED = 10_000  # answers sent and dropped kept for the checks (bounded memory)
EXIT_WAIT_S = 120  # at interpreter exit, wait this long for a running job (torch must not be cut off)
_RUNNERS: "weakref.WeakSet[OffLockRunner]" = weakref.WeakSet()
GONE = "its request left the chain (evm_revert, anvil_reset or a reorg) before the answer was ready"


class OffLockRunner:
    """The worker's queue of slow inference jobs and the one thread that runs them."""

    def __init__(self, worker):
        self.worker = worker
        self.node = worker.node
        self._jobs: collections.deque = collections.deque()
        self._cond = threading.Condition()
        self._busy = False
        self._stopped = False
        self.stopping = threading.Event()  # set by stop(): a job may wait on it instead of sleeping
        self._sent: dict[int, tuple[bytes, bytes]] = {}  # request id → (its block hash, answer tx)
        self.dropped: list[int] = []  # requests whose answer was ready but whose request was gone
        self._thread = threading.Thread(target=self._loop, args=(weakref.ref(self), self._cond, self._jobs),
                                        name="imochain-oracle-offlock", daemon=True)
        self._thread.start()
        _RUNNERS.add(self)

    # -- what goes here ---------------------------------------------------------------------
    def is_slow(self, model_hash: bytes, group: list) -> bool:
        """Text answers always; tensor batches whose gas says they take more than a few ms."""
        from imochain.precompiles.gas import inference_gas
        pc = self.node.inference
        if pc.is_text(model_hash):
            return True
        try:
            graph = pc.model(model_hash).graph
        except Exception:  # an unknown model is refused at once, inline
            return False
        samples = sum(max(1, r.batch_size) for r in group)
        return inference_gas(graph, samples, sum(len(r.input) for r in group)) > OFFLOCK_GAS

    def submit(self, groups: list[tuple[bytes, list]], first: bool = False) -> None:
        """Queue slow groups (model hash, requests): a text request is a job of its own (answered
        as soon as it is ready), a tensor group one batched pass. Called under the node's lock,
        so the fault switch's draws keep the chain's order. `first`: ahead of the queue (a
        restarted node's older requests)."""
        jobs = []
        for model_hash, group in groups:
            parts = [[r] for r in group] if self.node.inference.is_text(model_hash) else [group]
            jobs += [(model_hash, part) for part in parts]
        jobs.sort(key=lambda job: min(r.request_id for r in job[1]))
        jobs = [(model_hash, part, {r.request_id: self.worker._faulty(r, None) for r in part})
                for model_hash, part in jobs]
        with self._cond:
            if first:
                self._jobs.extendleft(reversed(jobs))
            else:
                self._jobs.extend(jobs)
            self._cond.notify_all()

    def submit_call(self, fn, first: bool = False) -> None:
        """Run `fn()` on this thread (a restarted node's pending requests, the models' warm-up):
        work that must not be cut off inside torch when the process exits."""
        with self._cond:
            if first:
                self._jobs.appendleft(fn)
            else:
                self._jobs.append(fn)
            self._cond.notify_all()

    # -- the thread -------------------------------------------------------------------------
    @staticmethod
    def _loop(ref, cond, jobs) -> None:
        """The thread: holds its runner weakly while idle, so a node nobody uses can be freed
        (the thread then ends)."""
        while True:
            with cond:
                runner = ref()
                while runner is not None and not runner._stopped and not jobs:
                    runner = None
                    cond.wait(1.0)
                    runner = ref()
                if runner is None or runner._stopped:
                    return
                job = jobs.popleft()
                runner._busy = True
            try:
                job() if callable(job) else runner.run(*job)
            except Exception:  # one failed job must not stop the queue
                log.exception("oracle: off-lock job failed")
            finally:
                with cond:
                    runner._busy = False
                    cond.notify_all()
            runner = job = None

    def run(self, model_hash: bytes, group: list, faults: dict | None = None) -> None:
        """Run one job off the lock, then check and send its answers under the lock."""
        worker = self.worker
        group = [r for r in group if self._closed(r) is None]  # reverted or answered meanwhile: skip the work
        if not group:
            return
        answers = worker._run_group(model_hash, group, faults)
        with self.node.batched():
            if self._stopped:
                return  # the node is shutting down: a restart answers it (oracle.recovery)
            live = []
            for answer in answers:
                why = self._closed(answer[0])
                if why is None:
                    live.append(answer)
                else:
                    self._drop(answer[0], why)
            by_request = {a[0].request_id: a[0] for a in live}
            for request_id, tx_hash in worker._send_answers(live).items():
                self._sent[request_id] = (by_request[request_id].block_hash, tx_hash)
                while len(self._sent) > MAX_REMEMBERED:
                    del self._sent[next(iter(self._sent))]  # the oldest: long mined

    def _closed(self, r) -> str | None:
        """Why `r` no longer waits for an answer, or None while it does: its request transaction
        must be canonical in the block the worker saw it in, no answer of ours on its way, and the
        oracle must still say Pending."""
        node = self.node
        receipt = node.get_receipt(r.tx_hash) if r.tx_hash is not None else None
        if receipt is None or (r.block_hash is not None and receipt.block_hash != r.block_hash):
            return GONE
        sent = self._sent.get(r.request_id)
        if sent is not None and sent[0] == r.block_hash and node.get_transaction(sent[1]) is not None:
            return "our answer is already in the pool or mined"
        return None if self.worker._pending(r.request_id) else "the oracle no longer lists it as pending"

    def _drop(self, r, why: str) -> None:
        self.dropped.append(r.request_id)
        del self.dropped[:-MAX_REMEMBERED]
        record = self.worker.book.get(r.request_id)
        if why == GONE and record is not None and record.transactions.get("request") == r.tx_hash \
                and record.state == "pending":
            record.state, record.reason = "dropped", why
        log.info("oracle: request #%d: answer not sent: %s", r.request_id, why)

    # -- waiting and stopping ---------------------------------------------------------------
    @property
    def idle(self) -> bool:
        with self._cond:
            return not self._jobs and not self._busy

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every queued job has run (tests, benchmarks, a clean shutdown)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._stopped or (not self._jobs and not self._busy), timeout)

    def quiet_for(self, seconds: float) -> bool:
        """Wait up to `seconds` on this thread; False as soon as a job is queued or on stop."""
        with self._cond:
            return not self._cond.wait_for(lambda: self._stopped or bool(self._jobs), seconds)

    def pending_jobs(self) -> int:
        with self._cond:
            return len(self._jobs) + int(self._busy)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self.stopping.set()
            self._jobs.clear()
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)


@atexit.register
def _stop_all() -> None:
    """A daemon thread cut off inside a torch op at exit aborts the process: let it finish."""
    runners = list(_RUNNERS)
    for runner in runners:
        runner.stop()
    for runner in runners:
        runner.join(EXIT_WAIT_S)
