"""py-evm configuration: a fork's VM with imochain's precompiles, and genesis building."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from eth import constants
from eth.abc import ComputationAPI, StateAPI
from eth.chains.base import Chain
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.exceptions import VMError
from eth.vm.message import Message

from .errors import GenesisError
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
                     hardfork: str = LATEST) -> type[Chain]:
    """A Chain class bound to one node's precompiles (they close over its model store)."""
    fork_vm = vm_class(hardfork)
    fork_state = fork_vm._state_class
    fork_computation = fork_state.computation_class
    computation = fork_computation.configure(
        __name__="ImochainComputation",
        _precompiles={**fork_computation._precompiles, **extra_precompiles},
    )
    state = fork_state.configure(__name__="ImochainState", computation_class=computation)
    vm = fork_vm.configure(__name__="ImochainVM", _state_class=state)
    return Chain.configure(__name__="ImochainChain", vm_configuration=((0, vm),), chain_id=chain_id)


@dataclass(frozen=True)
class GenesisAccount:
    address: bytes
    balance: int = 0
    nonce: int = 0
    code: bytes = b""
    storage: dict[int, int] | None = None


def build_genesis_state(state: StateAPI, accounts: Iterable[GenesisAccount],
                        predeploys: Sequence = (), calls: Sequence = (),
                        deployer: bytes | None = None) -> None:
    """Write accounts, then run predeploy constructors at their fixed addresses, then calls.

    Constructors run for real (so their storage effects are exact), but their results land
    at the address the plan names instead of a CREATE-derived one.
    """
    for acct in accounts:
        state.set_balance(acct.address, acct.balance)
        state.set_nonce(acct.address, acct.nonce)
        if acct.code:
            state.set_code(acct.address, acct.code)
        for slot, value in (acct.storage or {}).items():
            state.set_storage(acct.address, slot, value)
    ctx_class = state.get_transaction_context_class()
    for p in predeploys:
        sender = deployer or constants.ZERO_ADDRESS
        msg = Message(gas=constants.UINT_256_MAX >> 192, to=CREATE_CONTRACT_ADDRESS, sender=sender,
                      value=0, data=b"", code=p.initcode, create_address=p.address)
        comp = state.computation_class.apply_create_message(
            state, msg, ctx_class(gas_price=0, origin=sender))
        if comp.is_error:
            raise GenesisError(f"constructor of {p.name} failed: {_reason(comp)}")
        state.set_nonce(p.address, 1)
    for c in calls:
        code = state.get_code(c.to)
        if c.value:
            state.delta_balance(c.sender, c.value)  # genesis mints what a setup call sends
        msg = Message(gas=constants.UINT_256_MAX >> 192, to=c.to, sender=c.sender,
                      value=c.value, data=c.data, code=code)
        comp = state.computation_class.apply_message(
            state, msg, ctx_class(gas_price=0, origin=c.sender))
        if comp.is_error:
            raise GenesisError(f"genesis call to 0x{c.to.hex()} failed: {_reason(comp)}")


def _reason(comp: ComputationAPI) -> str:
    from .errors import decode_revert_reason
    if comp.output:
        reason = decode_revert_reason(comp.output)
        if reason:
            return reason
    return str(comp.error)
