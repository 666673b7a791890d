"""py-evm's interpreter loop and a transaction's first message, minus their overhead (tx_speedups group).

`BaseComputation.apply_computation` reads opcodes through a generator over the code and calls
each through `_FastOpcode.__call__` with a keyword argument, which charges the fixed gas
through two more calls and then calls the logic: four Python frames per opcode, ~300 opcodes
per ERC-20 transfer. Here the loop reads the code bytes itself, charges a plain opcode's gas
in place when the meter is py-evm's own and the charge fits (the check evm_speedups makes),
and calls its logic directly. Every other case (wrapped opcodes of tracers, unknown opcodes,
a gas charge that fails, debug logging) goes the stock way, so errors and traces are unchanged.
The most frequent opcodes are done in the loop itself on the stack's list when they are py-evm's
own functions and the stack allows them: PUSH, DUP, SWAP, POP, JUMPDEST, JUMP, JUMPI (about three
quarters of an OpenZeppelin ERC-20 transfer's), the pure stack arithmetic (ADD, SUB, MUL, the
comparisons, the bitwise ops and shifts, BYTE, ISZERO, NOT: most of the rest), the message's
CALLVALUE, CALLDATASIZE, CALLER, ADDRESS and CALLDATALOAD, and MLOAD/MSTORE (memory to expand
is charged py-evm's fee here, or left to py-evm's `extend_memory` to raise when gas is short).
An underflow or overflow, or a stack item of another type, calls py-evm's function, which
raises its error. SLOAD, SSTORE, KECCAK256, LOGn and RETURN call evm_state_ops' versions of
py-evm's functions. The program counter and the gas left are locals of the loop, written back
whenever anything else may read them. The steps around the loop are py-evm's own, in its order.

The transaction's frame around the loop (validation, the first message, refund, fee, sweep):
see tx_frame, whose patches are installed with this module's.
"""

from __future__ import annotations

import contextlib
import threading
from time import perf_counter

from eth.constants import GAS_MEMORY, GAS_MEMORY_QUADRATIC_DENOMINATOR
from eth.exceptions import Halt, InvalidInstruction, InvalidJumpDestination
from eth.vm.code_stream import CodeStream
from eth.vm.computation import NO_RESULT, BaseComputation
from eth.vm.gas_meter import GasMeter
from eth.vm.logic import arithmetic, comparison, context, duplication, flow, memory, swap
from eth.vm.logic import stack as stack_logic
from eth.vm.logic.invalid import InvalidOpcode
from eth.vm.memory import Memory
from eth.vm.opcode import _FastOpcode
from eth.vm.stack import Stack

from . import tx_frame
from .evm_state_ops import FAST as FAST_STATE_OPS

STOP = 0x00
JUMPDEST_OPCODE = 0x5B
MASK = 2**256 - 1
SIGN = 2**255
PUSH, DUP, SWAP, POP, JUMPDEST, JUMP, JUMPI, BINARY, UNARY, ENV, MSTORE, MLOAD, CALLDATALOAD = range(13)


def _signed(x: int) -> int:
    return x - 2**256 if x >= SIGN else x


# py-evm's results, for operands already ints below 2**256 (left is the top of the stack)
_BINARY_OPS = {
    arithmetic.add: lambda a, b: (a + b) & MASK,
    arithmetic.sub: lambda a, b: (a - b) & MASK,
    arithmetic.mul: lambda a, b: (a * b) & MASK,
    comparison.lt: lambda a, b: 1 if a < b else 0,
    comparison.gt: lambda a, b: 1 if a > b else 0,
    comparison.slt: lambda a, b: 1 if _signed(a) < _signed(b) else 0,
    comparison.sgt: lambda a, b: 1 if _signed(a) > _signed(b) else 0,
    comparison.eq: lambda a, b: 1 if a == b else 0,
    comparison.and_op: lambda a, b: a & b,
    comparison.or_op: lambda a, b: a | b,
    comparison.xor: lambda a, b: a ^ b,
    comparison.byte_op: lambda i, v: (v >> (248 - 8 * i)) & 0xFF if i < 32 else 0,
    arithmetic.shl: lambda n, v: (v << n) & MASK if n < 256 else 0,
    arithmetic.shr: lambda n, v: v >> n if n < 256 else 0,
    arithmetic.sar: lambda n, v: (_signed(v) >> min(n, 256)) & MASK,
}
_UNARY_OPS = {comparison.iszero: lambda a: 0 if a else 1, comparison.not_op: lambda a: MASK - a}
_ENV_OPS = {  # what the opcode pushes, from the message
    context.callvalue: lambda msg: msg.value,
    context.calldatasize: lambda msg: len(msg.data),
    context.caller: lambda msg: msg.sender,
    context.address: lambda msg: msg.storage_address,
}
# py-evm's logic functions done inline: {function: (kind, n or the result's function)}
_INLINE = {getattr(stack_logic, f"push{n}"): (PUSH, n) for n in range(33) if hasattr(stack_logic, f"push{n}")}
_INLINE.update({getattr(duplication, f"dup{n}"): (DUP, n) for n in range(1, 17)})
_INLINE.update({getattr(swap, f"swap{n}"): (SWAP, n) for n in range(1, 17)})
_INLINE.update({stack_logic.pop: (POP, 0), flow.jumpdest: (JUMPDEST, 0), flow.jump: (JUMP, 1),
                flow.jumpi: (JUMPI, 2), memory.mstore: (MSTORE, 2), memory.mload: (MLOAD, 1),
                context.calldataload: (CALLDATALOAD, 1)})
_INLINE.update({fn: (BINARY, op) for fn, op in _BINARY_OPS.items()})
_INLINE.update({fn: (UNARY, op) for fn, op in _UNARY_OPS.items()})
_INLINE.update({fn: (ENV, op) for fn, op in _ENV_OPS.items()})
_stock_apply_computation = BaseComputation.__dict__["apply_computation"]
_stock_consume_gas = BaseComputation.consume_gas
_stock_extend_memory = BaseComputation.extend_memory


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
    """The opcodes of one frame. The program counter and the gas left live in locals here and are
    written back to the code stream and the meter before anything else can read or change them
    (a call to py-evm's functions, memory growth, an error raised here), and read back after."""
    code = computation.code
    meter = computation._gas_meter
    stack = computation._stack
    if not (type(meter) is GasMeter and type(computation).consume_gas is _stock_consume_gas
            and type(stack) is Stack and type(code) is CodeStream):
        return _run_stock_steps(computation, code, deadline)
    raw = code._raw_code_bytes
    size = len(raw)
    values = stack.values
    valid = code.valid_positions  # jump targets known to be valid (is_valid_opcode adds to it)
    table = _table(computation.opcodes, True)
    memory = computation._memory  # MLOAD/MSTORE inline only on py-evm's own Memory
    if type(memory) is not Memory or type(computation).extend_memory is not _stock_extend_memory:
        memory = None
    calldata = None
    jumps = 0
    pc = code.program_counter
    gas = meter.gas_remaining
    while True:
        if pc >= size:  # past the end: an implicit STOP, as the stock code stream yields; then it ends
            code.program_counter, meter.gas_remaining = pc, gas
            with contextlib.suppress(Halt):
                table[STOP][0](computation=computation)
            return
        opcode = raw[pc]
        pc += 1
        fn, cost, kind, n = table[opcode]
        if cost is None:  # wrapped or unusual opcodes: the stock call, the time checked one by one (rare)
            code.program_counter, meter.gas_remaining = pc, gas
            if deadline is not None and perf_counter() > deadline:
                raise OverTime
            try:
                fn(computation=computation)
            except Halt:
                return
            pc, gas = code.program_counter, meter.gas_remaining
            continue
        if cost > gas:
            code.program_counter, meter.gas_remaining = pc, gas
            computation.consume_gas(cost, fn.mnemonic)  # py-evm's OutOfGas
        gas -= cost
        if kind is None:  # py-evm's logic function, or evm_state_ops' for it
            code.program_counter, meter.gas_remaining = pc, gas
            try:
                n(computation)
            except Halt:
                return
            pc, gas = code.program_counter, meter.gas_remaining
        elif kind == PUSH and len(values) < 1024:
            data = raw[pc:pc + n]
            pc += n
            values.append(data if len(data) == n else data.ljust(n, b"\x00"))
        elif kind == DUP and n <= len(values) < 1024:
            values.append(values[-n])
        elif kind == SWAP and n < len(values):
            values[-1], values[-n - 1] = values[-n - 1], values[-1]
        elif kind == POP and values:
            values.pop()
        elif kind == JUMPDEST:
            pass
        elif kind == ENV and len(values) < 1024:
            values.append(n(computation.msg))
        else:  # the rest take the top item as a number
            depth = len(values)
            top = values[-1] if depth else None
            if type(top) is bytes:
                top = int.from_bytes(top, "big")
            below = values[-2] if depth > 1 else None
            if type(top) is not int:
                pass  # py-evm's function raises the stack's error (below)
            elif kind == BINARY and (type(below) is int or type(below) is bytes):
                del values[-1]
                values[-1] = n(top, below if type(below) is int else int.from_bytes(below, "big"))
                continue
            elif kind == UNARY:
                values[-1] = n(top)
                continue
            elif kind == JUMP or kind == JUMPI and (type(below) is int or type(below) is bytes):
                del values[-n:]
                if kind == JUMP or (below if type(below) is int else int.from_bytes(below, "big")):
                    pc = top  # as py-evm: the counter moves, then the target is checked
                    if (raw[top] if top < size else STOP) != JUMPDEST_OPCODE:
                        code.program_counter, meter.gas_remaining = pc, gas
                        raise InvalidJumpDestination("Invalid Jump Destination")
                    if top not in valid and not code.is_valid_opcode(top):
                        code.program_counter, meter.gas_remaining = pc, gas
                        raise InvalidInstruction("Jump resulted in invalid instruction")
                    if deadline is not None:
                        jumps += 1
                        if not jumps & 127 and perf_counter() > deadline:
                            raise OverTime
                continue
            elif kind == MLOAD and memory is not None:
                if top + 32 > len(memory._bytes):
                    gas = _grow(computation, memory, top, gas, pc)
                values[-1] = bytes(memory._bytes[top:top + 32])
                continue
            elif kind == MSTORE and memory is not None and (type(below) is int or type(below) is bytes):
                if top + 32 > len(memory._bytes):
                    gas = _grow(computation, memory, top, gas, pc)
                # the word is the item, left-padded
                memory._bytes[top:top + 32] = below.to_bytes(32, "big") if type(below) is int \
                    else below.rjust(32, b"\x00")
                del values[-2:]
                continue
            elif kind == CALLDATALOAD:
                if calldata is None:
                    calldata = computation.msg.data_as_bytes
                values[-1] = calldata[top:top + 32].ljust(32, b"\x00").lstrip(b"\x00")
                continue
            # too few or too many items, or one of another type: py-evm's function (its error)
            code.program_counter, meter.gas_remaining = pc, gas
            fn.logic_fn(computation)
            pc, gas = code.program_counter, meter.gas_remaining


def _grow(computation, memory, start: int, gas: int, pc: int) -> int:
    """`extend_memory(start, 32)` for MLOAD/MSTORE: py-evm's fee (words x 3 + words² / 512, the
    difference) taken from `gas`, which is returned, and memory grown to the word's end as
    py-evm's Memory does. Gas short of the fee: py-evm's own call raises its OutOfGas."""
    size_before = (len(memory._bytes) + 31) // 32 * 32
    size_after = (start + 32 + 31) // 32 * 32
    fee = _memory_cost(size_after) - _memory_cost(size_before)
    if fee > 0:
        if fee > gas:
            computation.code.program_counter, computation._gas_meter.gas_remaining = pc, gas
            computation.extend_memory(start, 32)
            return computation._gas_meter.gas_remaining  # (it raised: py-evm's OutOfGas)
        gas -= fee
    missing = size_after - len(memory._bytes)
    if missing > 0:
        try:
            memory._bytes.extend(bytearray(missing))
        except BufferError:  # a view of it is held: a new buffer, as py-evm's Memory does
            memory._bytes = memory._bytes + bytearray(missing)
    return gas


def _memory_cost(size: int) -> int:
    """eth.vm.computation.memory_gas_cost for a size already rounded up to whole words."""
    words = size // 32
    return words * GAS_MEMORY + words * words // GAS_MEMORY_QUADRATIC_DENOMINATOR


def _run_stock_steps(computation, code, deadline: float | None) -> None:
    """A frame whose stack, code stream, meter or gas method is not py-evm's own (a tracer's):
    each opcode the stock way, the time checked at each."""
    if deadline is not None and type(code) is not CodeStream:
        raise OverTime  # a tracer's code stream: its jumps cannot be counted here
    table = _table(computation.opcodes, False)
    raw = code._raw_code_bytes
    size = len(raw)
    while True:
        pc = code.program_counter
        if pc < size:
            opcode = raw[pc]
            code.program_counter = pc + 1
        else:
            opcode = STOP  # past the end: an implicit STOP, as the stock code stream yields
        if deadline is not None and perf_counter() > deadline:
            raise OverTime
        try:
            table[opcode][0](computation=computation)
        except Halt:
            return
        if pc >= size:  # the implicit STOP did not halt (never in py-evm): the stream ends here
            return


_tables: dict = {}  # (id of an opcode table, inline?) -> (the table, its steps)


def _table(opcodes, inline: bool) -> list:
    """Each opcode's (function, fixed gas or None, inline kind or None, its argument): a plain
    opcode of py-evm's (fixed gas, a logic function) has its gas charged in the loop, and is done
    inline when its function is one of py-evm's in _INLINE, else its logic function is called
    (evm_state_ops' own for SLOAD, SSTORE, KECCAK256, LOGn, RETURN); the rest the stock way.
    Kept for py-evm's tables (dicts made once per fork), built per run for a tracer's."""
    entry = _tables.get((id(opcodes), inline))
    if entry is not None and entry[0] is opcodes:
        return entry[1]
    steps = []
    for opcode in range(256):
        fn = opcodes.get(opcode)
        if fn is None:
            steps.append((InvalidOpcode(opcode), None, None, None))
        elif type(fn) is _FastOpcode and type(fn.gas_cost) is int and fn.gas_cost >= 0:
            kind, n = _INLINE.get(fn.logic_fn, (None, None)) if inline else (None, None)
            if kind is None:
                n = FAST_STATE_OPS.get(fn.logic_fn, fn.logic_fn) if inline else fn.logic_fn
            steps.append((fn, fn.gas_cost, kind, n))
        else:
            steps.append((fn, None, None, None))
    if type(opcodes) is dict:
        _tables[(id(opcodes), inline)] = (opcodes, steps)
    return steps


PATCHES = [(BaseComputation, "apply_computation", classmethod(apply_computation))] + tx_frame.PATCHES
