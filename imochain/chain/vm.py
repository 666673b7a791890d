"""py-evm configuration: a fork's VM with the precompiles the node builder hands the chain."""

from __future__ import annotations

import contextlib
from typing import Callable

from eth.abc import ComputationAPI
from eth.chains.base import Chain
from eth.exceptions import VMError

from .forks import LATEST, vm_class

Precompile = Callable[[ComputationAPI], ComputationAPI]


def wrap_precompile(gas_cost: Callable[[bytes], int], execute: Callable[[bytes], bytes],
                    error_type: type[Exception], label: str, lock=contextlib.nullcontext()) -> Precompile:
    """Adapt a pure `bytes -> bytes` precompile with an up-front gas price to py-evm.

    Gas is charged before running, so a call without enough gas fails without doing the
    work. Any failure becomes a VMError, which py-evm treats like every precompile failure:
    the call fails and consumes all the gas it was given, and no state changes survive.
    `execute` runs under `lock` (calls run on several threads; the work behind it may not).
    """

    def run(computation: ComputationAPI) -> ComputationAPI:
        data = bytes(computation.msg.data_as_bytes)
        try:
            gas = gas_cost(data)
        except error_type as exc:
            raise VMError(f"{label}: {getattr(exc, 'reason', exc)}") from exc
        computation.consume_gas(gas, reason=label)
        try:
            with lock:
                computation.output = execute(data)
        except error_type as exc:
            raise VMError(f"{label}: {getattr(exc, 'reason', exc)}") from exc
        return computation

    return run


def with_precompiles(fork_vm, extra_precompiles: dict[bytes, Precompile], account_db_class=None):
    """The fork's VM with the node's own precompiles added (they close over its model store)
    and, on a fork of a remote chain, its lazy account database."""
    if not extra_precompiles and account_db_class is None:
        return fork_vm
    fork_state = fork_vm._state_class
    fork_computation = fork_state.computation_class
    computation = fork_computation.configure(
        __name__="ImochainComputation",
        _precompiles={**fork_computation._precompiles, **extra_precompiles},
    )
    state = fork_state.configure(__name__="ImochainState", computation_class=computation,
                                 account_db_class=account_db_class or fork_state.account_db_class)
    return fork_vm.configure(__name__="ImochainVM", _state_class=state)


def make_chain_class(chain_id: int, extra_precompiles: dict[bytes, Precompile],
                     hardfork: str = LATEST, schedule: list[tuple[int, type]] | None = None,
                     account_db_class=None) -> type[Chain]:
    """A Chain class bound to one node's precompiles: one fork from genesis, or a `schedule`
    of (first block number, VM) pairs (a chain started from a geth genesis file); on a fork of
    a remote chain, with its lazy account database."""
    schedule = schedule or [(0, vm_class(hardfork))]
    configuration = tuple((number, with_precompiles(vm, extra_precompiles, account_db_class))
                          for number, vm in schedule)
    return Chain.configure(__name__="ImochainChain", vm_configuration=configuration, chain_id=chain_id)
