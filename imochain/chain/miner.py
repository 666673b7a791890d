"""When blocks are mined: automine, interval mining on a thread, manual, and batched submission."""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Callable

log = logging.getLogger("imochain.node")
_answering = threading.local()


@contextlib.contextmanager
def answer_first():
    """On this thread, a transaction that automining would mine at once gets its block built
    after the sender has the hash (the RPC server answers in between): the work is appended to
    the yielded list, and the node's lock stays held from admission until the block is in, so
    no reader sees the pool in between. anvil answers a send before its block too; here every
    request that arrives meanwhile waits for the block, as with Hardhat's synchronous automine.
    Not on a chain kept on disk: there an answered transaction must survive a kill -9."""
    after: list[Callable[[], None]] = []
    _answering.after = after
    try:
        yield after
    finally:
        _answering.after = None


class Miner:
    """`mine_one()` builds and commits one block; `ready()` counts executable pool entries.
    Both are called with the node's lock held, which this miner takes for its thread."""

    def __init__(self, lock, mine_one: Callable[[], object], ready: Callable[[], int],
                 pool_size: Callable[[], int], automine: bool, answer_first: bool = True):
        self.lock = lock
        self._mine_one = mine_one
        self._ready = ready
        self._pool_size = pool_size
        self.automine = automine
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.interval: float | None = None
        self.in_progress = 0  # automined blocks promised to a sender and not yet in (answer_first)
        self.answer_first = answer_first  # False: a sender is answered once its block is in (durable chains)

    def automine_now(self) -> None:
        """Mine the transaction just admitted (under the lock): now, or after the answer."""
        after = getattr(_answering, "after", None) if self.answer_first else None
        if after is None:
            self._mine_one()
            return
        self.lock.acquire()  # released by the deferred block, not when the admission returns
        self.in_progress += 1
        after.append(self._mine_promised)

    def _mine_promised(self) -> None:
        try:
            self._mine_one()
        except Exception:  # the sender has its hash already; the transaction stays in the pool
            log.exception("automining failed")
        finally:
            self.in_progress -= 1
            self.lock.release()

    def set_automine(self, enabled: bool) -> None:
        self.automine = bool(enabled)
        if self.automine:
            self.stop_interval()
            if self._ready():
                self._mine_one()

    def set_interval(self, seconds: float | None) -> None:
        self.stop_interval()
        if not seconds:
            return
        self.interval = float(seconds)
        self.automine = False
        self._stop = threading.Event()

        def loop(stop=self._stop, period=self.interval):
            while not stop.wait(period) and self._lock_unless(stop):
                try:
                    self._mine_one()
                except Exception:  # a miner thread must not die on one bad block
                    log.exception("interval mining failed")
                finally:
                    self.lock.release()

        self._thread = threading.Thread(target=loop, name="imochain-miner", daemon=True)
        self._thread.start()

    def _lock_unless(self, stop: threading.Event) -> bool:
        """The lock, or False once `stop` is set. Stops come with the lock held (evm_setAutomine,
        anvil_reset): waiting for it blindly, the thread could not be joined, and it mined one
        more block when the lock came free."""
        while not self.lock.acquire(timeout=0.05):
            if stop.is_set():
                return False
        if stop.is_set():
            self.lock.release()
            return False
        return True

    def stop_interval(self) -> None:
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=5)
        self._thread = None
        self.interval = None

    @contextlib.contextmanager
    def batched(self):
        """Submit several transactions into one block: automine waits until the block ends."""
        was = self.automine
        self.automine = False
        try:
            yield
        finally:
            self.automine = was
            if was:  # keep mining while ready transactions remain (a block may not hold all)
                while self._ready():
                    before = self._pool_size()
                    self._mine_one()
                    if self._pool_size() >= before:
                        break
