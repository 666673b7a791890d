"""Block time: the offset from the wall clock and a pinned next timestamp (evm_increaseTime & co.)."""

from __future__ import annotations

import time

from .errors import InvalidParams


class TimeManager:
    def __init__(self) -> None:
        self.offset = 0.0
        self.next_timestamp: int | None = None
        self.interval: int | None = None  # anvil_setBlockTimestampInterval: each block this much later

    def now(self) -> int:
        """The chain's clock: wall time plus the offset."""
        return int(time.time() + self.offset)

    def next_block_timestamp(self, head) -> int:
        if self.next_timestamp is not None:
            ts = self.next_timestamp
        elif self.interval is not None:
            return head.timestamp + self.interval
        else:
            ts = int(time.time() + self.offset)
        return max(ts, head.timestamp + 1)

    def take(self, head, timestamp: int | None = None) -> int:
        """The timestamp of the block being mined now; a pinned one is used once."""
        if timestamp is not None:
            if timestamp <= head.timestamp:
                raise InvalidParams(f"timestamp {timestamp} is not after the head block's {head.timestamp}")
            ts = timestamp
        else:
            ts = self.next_block_timestamp(head)
        self.next_timestamp = None
        return ts

    def increase(self, head, seconds: int) -> int:
        if seconds < 0:
            raise InvalidParams("time can only move forward")
        # Automined blocks can run ahead of the wall clock (one second each, many a second);
        # jump from the chain's own time then, so the next block really is `seconds` later.
        self.offset = max(self.offset, head.timestamp - time.time()) + seconds
        return int(self.offset)

    def set_next(self, head, ts: int) -> None:
        if ts <= head.timestamp:
            raise InvalidParams(
                f"Timestamp error: {ts} is lower than or equal to previous block's timestamp "
                f"{head.timestamp}")
        self.next_timestamp = ts
        # later blocks continue from the new time, as anvil does
        self.offset = ts - time.time()

    def set_time(self, ts: int) -> None:
        self.offset = ts - time.time()
