"""Genesis: the first block's header and state (dev accounts, predeployed contracts, set-up calls).

The chain runs a genesis plan it is handed (predeploys and calls: see imochain.contracts.genesis);
it knows nothing about which contracts those are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from eth import constants
from eth.abc import ComputationAPI, StateAPI
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.vm.message import Message

from .errors import GenesisError, decode_revert_reason

GenesisPlan = Callable[[bytes], tuple[Sequence, Sequence]]  # owner -> (predeploys, calls)


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
    if comp.output:
        reason = decode_revert_reason(comp.output)
        if reason:
            return reason
    return str(comp.error)


def create_genesis(storage, vm_class, chain_context, config, accounts, plan: GenesisPlan | None) -> None:
    """Build block 0 from the config, the dev accounts and the plan, and make it the head."""
    cfg = config
    funded = [GenesisAccount(a.address, cfg.balance) for a in accounts]
    owner = accounts[0].address if accounts else constants.ZERO_ADDRESS
    predeploys, calls = plan(owner) if plan is not None else ([], [])
    ts = cfg.genesis_timestamp if cfg.genesis_timestamp is not None else int(time.time())
    params = dict(
        coinbase=cfg.coinbase, difficulty=0, gas_limit=cfg.gas_limit, timestamp=ts,
        extra_data=b"", nonce=b"\0" * 8, mix_hash=constants.ZERO_HASH32,
        base_fee_per_gas=cfg.base_fee, state_root=constants.BLANK_ROOT_HASH,
    )
    header = vm_class.create_genesis_header(**params)
    state = vm_class.build_state(storage.db, header, chain_context)
    build_genesis_state(state, funded, predeploys, calls, deployer=owner)
    witness = state.persist()
    storage.remember_touched(witness, accounts=[a.address for a in funded] + [p.address for p in predeploys])
    storage.start(header.copy(state_root=state.state_root), cfg.chain_id)


def create_genesis_from_file(storage, vm_class, chain_context, genesis, accounts, balance: int,
                             plan: GenesisPlan | None) -> None:
    """Block 0 of a geth genesis file (its hash is geth's when `accounts` and `plan` are empty);
    dev accounts and the genesis plan are added on top only when asked for."""
    header = vm_class.create_genesis_header(**genesis.header, state_root=constants.BLANK_ROOT_HASH)
    state = vm_class.build_state(storage.db, header, chain_context)
    allocated = [GenesisAccount(a, acct["balance"], acct["nonce"], acct["code"], acct["storage"])
                 for a, acct in genesis.alloc.items()]
    funded = [GenesisAccount(a.address, balance) for a in accounts]
    owner = accounts[0].address if accounts else constants.ZERO_ADDRESS
    predeploys, calls = plan(owner) if plan is not None else ([], [])
    build_genesis_state(state, allocated + funded, predeploys, calls, deployer=owner)
    witness = state.persist()
    storage.remember_touched(witness, accounts=[a.address for a in allocated + funded]
                             + [p.address for p in predeploys])
    storage.start(header.copy(state_root=state.state_root), genesis.chain_id)
