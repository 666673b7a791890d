"""Calls that change nothing: eth_call, estimateGas's search, and access lists."""

from __future__ import annotations

from typing import Any, Callable

from eth import constants
from eth.exceptions import VMError
from eth.vm.spoof import SpoofTransaction
from eth_utils import ValidationError

from .errors import ExecutionFailed, ExecutionReverted
from .signing import py_evm_access_list
from .state import apply_state_overrides
from .types import CallResult
from .validate import tx_gas_cap, validation_message


class Calls:
    def __init__(self, storage, states, clock, config):
        self.storage = storage
        self.states = states
        self.clock = clock
        self.config = config  # chain id, and the coinbase (anvil_setCoinbase changes it)
        self._cache = None

    def _env(self, block_id: Any, params: dict, overrides: dict | None, reusable: bool = False):
        """(header, vm, state) to run a call in. A plain call's environment is kept and reused
        while head, time and fee mode stay the same: calls run between a snapshot and a
        revert, so the state is unchanged after each, and its caches stay warm (estimateGas
        runs a dozen calls; clients poll views)."""
        storage = self.storage
        header = storage.resolve(block_id)
        head = storage.head
        has_price = any(params.get(k) for k in ("gasPrice", "maxFeePerGas"))
        key = (header.hash, storage.state_root_of(header), has_price, self.clock.next_block_timestamp(head))
        if reusable and not overrides and self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        if header.hash != head.hash:
            # A past block: its own number, timestamp and base fee over its post-state, as
            # anvil and geth run it (not "now", which made time-dependent views wrong).
            child = header.copy(gas_used=0)
        else:
            child = self.states.vm_class.create_header_from_parent(
                header, timestamp=max(header.timestamp + 1, self.clock.next_block_timestamp(head)),
                coinbase=self.config.coinbase, gas_limit=header.gas_limit)
        child = child.copy(state_root=storage.state_root_of(header))
        if not has_price:
            child = child.copy(base_fee_per_gas=0)  # calls without a price are free, as in geth
        vm = storage.chain.get_vm(child)
        state = vm.state
        if overrides:
            apply_state_overrides(state, overrides)
        elif reusable:
            self._cache = (key, (child, vm, state))
        return child, vm, state

    def _unsigned(self, params: dict, state, header, gas: int | None = None):
        sender = params.get("from") or constants.ZERO_ADDRESS
        gas = gas if gas is not None else (params.get("gas") or header.gas_limit)
        b = self.storage.tx_builder
        to = params.get("to") or constants.CREATE_CONTRACT_ADDRESS
        value = params.get("value", 0)
        data = params.get("data", b"")
        nonce = params.get("nonce")
        if nonce is None:
            nonce = state.get_nonce(sender)
        al = py_evm_access_list(params.get("accessList"))
        max_fee = params.get("maxFeePerGas")
        tip = params.get("maxPriorityFeePerGas")
        price = params.get("gasPrice")
        if max_fee is not None or tip is not None:
            max_fee = max_fee if max_fee is not None else (tip or 0) + header.base_fee_per_gas
            utx = b.new_unsigned_dynamic_fee_transaction(
                self.config.chain_id, nonce, tip or 0, max_fee, gas, to, value, data, al)
        else:
            price = price or 0
            utx = b.new_unsigned_dynamic_fee_transaction(
                self.config.chain_id, nonce, 0, max(price, header.base_fee_per_gas), gas, to, value, data, al)
        if params.get("authorizationList"):  # EIP-7702: calls and estimates see the delegations
            from eth.vm.forks.prague.transactions import Authorization
            utx = b.new_unsigned_set_code_transaction(
                self.config.chain_id, nonce, utx.max_priority_fee_per_gas, utx.max_fee_per_gas, gas, to,
                value, data, al, [Authorization(**a) for a in params["authorizationList"]])
        return SpoofTransaction(utx, from_=sender)

    def execute(self, params: dict, block_id: Any = "latest", overrides: dict | None = None,
                gas: int | None = None, tracer=None, watch: Callable | None = None) -> CallResult:
        header, vm, state = self._env(block_id, params, overrides, reusable=watch is None and tracer is None)
        if watch is not None:  # sees the call's state before it runs (create_access_list)
            watch(state)
        tx = self._unsigned(params, state, header, gas)
        snapshot = state.snapshot()
        try:
            if tracer is not None:
                from .tracing import traced
                with traced(state, tracer):
                    comp = state.apply_transaction(tx)
            else:
                comp = state.apply_transaction(tx)
        except ValidationError as exc:
            raise ExecutionFailed(validation_message(str(exc))) from None
        except VMError as exc:  # raised before any frame runs, e.g. EIP-3860 initcode size
            raise ExecutionFailed(str(exc)) from None
        finally:
            state.revert(snapshot)
        used = tx.gas - comp.get_gas_remaining() - min(comp.get_gas_refund(), (tx.gas - comp.get_gas_remaining()) // 5)
        if comp.is_error:
            return CallResult(comp.output, used, str(comp.error), comp.error.__class__.__name__ == "Revert", comp)
        return CallResult(comp.output, used, None, False, comp)

    def estimate_gas(self, params: dict, block_id: Any = "latest", overrides: dict | None = None) -> int:
        """Binary search for the least gas that succeeds, as geth and anvil do."""
        header = self.storage.resolve(block_id)
        cap = params.get("gas") or tx_gas_cap(self.storage.chain, header)
        sender = params.get("from")
        price = params.get("maxFeePerGas") or params.get("gasPrice")
        if price and sender:
            balance = self.states.reader(block_id).get_balance(sender) - params.get("value", 0)
            if balance < 0:
                raise ExecutionFailed("insufficient funds for transfer")
            cap = min(cap, balance // price)
        top = self.execute(params, block_id, overrides, gas=cap)
        if top.reverted:
            raise ExecutionReverted(top.output)
        if top.error:
            raise ExecutionFailed(f"gas required exceeds allowance ({cap})" if "gas" in top.error.lower()
                                  else top.error)
        lo, hi = max(top.gas_used - 1, 21000 - 1), cap
        # What it used is a lower bound; when that is enough (transfers, calls without
        # refunds or 63/64 reserves) it is the answer, with no search.
        if top.gas_used <= cap and not self.execute(params, block_id, overrides, gas=top.gas_used).error:
            return top.gas_used
        # Most calls succeed with what they used plus the 63/64 reserve; try that first.
        guess = min(hi, (top.gas_used + 2300) * 64 // 63)
        if not self.execute(params, block_id, overrides, gas=guess).error:
            hi = guess
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.execute(params, block_id, overrides, gas=mid).error:
                lo = mid
            else:
                hi = mid
        return hi

    def create_access_list(self, params: dict, block_id: Any = "latest") -> tuple[list, int]:
        slots: dict[bytes, set] = {}
        touched: set[bytes] = set()

        def watch(state) -> None:  # record every storage slot the call warms (SLOAD/SSTORE)
            mark = state.mark_storage_warm

            def record(address, slot):
                slots.setdefault(address, set()).add(slot)
                return mark(address, slot)
            state.mark_storage_warm = record
            mark_address = state.mark_address_warm

            def record_address(address):  # BALANCE, EXTCODE*, CALL*: accounts it touches
                touched.add(address)
                return mark_address(address)
            state.mark_address_warm = record_address

        result = self.execute(params, block_id, watch=watch)
        if result.reverted:
            raise ExecutionReverted(result.output)
        comp = result.computation
        accessed = {}
        sender = params.get("from") or constants.ZERO_ADDRESS
        to = params.get("to")
        skip = {sender, to, self.config.coinbase} | set(self.states.vm_class._state_class.computation_class._precompiles)
        for addr in [c.msg.storage_address for c in walk_computations(comp)] + sorted(touched):
            if addr in skip:  # from, to, coinbase and precompiles: listed only with slots (geth)
                continue
            accessed.setdefault(addr, set())
        for addr, keys in slots.items():  # as geth and anvil: slots listed even for `to`
            accessed.setdefault(addr, set()).update(keys)
        entries = [{"address": a, "storageKeys": sorted(accessed[a])} for a in accessed if a not in (sender,)]
        gas = self.estimate_gas(dict(params, accessList=entries), block_id)
        return entries, gas


def walk_computations(comp):
    yield comp
    for child in comp.children:
        yield from walk_computations(child)
