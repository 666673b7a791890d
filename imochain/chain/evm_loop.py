"""py-evm's interpreter loop and a transaction's first message, minus their overhead (tx_speedups group).

`BaseComputation.apply_computation` reads opcodes through a generator over the code and calls
each through `_FastOpcode.__call__` with a keyword argument, which charges the fixed gas
through two more calls and then calls the logic: four Python frames per opcode, ~300 opcodes
per ERC-20 transfer. Here the loop reads the code bytes itself, charges a plain opcode's gas
in place when the meter is py-evm's own and the charge fits (the check evm_speedups makes),
and calls its logic directly. Every other case (wrapped opcodes of tracers, unknown opcodes,
a gas charge that fails, debug logging) goes the stock way, so errors and traces are unchanged.
The most frequent opcodes (PUSH, DUP, SWAP, POP, JUMPDEST, JUMP, JUMPI: about three quarters
of an ERC-20 transfer's) are done in the loop itself on the stack's list when they are py-evm's own
functions and the stack allows them; an underflow or overflow calls py-evm's function,
which raises its error. The steps around the loop are py-evm's own, in its order.

Also here, the message a transaction starts with (Cancun's executor, which Prague and Osaka
use): py-evm formats a debug line with the contract's whole code in hex, a keccak of the
calldata and the transaction's repr before it asks whether debug logging is on (~19 µs for
an ERC-20 transfer, paid by every transaction and eth_call). The same steps, without the
line unless debug logging is on.
"""

from __future__ import annotations

import contextlib
import threading
from time import perf_counter

from eth._utils.address import generate_contract_address
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.exceptions import Halt, InvalidInstruction, InvalidJumpDestination
from eth.vm.code_stream import CodeStream
from eth.vm.computation import NO_RESULT, BaseComputation
from eth.vm.forks.cancun.constants import BLOB_TX_TYPE
from eth.vm.forks.cancun.state import CancunTransactionExecutor
from eth.vm.gas_meter import GasMeter
from eth.vm.logic import duplication, flow, swap
from eth.vm.logic import stack as stack_logic
from eth.vm.logic.invalid import InvalidOpcode
from eth.vm.message import Message
from eth.vm.opcode import _FastOpcode
from eth.vm.stack import Stack

STOP = 0x00
JUMPDEST_OPCODE = 0x5B
PUSH, DUP, SWAP, POP, JUMPDEST, JUMP, JUMPI = range(7)
# py-evm's logic functions done inline: {function: (kind, n)}
_INLINE = {getattr(stack_logic, f"push{n}"): (PUSH, n) for n in range(33) if hasattr(stack_logic, f"push{n}")}
_INLINE.update({getattr(duplication, f"dup{n}"): (DUP, n) for n in range(1, 17)})
_INLINE.update({getattr(swap, f"swap{n}"): (SWAP, n) for n in range(1, 17)})
_INLINE.update({stack_logic.pop: (POP, 0), flow.jumpdest: (JUMPDEST, 0), flow.jump: (JUMP, 1),
                flow.jumpi: (JUMPI, 2)})
_stock_apply_computation = BaseComputation.__dict__["apply_computation"]
_stock_consume_gas = BaseComputation.consume_gas


class OverTime(BaseException):
    """A run under `time_limit` went past it and was abandoned midway. A BaseException, so no
    handler of py-evm's or ours takes it for the run's own error; the caller runs it again
    where time does not matter."""


_limit = threading.local()
_CHEAP_PRECOMPILES = 4  # ecrecover, sha256, ripemd160, identity: microseconds whatever the input


def limits_enforced() -> bool:
    """Whether `time_limit` is honoured: only this module's interpreter loop checks it."""
    return BaseComputation.__dict__["apply_computation"].__func__ is apply_computation


@contextlib.contextmanager
def time_limit(seconds: float):
    """Runs on this thread that go past `seconds` raise OverTime. Checked when a message starts
    and every 128 jumps (only a loop or a call can make a run long); a run this loop cannot
    bound (the stock loop under a tracer or debug logging, a precompile other than the four
    cheap ones) is given up at once."""
    _limit.deadline = perf_counter() + seconds
    try:
        yield
    finally:
        _limit.deadline = None


def apply_computation(cls, state, message, transaction_context, parent_computation=None):
    deadline = getattr(_limit, "deadline", None)
    if deadline is not None and perf_counter() > deadline:
        raise OverTime
    if cls.logger.show_debug2 or GasMeter.logger.show_debug2:  # py-evm logs every opcode
        if deadline is not None:
            raise OverTime
        return _stock_apply_computation.__func__(cls, state, message, transaction_context, parent_computation)
    with cls(state, message, transaction_context) as computation:
        if computation.is_origin_computation:
            computation.contracts_created = []
            if message.is_create:
                cls.consume_initcode_gas_cost(computation)
        if parent_computation is not None:
            computation.contracts_created = parent_computation.contracts_created
        if message.is_create:
            computation.contracts_created.append(message.storage_address)

        precompile = computation.precompiles.get(message.code_address, NO_RESULT)
        if precompile is not NO_RESULT:
            if not message.is_delegation:
                if deadline is not None and int.from_bytes(message.code_address, "big") > _CHEAP_PRECOMPILES:
                    raise OverTime
                precompile(computation)
            return computation

        _run(computation, deadline)
    return computation


def _run(computation, deadline: float | None) -> None:
    opcodes = computation.opcodes
    code = computation.code
    raw = code._raw_code_bytes
    size = len(raw)
    meter = computation._gas_meter
    inline_gas = type(meter) is GasMeter and type(computation).consume_gas is _stock_consume_gas
    stack = computation._stack
    values = stack.values if type(stack) is Stack and type(code) is CodeStream else None
    inline = _INLINE if values is not None else {}
    if deadline is not None and values is None:
        raise OverTime  # a stack or code stream of a tracer's: its jumps are not counted here
    jumps = 0
    while True:
        pc = code.program_counter
        if pc < size:
            opcode = raw[pc]
            code.program_counter = pc + 1
        else:
            opcode = STOP  # past the end: an implicit STOP, as the stock code stream yields
        fn = opcodes.get(opcode)
        if fn is None:
            fn = InvalidOpcode(opcode)
        try:
            if inline_gas and type(fn) is _FastOpcode:
                cost = fn.gas_cost
                if 0 <= cost <= meter.gas_remaining:
                    meter.gas_remaining -= cost
                else:
                    computation.consume_gas(cost, fn.mnemonic)
                step = inline.get(fn.logic_fn)
                if step is None:
                    fn.logic_fn(computation)
                else:
                    kind, n = step
                    depth = len(values)
                    if kind == PUSH and depth < 1024:
                        start = code.program_counter
                        data = raw[start:start + n]
                        code.program_counter = start + n
                        values.append(data if len(data) == n else data.ljust(n, b"\x00"))
                    elif kind == DUP and n <= depth < 1024:
                        values.append(values[-n])
                    elif kind == SWAP and n < depth:
                        values[-1], values[-n - 1] = values[-n - 1], values[-1]
                    elif kind == POP and depth:
                        values.pop()
                    elif kind >= JUMP and depth >= n and _plain(values[-1]) and _plain(values[-n]):
                        dest = _int(values.pop())
                        if kind == JUMP or _int(values.pop()):
                            _jump(code, raw, size, dest)
                            if deadline is not None:
                                jumps += 1
                                if not jumps & 127 and perf_counter() > deadline:
                                    raise OverTime
                    elif kind != JUMPDEST:
                        fn.logic_fn(computation)  # py-evm's function raises the stack's error
            else:
                if deadline is not None and perf_counter() > deadline:
                    raise OverTime  # wrapped or unusual opcodes: checked one by one (rare)
                fn(computation=computation)
        except Halt:
            break
        if pc >= size:  # the implicit STOP did not halt (never in py-evm): the stream ends here
            break


def _plain(item) -> bool:
    return type(item) is int or type(item) is bytes


def _int(item) -> int:
    return item if type(item) is int else int.from_bytes(item, "big")


def _jump(code, raw, size, dest: int) -> None:
    """JUMP's and JUMPI's landing, as py-evm's: the counter moves, then the target is checked."""
    code.program_counter = dest
    if (raw[dest] if dest < size else STOP) != JUMPDEST_OPCODE:
        raise InvalidJumpDestination("Invalid Jump Destination")
    if not code.is_valid_opcode(dest):
        raise InvalidInstruction("Jump resulted in invalid instruction")


_stock_build_evm_message = CancunTransactionExecutor.build_evm_message


def build_evm_message(self, transaction):
    state = self.vm_state
    if state.logger.show_debug2:
        return _stock_build_evm_message(self, transaction)
    london_gas_fee = transaction.gas * state.get_gas_price(transaction)
    blob_data_fee = self.calc_data_fee(transaction) if transaction.type_id == BLOB_TX_TYPE else 0
    sender = transaction.sender
    state.delta_balance(sender, -1 * (london_gas_fee + blob_data_fee))
    state.increment_nonce(sender)
    msg_refund = self.calc_message_refund(transaction)
    message_gas = transaction.gas - transaction.intrinsic_gas
    if transaction.to == CREATE_CONTRACT_ADDRESS:
        contract_address = generate_contract_address(sender, state.get_nonce(sender) - 1)
        data, code, is_delegation = b"", transaction.data, False
    else:
        contract_address = None
        data = transaction.data
        code, delegation_address = self.get_code_at_address(transaction.to)
        is_delegation = delegation_address is not None
    return Message(gas=message_gas, to=transaction.to, sender=sender, value=transaction.value, data=data,
                   code=code, create_address=contract_address, refund=msg_refund, is_delegation=is_delegation)


PATCHES = [(BaseComputation, "apply_computation", classmethod(apply_computation)),
           (CancunTransactionExecutor, "build_evm_message", build_evm_message)]
