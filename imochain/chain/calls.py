"""Calls that change nothing: eth_call, estimateGas's search and access lists, off the writer's lock.

py-evm's state objects are not thread-safe, but the store under them only grows: trie nodes
are content-addressed and a mined block never rewrites a node an older root points to. So a
call takes a snapshot of the head under the node's lock (header, state root, next block's
time), builds its own state over the shared db, releases the lock and runs: mining, sends
and cheap reads go on meanwhile. A state is never shared by two running calls; the last one
is handed back and reused by the next call over the same head, which keeps its account
cache warm (estimateGas runs a dozen calls; clients poll views).
"""

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
from .validate import calldata_floor_gas, tx_gas_cap, validation_message


class CallEnv:
    """One call environment (child header, VM, state) checked out for one caller."""

    def __init__(self, calls: "Calls", block_id: Any, params: dict, overrides: dict | None, reusable: bool):
        self.calls = calls
        with calls.lock:  # the snapshot: everything read here must be one consistent head
            self.key, self.header, self.vm, self.state = calls._checkout(block_id, params, overrides, reusable)
        self.reusable = reusable and not overrides

    def run(self, params: dict, gas: int | None = None, tracer=None) -> CallResult:
        header, state = self.header, self.state
        cap = call_gas_cap(header)
        gas = min(cap, gas if gas is not None else (params.get("gas") or cap))
        tx = self.calls._unsigned(params, state, header, gas)
        snapshot = state.snapshot()
        try:
            if tracer is not None:
                from .tracing import traced
                with traced(state, tracer):
                    comp = state.apply_transaction(tx)
            else:
                comp = _apply_call(state, tx)
        except ValidationError as exc:
            raise ExecutionFailed(validation_message(str(exc))) from None
        except VMError as exc:  # raised before any frame runs, e.g. EIP-3860 initcode size
            raise ExecutionFailed(str(exc)) from None
        finally:
            state.revert(snapshot)
        spent = tx.gas - comp.get_gas_remaining()
        used = spent - min(comp.get_gas_refund(), spent // 5)
        if comp.is_error:
            return CallResult(comp.output, used, str(comp.error), comp.error.__class__.__name__ == "Revert", comp)
        return CallResult(comp.output, used, None, False, comp)

    def release(self) -> None:
        """Hand the state back for the next call over the same head (calls revert what they
        did, so it is as it was)."""
        if self.reusable:
            with self.calls.lock:
                self.calls._cache = (self.key, (self.header, self.vm, self.state))


def _apply_call(state, tx):
    """`state.apply_transaction(tx)` without its last step, finalize_computation: the gas
    refund to the sender, the tip to the coinbase and the removal of touched empty accounts
    change only state that the call reverts at once, and not the call's output or gas (read
    from the computation). It was about a quarter of a small view call. Traced calls keep the
    full path: tracers see those balance changes."""
    executor = state.get_transaction_executor()
    executor.validate_transaction(tx)
    comp = executor.build_computation(executor.build_evm_message(tx), tx)
    clear = getattr(state, "clear_transient_storage", None)
    if clear is not None:  # as Cancun's executor does after every transaction (a revert may not)
        clear()
    return comp


def call_gas_cap(header) -> int:
    """The most gas one call may use: the block gas limit, anvil's default call gas cap."""
    return header.gas_limit


class Calls:
    def __init__(self, storage, states, clock, config, lock):
        self.storage = storage
        self.states = states
        self.clock = clock
        self.config = config  # chain id, and the coinbase (anvil_setCoinbase changes it)
        self.lock = lock  # the node's: held only while a call takes its snapshot
        self._cache = None

    def _checkout(self, block_id: Any, params: dict, overrides: dict | None, reusable: bool):
        storage = self.storage
        header = storage.resolve(block_id)
        head = storage.head
        has_price = any(params.get(k) for k in ("gasPrice", "maxFeePerGas"))
        key = (header.hash, storage.state_root_of(header), has_price, self.clock.next_block_timestamp(head))
        cached = self._cache
        if reusable and not overrides and cached is not None and cached[0] == key:
            self._cache = None  # checked out: no second call may run on this state meanwhile
            return (key, *cached[1])
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
        return key, child, vm, state

    def _unsigned(self, params: dict, state, header, gas: int):
        sender = params.get("from") or constants.ZERO_ADDRESS
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
        chain_id = self.config.chain_id
        if max_fee is not None or tip is not None:
            max_fee = max_fee if max_fee is not None else (tip or 0) + header.base_fee_per_gas
            utx = b.new_unsigned_dynamic_fee_transaction(chain_id, nonce, tip or 0, max_fee, gas, to, value, data, al)
        else:
            price = price or 0
            utx = b.new_unsigned_dynamic_fee_transaction(
                chain_id, nonce, 0, max(price, header.base_fee_per_gas), gas, to, value, data, al)
        if params.get("authorizationList"):  # EIP-7702: calls and estimates see the delegations
            from eth.vm.forks.prague.transactions import Authorization
            utx = b.new_unsigned_set_code_transaction(
                chain_id, nonce, utx.max_priority_fee_per_gas, utx.max_fee_per_gas, gas, to,
                value, data, al, [Authorization(**a) for a in params["authorizationList"]])
        return SpoofTransaction(utx, from_=sender)

    def execute(self, params: dict, block_id: Any = "latest", overrides: dict | None = None,
                gas: int | None = None, tracer=None, watch: Callable | None = None) -> CallResult:
        env = CallEnv(self, block_id, params, overrides, reusable=watch is None and tracer is None)
        if watch is not None:  # sees the call's state before it runs (create_access_list)
            watch(env.state)
        try:
            return env.run(params, gas, tracer)
        finally:
            env.release()

    def estimate_gas(self, params: dict, block_id: Any = "latest", overrides: dict | None = None) -> int:
        """Binary search for the least gas that succeeds, as geth and anvil do; every probe runs
        on one snapshot, so a block mined meanwhile cannot change the answer halfway."""
        env = CallEnv(self, block_id, params, overrides, reusable=True)
        try:
            header = env.header
            cap = min(params.get("gas") or tx_gas_cap(self.storage.chain, header), call_gas_cap(header))
            sender = params.get("from")
            price = params.get("maxFeePerGas") or params.get("gasPrice")
            if price and sender:
                balance = env.state.get_balance(sender) - params.get("value", 0)
                if balance < 0:
                    raise ExecutionFailed("insufficient funds for transfer")
                cap = min(cap, balance // price)
            # A transaction must also pay EIP-7623's calldata floor, whatever it executes.
            floor = calldata_floor_gas(env.state, bytes(params.get("data") or b""))
            return max(floor, self._least_gas(env, params, cap))
        finally:
            env.release()

    def _least_gas(self, env: CallEnv, params: dict, cap: int) -> int:
        """The least gas limit at which the call succeeds (what it used, else a search)."""
        top = env.run(params, cap)
        if top.reverted:
            raise ExecutionReverted(top.output)
        if top.error:
            raise ExecutionFailed(f"gas required exceeds allowance ({cap})" if "gas" in top.error.lower()
                                  else top.error)
        lo, hi = max(top.gas_used - 1, 21000 - 1), cap
        # What it used is a lower bound; when that is enough (transfers, calls without
        # refunds or 63/64 reserves) it is the answer, with no search.
        if top.gas_used <= cap and not env.run(params, top.gas_used).error:
            return top.gas_used
        # Most calls succeed with what they used plus the 63/64 reserve; try that first.
        guess = min(hi, (top.gas_used + 2300) * 64 // 63)
        if not env.run(params, guess).error:
            hi = guess
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if env.run(params, mid).error:
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
