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


_MODULES = (eth.vm.forks.berlin.transactions, eth.vm.forks.london.transactions,
            eth.vm.forks.cancun.transactions, eth.vm.forks.prague.transactions,
            eth.vm.forks.berlin.receipts)

PATCHES = [(module, "to_bytes", to_bytes) for module in _MODULES] + [
    (module, "to_int", to_int) for module in _MODULES if "to_int" in module.__dict__]
