"""Interval mining stopped while its thread waits for the node's lock: no block after the stop.

evm_setAutomine and anvil_reset stop the miner with the lock held. A miner thread whose period
had just ended was then queued on that lock: the stop waited 5 s for it (it could not get the
lock), gave up, and the thread mined one more block once the lock was free — on a reset chain,
or after automine had taken over. The lock is wrapped here so the test knows, without timing,
that the thread is queued on it."""

from __future__ import annotations

import threading

import pytest

from imochain.chain import Node, NodeConfig

WAIT = 60  # a bound on a hung test, never reached when it works


class WatchedLock:
    """The node's lock, saying when another thread starts waiting for it."""

    def __init__(self, lock):
        self.lock = lock
        self.waiting = threading.Event()

    def acquire(self, *args, **kwargs):
        if threading.current_thread().name == "imochain-miner":
            self.waiting.set()
        return self.lock.acquire(*args, **kwargs)

    def release(self):
        self.lock.release()

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


@pytest.mark.parametrize("stop", ["set_automine", "reset", "set_interval_mining"])
def test_no_block_after_interval_mining_stopped_under_the_lock(stop):
    node = Node(NodeConfig(genesis_contracts=False, automine=False))
    watched = node.miner.lock = WatchedLock(node.miner.lock)
    try:
        with node.lock:
            node.set_interval_mining(0.01)
            miner_thread = node.miner._thread
            assert watched.waiting.wait(WAIT), "the miner thread never asked for the lock"
            if stop == "set_automine":
                node.set_automine(True)
            elif stop == "reset":
                node.reset()  # back to genesis, mining at the interval again on a new thread
                node.set_interval_mining(None)
            else:
                node.set_interval_mining(None)
            number = node.block_number
        miner_thread.join(WAIT)
        assert not miner_thread.is_alive(), "the stopped miner thread still runs"
        assert node.block_number == number, "a block was mined after interval mining stopped"
    finally:
        node.close()
