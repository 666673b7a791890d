"""Who hears about new blocks and pending transactions, and tasks deferred until all have."""

from __future__ import annotations

import logging
from typing import Callable

log = logging.getLogger("imochain.node")


class Notifications:
    def __init__(self) -> None:
        self.block_listeners: list[Callable] = []
        self.pending_listeners: list[Callable[[bytes], None]] = []
        self._deferred: list[Callable[[], None]] = []
        self._running_deferred = False

    def new_block(self, info) -> None:
        for listener in list(self.block_listeners):
            safely(listener, info)
        self.run_deferred()

    def new_pending(self, tx_hash: bytes) -> None:
        for listener in list(self.pending_listeners):
            safely(listener, tx_hash)

    def defer(self, fn: Callable[[], None]) -> None:
        self._deferred.append(fn)

    def run_deferred(self) -> None:
        if self._running_deferred:
            return  # a block mined by a deferred task: the outer loop runs what it queued
        self._running_deferred = True
        try:
            while self._deferred:
                safely(self._deferred.pop(0))
        finally:
            self._running_deferred = False


def safely(fn, *args) -> None:
    try:
        fn(*args)
    except Exception:  # a listener's failure must not undo a committed block
        log.exception("listener failed")
