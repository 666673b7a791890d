"""Transaction tracing: make py-evm report opcodes and call frames to a tracer.

`traced(state, tracer)` gives the state, for the duration of a `with` block, a subclass of its
computation class whose opcode table wraps opcodes with reporting closures and whose
`apply_message` / `apply_create_message` report call frames. Nothing is patched globally and
nothing changes outside the block, so mining and plain calls keep py-evm's untouched classes
and pay nothing for tracing.

The tracers themselves (geth's output shapes) are in tracers.py.
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any, Iterator

from eth.exceptions import (ContractCreationCollision, FullStack, Halt, InsufficientFunds,
                            InsufficientStack, InvalidInstruction, InvalidJumpDestination,
                            OutOfBoundsRead, OutOfGas, ReservedBytesInCode, Revert,
                            StackDepthLimit, VMError, WriteProtection)
from eth.vm.code_stream import CodeStream
from eth.vm.logic.invalid import InvalidOpcode

from .errors import ChainError

# Opcodes that open a call frame; the one in flight names the frame's type.
FRAME_OPS = {0xF0: "CREATE", 0xF1: "CALL", 0xF2: "CALLCODE", 0xF4: "DELEGATECALL",
             0xF5: "CREATE2", 0xFA: "STATICCALL"}
# Opcodes every tracer sees, even one that does not want each step (frame types, logs, selfdestruct).
STRUCTURAL_OPS = frozenset(FRAME_OPS) | frozenset(range(0xA0, 0xA5)) | {0xFF}
# geth's names where py-evm's differ.
RENAMED = {"SHA3": "KECCAK256"}

# Stands for the STOP that py-evm runs past the end of the code, which geth logs at pc = len(code).
IMPLICIT_STOP = 0x100

# A trace is held in memory whole; past this many steps, or this many bytes of JSON, a request
# fails instead of the node (enableMemory on a 4-byte loop grew 131 MB per 40 k gas).
MAX_STRUCT_LOGS = 1_000_000
MAX_TRACE_BYTES = 64 * 1024 * 1024
# The JSON a step costs, estimated before it is built: fixed fields, then per stack word,
# memory word and storage slot shown (each written as hex in quotes, with a comma).
_STEP_BYTES, _WORD_BYTES, _SLOT_BYTES = 120, 70, 140


class TraceTooLarge(ChainError):
    pass


class TraceTimeout(ChainError):
    pass


class Tracer:
    """What `traced` reports to. Every hook is optional.

    `all_steps`: report every opcode (the struct logger) or only STRUCTURAL_OPS (frame
    tracers, so they run at nearly full speed).
    """

    all_steps = False
    deadline: float | None = None  # time.monotonic() past which the trace is abandoned

    def check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TraceTimeout("execution timeout")

    def step(self, comp, pc: int, op: int, name: str) -> None:
        """Before an opcode runs; gas, stack and memory are as the opcode finds them."""

    def step_end(self, comp, error: VMError | None) -> None:
        """After the opcode, or when it raised (`error`); Halt (STOP, RETURN...) is no error."""

    def enter(self, msg, kind: str, parent, precompile: bool) -> None:
        """A call frame starts: kind is CALL, STATICCALL, DELEGATECALL, CALLCODE, CREATE or CREATE2;
        parent is the calling computation (None for the transaction's own frame)."""

    def exit(self, msg, comp, error: VMError | None) -> None:
        """A call frame ends; comp is None only when py-evm raised before building it."""

    def result(self, *, gas_limit: int, gas_used: int, output: bytes, error: VMError | None,
               top: dict | None = None, log_index: int = 0) -> Any:
        """The JSON-ready trace; `top` describes the transaction (from, to, value, input), for
        the rare transaction that runs no frame at all (an address collision)."""
        return {}


# ---------------------------------------------------------------------------- machinery

class _Hooks:
    """Per-trace glue between the traced computation class and one tracer."""

    def __init__(self, tracer: Tracer, precompiles) -> None:
        self.tracer = tracer
        self.precompiles = precompiles
        self.in_flight: list[int] = []  # hooked opcodes running, innermost last
        self.create_msg = None  # a create message whose frame is already reported

    def frame(self, run, state, message, tx_context, parent):
        top = self.in_flight[-1] if self.in_flight else None
        kind = FRAME_OPS.get(top) if top is not None else None
        if kind is None or parent is None:
            kind = "CREATE" if message.is_create else "CALL"
        precompile = not message.is_create and message.code_address in self.precompiles
        self.tracer.check_deadline()
        self.tracer.enter(message, kind, parent, precompile)
        try:
            comp = run(state, message, tx_context, parent_computation=parent)
        except VMError as exc:  # raised before a computation existed (depth, funds)
            self.tracer.exit(message, None, exc)
            raise
        self.tracer.exit(message, comp, comp._error)
        return comp


def _wrap(fn, op: int, name: str, hooks: _Hooks, implicit: bool = False):
    tracer = hooks.tracer
    in_flight = hooks.in_flight
    back = 0 if implicit else 1  # the opcode byte was read already, unless there was none

    def run(computation) -> None:
        in_flight.append(op)
        tracer.step(computation, computation.code.program_counter - back, op, name)
        error = None
        try:
            fn(computation=computation)
        except Halt:
            raise
        except VMError as exc:
            error = exc
            raise
        finally:
            in_flight.pop()
            tracer.step_end(computation, error)

    run.mnemonic = name  # py-evm's debug logging reads it
    return run


def opcode_name(op: int, fn: Any = None) -> str:
    name = getattr(fn, "mnemonic", None) or getattr(getattr(fn, "__wrapped__", None), "mnemonic", None)
    if op == 0xFE:
        return "INVALID"
    if not name or name == "INVALID":
        return f"opcode 0x{op:x} not defined"
    return RENAMED.get(name, name)


class _TracedCodeStream(CodeStream):
    """py-evm's code iterator, except that the STOP past the end is told apart (it gets
    geth's pc), and empty code runs no step at all (geth does not start the interpreter)."""

    __slots__ = ()

    def __iter__(self) -> Iterator[int]:
        code = self._raw_code_bytes
        while True:
            try:
                opcode = code[self.program_counter]
            except IndexError:
                break
            self.program_counter += 1
            yield opcode
        if self._length_cache:
            yield IMPLICIT_STOP


class _OpTable(dict):
    """The opcode table; undefined opcodes get a reporting InvalidOpcode when steps are traced."""

    hooks: _Hooks | None = None

    def __missing__(self, op: int):
        fn = InvalidOpcode(op)
        if self.hooks is not None:
            fn = _wrap(fn, op, opcode_name(op), self.hooks)
        self[op] = fn
        return fn


def _traced_class(base: type, tracer: Tracer) -> type:
    hooks = _Hooks(tracer, frozenset(base.get_precompiles()))
    table = _OpTable()
    for op, fn in base.opcodes.items():
        wanted = tracer.all_steps or op in STRUCTURAL_OPS
        table[op] = _wrap(fn, op, opcode_name(op, fn), hooks) if wanted else fn
    if tracer.all_steps:
        table.hooks = hooks
        table[IMPLICIT_STOP] = _wrap(base.opcodes[0x00], 0x00, "STOP", hooks, implicit=True)
    steps = tracer.all_steps

    class Traced(base):  # type: ignore[misc, valid-type]
        opcodes = table

        def __init__(self, state, message, transaction_context) -> None:
            super().__init__(state, message, transaction_context)
            if steps:
                self.code.__class__ = _TracedCodeStream

        @classmethod
        def apply_message(cls, state, message, transaction_context, parent_computation=None):
            if hooks.create_msg is message:
                # apply_create_message runs its message through here: one frame, not two
                hooks.create_msg = None
                return super().apply_message(state, message, transaction_context,
                                             parent_computation=parent_computation)
            return hooks.frame(super().apply_message, state, message, transaction_context,
                               parent_computation)

        @classmethod
        def apply_create_message(cls, state, message, transaction_context, parent_computation=None):
            hooks.create_msg = message
            try:
                # the frame spans the code deposit, so its gas and error include it
                return hooks.frame(super().apply_create_message, state, message, transaction_context,
                                   parent_computation)
            finally:
                hooks.create_msg = None

    Traced.__name__ = f"Traced{base.__name__}"
    return Traced


@contextlib.contextmanager
def traced(state, tracer: Tracer) -> Iterator[None]:
    """Report every computation run on `state` inside the block to `tracer`."""
    had_own = "computation_class" in vars(state)
    base = state.computation_class
    state.computation_class = _traced_class(base, tracer)
    try:
        yield
    finally:
        if had_own:
            state.computation_class = base
        else:
            del state.computation_class


# ---------------------------------------------------------------------------- errors

_INVALID_RE = re.compile(r"0x([0-9a-fA-F]+)")


def error_text(exc: BaseException) -> str:
    """py-evm's exception → geth's error string (what tools match on)."""
    if isinstance(exc, Revert):
        return "execution reverted"
    if isinstance(exc, OutOfGas):
        return "out of gas"
    if isinstance(exc, InsufficientStack):
        return "stack underflow"
    if isinstance(exc, FullStack):
        return "stack limit reached 1024 (1023)"
    if isinstance(exc, InvalidJumpDestination):
        return "invalid jump destination"
    if isinstance(exc, InvalidInstruction):
        m = _INVALID_RE.search(str(exc))
        return f"invalid opcode: {opcode_name(int(m.group(1), 16)) if m else 'INVALID'}"
    if isinstance(exc, WriteProtection):
        return "write protection"
    if isinstance(exc, OutOfBoundsRead):
        return "return data out of bounds"
    if isinstance(exc, StackDepthLimit):
        return "max call depth exceeded"
    if isinstance(exc, InsufficientFunds):
        return "insufficient balance for transfer"
    if isinstance(exc, ContractCreationCollision):
        return "contract address collision"
    if isinstance(exc, ReservedBytesInCode):
        return "invalid code: must not begin with 0xef"
    return str(exc) or exc.__class__.__name__
