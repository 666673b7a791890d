"""Calls, gas estimates and call traces off the writer's lock, each on its own py-evm state.

py-evm's state objects are not thread-safe, but the store under them only grows: trie nodes
are content-addressed and a mined block never rewrites a node an older root points to. So a
call takes a snapshot of the head under the node's lock (header, state root, next block's
time), builds its own state over the shared db, releases the lock and runs: mining, sends
and cheap reads go on meanwhile. A state is never shared by two running calls; the last one
is handed back and reused by the next call over the same head, which keeps its account
cache warm (estimateGas runs a dozen calls; clients poll views).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from eth_utils import ValidationError
from eth.exceptions import VMError

from .errors import ExecutionFailed, ExecutionReverted

if TYPE_CHECKING:
    from .node import CallResult, Node


def call_gas_cap(node: "Node", header) -> int:
    """The most gas one call may use: the block gas limit, anvil's default call gas cap."""
    return header.gas_limit


class CallEnv:
    """One call environment (child header, VM, state) checked out of the node for one caller."""

    def __init__(self, node: "Node", block_id: Any, params: dict, overrides: dict | None, reusable: bool):
        self.node = node
        with node.lock:  # the snapshot: everything read here must be one consistent head
            self.key, self.header, self.vm, self.state = _checkout(node, block_id, params, overrides, reusable)
        self.reusable = reusable and not overrides

    def run(self, params: dict, gas: int | None = None, tracer=None) -> "CallResult":
        from .node import CallResult
        header, state = self.header, self.state
        cap = call_gas_cap(self.node, header)
        gas = min(cap, gas if gas is not None else (params.get("gas") or cap))
        tx = self.node._unsigned(params, state, header, gas)
        snapshot = state.snapshot()
        try:
            if tracer is not None:
                from .tracing import traced
                with traced(state, tracer):
                    comp = state.apply_transaction(tx)
            else:
                comp = state.apply_transaction(tx)
        except ValidationError as exc:
            from .node import _validation_message
            raise ExecutionFailed(_validation_message(str(exc))) from None
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
            with self.node.lock:
                self.node._call_cache = (self.key, (self.header, self.vm, self.state))


def _checkout(node: "Node", block_id: Any, params: dict, overrides: dict | None, reusable: bool):
    header = node.resolve_block(block_id)
    has_price = any(params.get(k) for k in ("gasPrice", "maxFeePerGas"))
    key = (header.hash, node._state_root_of(header), has_price, node._next_block_timestamp())
    cached = node._call_cache
    if reusable and not overrides and cached is not None and cached[0] == key:
        node._call_cache = None  # checked out: no second call may run on this state meanwhile
        return (key, *cached[1])
    if header.hash != node.head.hash:
        # A past block: its own number, timestamp and base fee over its post-state, as
        # anvil and geth run it (not "now", which made time-dependent views wrong).
        child = header.copy(gas_used=0)
    else:
        child = node.vm_class.create_header_from_parent(
            header, timestamp=max(header.timestamp + 1, node._next_block_timestamp()),
            coinbase=node.config.coinbase, gas_limit=header.gas_limit)
    child = child.copy(state_root=node._state_root_of(header))
    if not has_price:
        child = child.copy(base_fee_per_gas=0)  # calls without a price are free, as in geth
    vm = node.chain.get_vm(child)
    state = vm.state
    if overrides:
        from .node import apply_state_overrides
        apply_state_overrides(state, overrides)
    return key, child, vm, state


def execute_call(node: "Node", params: dict, block_id: Any = "latest", overrides: dict | None = None,
                 gas: int | None = None, tracer=None, watch: Callable | None = None) -> "CallResult":
    env = CallEnv(node, block_id, params, overrides, reusable=watch is None and tracer is None)
    if watch is not None:  # sees the call's state before it runs (create_access_list)
        watch(env.state)
    try:
        return env.run(params, gas, tracer)
    finally:
        env.release()


def estimate_gas(node: "Node", params: dict, block_id: Any = "latest", overrides: dict | None = None) -> int:
    """Binary search for the least gas that succeeds, as geth and anvil do; every probe runs
    on one snapshot, so a block mined meanwhile cannot change the answer halfway."""
    env = CallEnv(node, block_id, params, overrides, reusable=True)
    try:
        header = env.header
        cap = min(params.get("gas") or node._tx_gas_cap(header), call_gas_cap(node, header))
        sender = params.get("from")
        price = params.get("maxFeePerGas") or params.get("gasPrice")
        if price and sender:
            balance = env.state.get_balance(sender) - params.get("value", 0)
            if balance < 0:
                raise ExecutionFailed("insufficient funds for transfer")
            cap = min(cap, balance // price)
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
    finally:
        env.release()
