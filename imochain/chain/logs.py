"""Log queries over a block range: bloom pre-filter, then address and topic matching."""

from __future__ import annotations

from typing import Any, Sequence

from eth_bloom import BloomFilter

from .errors import InvalidParams
from .types import LogInfo


def get_logs(storage, from_block: Any = "latest", to_block: Any = "latest",
             addresses: Sequence[bytes] | None = None, topics: Sequence[Any] | None = None,
             block_hash: bytes | None = None, limit: int = 10_000) -> list[LogInfo]:
    if block_hash is not None:
        headers = [storage.resolve(block_hash)]
    else:
        head = storage.head.block_number
        if isinstance(from_block, int) and from_block > head:
            return []  # nothing there yet (anvil)
        if isinstance(to_block, int) and to_block > head:
            to_block = head  # ranges past the head stop at the head (anvil, geth)
        lo = storage.resolve(from_block).block_number
        hi = storage.resolve(to_block).block_number
        if lo > hi:
            return []  # a reversed range is empty (anvil); geth's dialect refuses it (rpc.filters)
        headers = (storage.header_at(n) for n in range(lo, hi + 1))
    out: list[LogInfo] = []
    addresses = list(addresses or [])
    for header in headers:
        if not bloom_may_match(header.bloom, addresses, topics):
            continue
        for receipt in storage.block_receipts(header):
            for entry in receipt.logs:
                if log_matches(entry, addresses, topics):
                    out.append(entry)
                    if len(out) > limit:
                        raise InvalidParams(f"query returned more than {limit} results")
    return out


def bloom_may_match(bloom: int, addresses, topics) -> bool:
    bf = BloomFilter(bloom)
    if addresses and not any(a in bf for a in addresses):
        return False
    for position in topics or []:
        if position is None:
            continue
        options = position if isinstance(position, list) else [position]
        if options and not any(t in bf for t in options):
            return False
    return True


def log_matches(entry: LogInfo, addresses, topics) -> bool:
    if addresses and entry.address not in addresses:
        return False
    for i, position in enumerate(topics or []):
        if position is None or position == []:
            continue
        if i >= len(entry.topics):
            return False
        options = position if isinstance(position, list) else [position]
        if entry.topics[i] not in options:
            return False
    return True
