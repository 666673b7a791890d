"""py-evm configuration: a fork's VM with the precompiles the node builder hands the chain."""

from __future__ import annotations

from typing import Callable

from eth.abc import ComputationAPI
from eth.chains.base import Chain
from eth.exceptions import VMError

from .forks import LATEST, vm_class

Precompile = Callable[[ComputationAPI], ComputationAPI]


def wrap_precompile(gas_cost: Callable[[bytes], int], execute: Callable[[bytes], bytes],
                    error_type: type[Exception], label: str) -> Precompile:
    """Adapt a pure `bytes -> bytes` precompile with an up-front gas price to py-evm.

    Gas is charged before running, so a call without enough gas fails without doing the
    work. Any failure becomes a VMError, which py-evm treats like every precompile failure:
    the call fails and consumes all the gas it was given, and no state changes survive.
    """

    def run(computation: ComputationAPI) -> ComputationAPI:
        data = bytes(computation.msg.data_as_bytes)
        try:
            gas = gas_cost(data)
        except error_type as exc:
            raise VMError(f"{label}: {getattr(exc, 'reason', exc)}") from exc
        computation.consume_gas(gas, reason=label)
        try:
            computation.output = execute(data)
        except error_type as exc:
            raise VMError(f"{label}: {getattr(exc, 'reason', exc)}") from exc
        return computation

    return run


def make_chain_class(chain_id: int, extra_precompiles: dict[bytes, Precompile],
                     hardfork: str = LATEST, account_db_class=None) -> type[Chain]:
    """A Chain class bound to one node's precompiles (they close over its model store) and,
    on a fork, to its lazy account database."""
    fork_vm = vm_class(hardfork)
    fork_state = fork_vm._state_class
    fork_computation = fork_state.computation_class
    computation = fork_computation.configure(
        __name__="ImochainComputation",
        _precompiles={**fork_computation._precompiles, **extra_precompiles},
    )
    state = fork_state.configure(__name__="ImochainState", computation_class=computation,
                                 account_db_class=account_db_class or fork_state.account_db_class)
    vm = fork_vm.configure(__name__="ImochainVM", _state_class=state)
    return Chain.configure(__name__="ImochainChain", vm_configuration=((0, vm),), chain_id=chain_id)
