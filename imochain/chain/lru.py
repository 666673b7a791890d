"""A mapping of bounded size that evicts the least recently used entries on every insert."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Hashable


class LRUCache:
    """At most `max_weight` in total, each entry weighing `weigh(value)` (1 by default):
    a block cache weighs blocks by their transactions, so a few huge blocks cannot hold
    as much memory as thousands of empty ones."""

    def __init__(self, max_weight: int, weigh: Callable[[Any], int] = lambda value: 1) -> None:
        if max_weight < 1:
            raise ValueError("max_weight must be positive")
        self.max_weight = max_weight
        self.weight = 0
        self._weigh = weigh
        self._data: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()

    def get(self, key: Hashable, default: Any = None) -> Any:
        try:
            self._data.move_to_end(key)
        except KeyError:
            return default
        return self._data[key][0]

    def __setitem__(self, key: Hashable, value: Any) -> None:
        self.pop(key)
        weight = self._weigh(value)
        self._data[key] = (value, weight)
        self.weight += weight
        while self.weight > self.max_weight and len(self._data) > 1:
            _, (_, dropped) = self._data.popitem(last=False)
            self.weight -= dropped

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def pop(self, key: Hashable, default: Any = None) -> Any:
        entry = self._data.pop(key, None)
        if entry is None:
            return default
        self.weight -= entry[1]
        return entry[0]

    def clear(self) -> None:
        self._data.clear()
        self.weight = 0
