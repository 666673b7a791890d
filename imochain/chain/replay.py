"""Re-executing a mined transaction on its block's starting state, with a tracer attached."""

from __future__ import annotations

from typing import Any, Callable

from .errors import InvalidParams
from .tracing import traced


def replay_transaction(storage, tx_hash: bytes, tracer, executable: Callable) -> tuple[Any, Any]:
    """(TxInfo, computation) of `tx_hash` run again after the block's earlier transactions."""
    loc = storage.locate(tx_hash)
    if loc is None:
        raise InvalidParams(f"transaction 0x{tx_hash.hex()} not found")
    header, index = loc
    block = storage.block_info(header)
    # the block may have started from an edited state (anvil_setBalance & co.)
    exec_header = header.copy(state_root=storage.pre_root(header), gas_used=0)
    vm = storage.chain.get_vm(exec_header)
    state = vm.state
    for info in block.transactions[:index]:
        vm.apply_transaction(exec_header, executable(info.tx, info.sender))
    target = block.transactions[index]
    with traced(state, tracer):
        receipt, comp = vm.apply_transaction(exec_header, executable(target.tx, target.sender))
    return target, comp
