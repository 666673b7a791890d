"""Typed transactions' and receipts' type byte without eth_utils' argument checks (a patch).

py-evm's typed transactions and receipts turn their type id (an int under 0x80) into the
leading byte with `eth_utils.to_bytes`, and read it back with `to_int`; each call validates
its arguments through decorators and goes via a hex string: ~30 calls per transaction
encoded or decoded (its hash, the signing message, the transactions and receipts tries).
Plain ints in a byte's range take the direct form here; anything else goes to eth_utils,
so results and errors are unchanged.
"""

from __future__ import annotations

import eth_utils
import eth.vm.forks.berlin.receipts
import eth.vm.forks.berlin.transactions
import eth.vm.forks.cancun.transactions
import eth.vm.forks.london.transactions
import eth.vm.forks.prague.transactions

_BYTES = [bytes((i,)) for i in range(256)]


def to_bytes(*args, **kwargs) -> bytes:
    if len(args) == 1 and not kwargs and type(args[0]) is int and 0 <= args[0] < 256:
        return _BYTES[args[0]]
    return eth_utils.to_bytes(*args, **kwargs)


def to_int(*args, **kwargs) -> int:
    if len(args) == 1 and not kwargs and type(args[0]) is int:
        return args[0]
    return eth_utils.to_int(*args, **kwargs)


def _own_type_byte(self) -> bytes:  # a payload class: its type id is a class constant
    return to_bytes(self._type_id)


def _wrapped_type_byte(self) -> bytes:  # the typed wrapper: its payload's type id
    return to_bytes(self.type_id)


# py-evm caches these with the `cached_property` package, whose first read on each object
# asks asyncio whether the function is a coroutine: a plain property is cheaper than that
_TYPE_BYTES = [
    (eth.vm.forks.berlin.transactions.TypedTransaction, _wrapped_type_byte),
    (eth.vm.forks.berlin.receipts.TypedReceipt, _wrapped_type_byte),
    (eth.vm.forks.berlin.transactions.UnsignedAccessListTransaction, _own_type_byte),
    (eth.vm.forks.berlin.transactions.AccessListTransaction, _own_type_byte),
    (eth.vm.forks.london.transactions.UnsignedDynamicFeeTransaction, _own_type_byte),
    (eth.vm.forks.london.transactions.DynamicFeeTransaction, _own_type_byte),
    (eth.vm.forks.prague.transactions.UnsignedSetCodeTransaction, _own_type_byte),
    (eth.vm.forks.prague.transactions.SetCodeTransaction, _own_type_byte),
]

_MODULES = (eth.vm.forks.berlin.transactions, eth.vm.forks.london.transactions,
            eth.vm.forks.cancun.transactions, eth.vm.forks.prague.transactions,
            eth.vm.forks.berlin.receipts)

PATCHES = [(module, "to_bytes", to_bytes) for module in _MODULES] + [
    (module, "to_int", to_int) for module in _MODULES if "to_int" in module.__dict__] + [
    (cls, "_type_byte", property(getter)) for cls, getter in _TYPE_BYTES]
STOCK = [(owner, name, owner.__dict__[name]) for owner, name, _ in PATCHES]  # what they replace (the bench)
