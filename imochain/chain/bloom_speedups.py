"""eth_bloom's BloomFilter with each value's bits remembered (a patch, installed with the speed-ups).

A receipt's bloom is built from its logs' addresses and topics: a keccak and three bit positions
each, in pure Python, and a membership test does the same again. The same few values (a token's
address, its Transfer topic, the dev accounts) come back in nearly every block, and a value's
bits never change, so they are computed once (eth_bloom's own function) and kept.
"""

from __future__ import annotations

import functools

from eth.rlp.logs import Log
from eth_bloom import BloomFilter
from eth_bloom.bloom import get_bloom_bits


@functools.lru_cache(maxsize=4096)
def bloom_bits(value: bytes) -> int:
    """The bits `value` sets in a bloom, as one int."""
    bits = 0
    for bit in get_bloom_bits(value):
        bits |= bit
    return bits


def add(self, value: bytes) -> None:
    if not isinstance(value, bytes):
        raise TypeError("Value must be of type `bytes`")
    self.value |= bloom_bits(bytes(value))


def contains(self, value: bytes) -> bool:
    if not isinstance(value, bytes):
        raise TypeError("Value must be of type `bytes`")
    bits = bloom_bits(bytes(value))
    return self.value & bits == bits


def extend(self, iterable) -> None:
    bits = self.value
    for value in iterable:
        if type(value) is bytes:
            bits |= bloom_bits(value)
        else:  # add's check and error (a bytes subclass passes it), with what came before kept
            self.value = bits
            self.add(value)
            bits = self.value
    self.value = bits


_stock_bloomables = Log.__dict__["bloomables"]


def _bloomables(self) -> tuple:
    topics = self.topics
    for topic in topics:
        if type(topic) is not int or not 0 <= topic < 1 << 256:
            return _stock_bloomables.fget(self)  # pyrlp's serialisation and its error
    return (self.address, *[topic.to_bytes(32, "big") for topic in topics])


PATCHES = [(BloomFilter, "add", add), (BloomFilter, "__contains__", contains), (BloomFilter, "extend", extend),
           (Log, "bloomables", property(_bloomables))]
