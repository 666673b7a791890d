"""Transaction tracing: make py-evm report opcodes and call frames to a tracer.

`traced(state, tracer)` gives the state, for the duration of a `with` block, a subclass of its
computation class whose opcode table wraps opcodes with reporting closures and whose
`apply_message` / `apply_create_message` report call frames. Nothing is patched globally and
nothing changes outside the block, so mining and plain calls keep py-evm's untouched classes
and pay nothing for tracing.

Two tracers produce geth's output shapes (the debug_ RPC methods render nothing themselves):
`StructLogger` (the default opcode logger) and `CallTracer` (`callTracer`); `FourByteTracer`
and `NoopTracer` are the cheap extras geth also ships.
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from eth.exceptions import (ContractCreationCollision, FullStack, Halt, InsufficientFunds,
                            InsufficientStack, InvalidInstruction, InvalidJumpDestination,
                            OutOfBoundsRead, OutOfGas, ReservedBytesInCode, Revert,
                            StackDepthLimit, VMError, WriteProtection)
from eth.vm.code_stream import CodeStream
from eth.vm.logic.invalid import InvalidOpcode
from eth_utils import to_checksum_address

from .errors import ChainError, decode_revert_reason

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


def _word(v: int | bytes) -> int:
    return v if v.__class__ is int else int.from_bytes(v, "big")


def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


# ---------------------------------------------------------------------------- struct logger

class StructLogger(Tracer):
    """geth's default tracer: one entry per opcode executed."""

    all_steps = True

    def __init__(self, *, disable_stack: bool = False, disable_storage: bool = False,
                 enable_memory: bool = False, enable_return_data: bool = False, limit: int = 0,
                 max_logs: int = MAX_STRUCT_LOGS, max_bytes: int = MAX_TRACE_BYTES) -> None:
        self.stack = not disable_stack
        self.storage = not disable_storage
        self.memory = enable_memory
        self.return_data = enable_return_data
        self.limit = limit
        self.max_logs = max_logs
        self.max_bytes = max_bytes
        self.size = 0  # estimated JSON bytes of the logs so far
        self.logs: list[dict] = []
        self._steps = -1  # so the deadline is checked at the first step too
        # per running opcode: [entry or None, gas before, computation, gasCost already set]
        self._open: list[list] = []
        # per open frame: [its computation once seen, refunds of its finished children]
        self._frames: list[list] = []
        self._seen: dict[bytes, dict[str, str]] = {}  # storage slots touched, per address

    def enter(self, msg, kind, parent, precompile) -> None:
        # The call-family opcode's cost is what it took from the caller before the child
        # started: for calls that includes the gas handed over (geth counts it), for
        # creates geth does not count it.
        if self._open and parent is not None:
            o = self._open[-1]
            if o[0] is not None and not o[3] and o[2] is parent:
                cost = o[1] - parent.get_gas_remaining()
                if msg.is_create:
                    cost -= msg.gas
                o[0]["gasCost"] = cost
                o[3] = True
        self._frames.append([None, 0])

    def exit(self, msg, comp, error) -> None:
        done = self._frames.pop()
        if comp is not None and error is None and self._frames:
            # a successful child's refunds stay in the transaction's counter
            self._frames[-1][1] += done[1] + comp._gas_meter.gas_refunded

    def step(self, comp, pc, op, name) -> None:
        gas = comp.get_gas_remaining()
        self._steps += 1
        if not self._steps & 0x3FF:
            self.check_deadline()
        if self.limit and len(self.logs) >= self.limit:
            self._open.append([None, gas, comp, True])
            return
        if len(self.logs) >= self.max_logs:
            raise TraceTooLarge(f"trace exceeds {self.max_logs} steps; use the 'limit' option "
                                "or the callTracer")
        self._account(comp, op)
        entry: dict = {"pc": pc, "op": name, "gas": gas, "gasCost": 0, "depth": comp.msg.depth + 1}
        frames = self._frames
        if frames:
            if frames[-1][0] is None:
                frames[-1][0] = comp
            refund = 0
            for c, children in frames:
                refund += children + (c._gas_meter.gas_refunded if c is not None else 0)
            if refund:
                entry["refund"] = refund
        values = comp._stack.values
        if self.stack:
            entry["stack"] = [hex(_word(v)) for v in values]
        if self.memory:
            mem = comp._memory._bytes
            entry["memory"] = [mem[i:i + 32].hex() for i in range(0, len(mem), 32)]
        if self.return_data:
            entry["returnData"] = _hex(comp.return_data)
        if self.storage and (op == 0x54 or op == 0x55):
            self._storage_step(comp, op, values, entry)
        self.logs.append(entry)
        self._open.append([entry, gas, comp, False])

    def _account(self, comp, op: int) -> None:
        """Add this step's JSON size to the total, refusing before anything is built."""
        size = _STEP_BYTES
        if self.stack:
            size += _WORD_BYTES * len(comp._stack.values)
        if self.memory:
            size += _WORD_BYTES * ((len(comp._memory._bytes) + 31) // 32)
        if self.return_data:
            size += 2 * len(comp.return_data)
        if self.storage and (op == 0x54 or op == 0x55):
            size += _SLOT_BYTES * (len(self._seen.get(comp.msg.storage_address, ())) + 1)
        self.size += size
        if self.size > self.max_bytes:
            raise TraceTooLarge(f"trace exceeds {self.max_bytes // 2**20} MiB; use the 'limit' option, "
                                "disableStack/disableStorage, no enableMemory, or the callTracer")

    def _storage_step(self, comp, op, values, entry) -> None:
        # geth shows, on SLOAD/SSTORE only, every slot of this contract the trace has touched
        address = comp.msg.storage_address
        if op == 0x54 and len(values) >= 1:
            slot = _word(values[-1])
            value = comp.state.get_storage(address, slot)
        elif op == 0x55 and len(values) >= 2:
            slot, value = _word(values[-1]), _word(values[-2])
        else:
            return
        seen = self._seen.setdefault(address, {})
        seen[f"{slot:064x}"] = f"{value:064x}"
        entry["storage"] = dict(seen)

    def step_end(self, comp, error) -> None:
        entry, gas, _, cost_set = self._open.pop()
        if entry is None:
            return
        if not cost_set:
            entry["gasCost"] = gas - comp.get_gas_remaining()
        if error is not None and not isinstance(error, Revert):
            entry["error"] = error_text(error)

    def result(self, *, gas_limit, gas_used, output, error, top=None, log_index=0) -> dict:
        failed = error is not None
        # geth keeps the output of a revert (its reason) and drops it for other failures
        value = output if not failed or isinstance(error, Revert) else b""
        # geth and anvil both write returnValue as bare hex, without 0x
        return {"gas": gas_used, "failed": failed, "returnValue": bytes(value).hex(),
                "structLogs": self.logs}


# ---------------------------------------------------------------------------- call tracer

@dataclass
class _Frame:
    type: str
    sender: bytes
    to: bytes | None
    value: int | None
    gas: int
    input: bytes
    gas_used: int = 0
    output: bytes | None = None
    error: str | None = None
    revert_reason: str | None = None
    calls: list = field(default_factory=list)
    logs: list = field(default_factory=list)  # (py-evm's log counter, log object)

    def surviving_logs(self, parent_failed: bool = False) -> Iterator[tuple[int, dict]]:
        failed = parent_failed or self.error is not None
        if not failed:
            yield from self.logs
        for c in self.calls:
            yield from c.surviving_logs(failed)

    def render(self, with_log: bool, parent_failed: bool = False) -> dict:
        failed = parent_failed or self.error is not None
        out: dict = {"type": self.type, "from": to_checksum_address(self.sender)}
        if self.to is not None:
            out["to"] = to_checksum_address(self.to)
        if self.value is not None:
            out["value"] = hex(self.value)
        out["gas"] = hex(self.gas)
        out["gasUsed"] = hex(self.gas_used)
        out["input"] = _hex(self.input)
        if self.output:
            out["output"] = _hex(self.output)
        if self.error is not None:
            out["error"] = self.error
        if self.revert_reason is not None:
            out["revertReason"] = self.revert_reason
        # geth drops the logs of a failed frame and of everything under it: they never happened
        if with_log and self.logs and not failed:
            out["logs"] = [entry for _, entry in self.logs]
        if self.calls:
            out["calls"] = [c.render(with_log, failed) for c in self.calls]
        return out


def revert_reason(data: bytes) -> str | None:
    """Error(string) and Panic(uint256) decode, as geth's revertReason; custom errors do not."""
    if data[:4] in (bytes.fromhex("08c379a0"), bytes.fromhex("4e487b71")):
        return decode_revert_reason(data)
    return None


class CallTracer(Tracer):
    """geth's callTracer: the tree of call frames, with logs on request."""

    def __init__(self, *, only_top_call: bool = False, with_log: bool = False) -> None:
        self.only_top_call = only_top_call
        self.with_log = with_log
        self.root: _Frame | None = None
        self._stack: list[_Frame] = []
        self._ops: list[tuple[int, _Frame | None]] = []  # hooked opcodes running

    def _skip(self, depth: int) -> bool:
        return self.only_top_call and depth > 0

    def enter(self, msg, kind, parent, precompile) -> None:
        if self._skip(msg.depth):
            return
        sender = parent.msg.storage_address if parent is not None else msg.sender
        if msg.is_create:
            to = msg.storage_address
            data = bytes(msg.code)
        else:
            to = msg.code_address if kind in ("DELEGATECALL", "CALLCODE") else msg.to
            data = bytes(msg.data_as_bytes)
        value = None if kind == "STATICCALL" else msg.value
        self._stack.append(_Frame(kind, sender, to, value, msg.gas, data))

    def exit(self, msg, comp, error) -> None:
        if self._skip(msg.depth):
            return
        frame = self._stack.pop()
        frame.gas_used = msg.gas - comp.get_gas_remaining() if comp is not None else msg.gas
        if error is None:
            frame.output = bytes(comp.output)
        else:
            frame.error = error_text(error)
            if msg.is_create:
                frame.to = None
            if isinstance(error, Revert) and comp is not None and comp.output:
                frame.output = bytes(comp.output)
                frame.revert_reason = revert_reason(frame.output)
        if self._stack:
            self._stack[-1].calls.append(frame)
        else:
            self.root = frame

    def step(self, comp, pc, op, name) -> None:
        # a SELFDESTRUCT frame needs the balance before the opcode moves it
        pending = None
        if op == 0xFF and comp._stack.values:
            beneficiary = _word(comp._stack.values[-1]).to_bytes(32, "big")[12:]
            address = comp.msg.storage_address
            pending = _Frame("SELFDESTRUCT", address, beneficiary, comp.state.get_balance(address), 0, b"")
        self._ops.append((op, pending))  # a stack: a CALL's end comes after its child's steps

    def step_end(self, comp, error) -> None:
        op, pending = self._ops.pop()
        if error is not None or not self._stack:
            return
        if op == 0xFF and pending is not None and not self._skip(comp.msg.depth + 1):
            self._stack[-1].calls.append(pending)
        elif 0xA0 <= op <= 0xA4 and self.with_log and not self._skip(comp.msg.depth):
            counter, address, topics, data = comp._log_entries[-1]
            current = self._stack[-1]
            # position: how many calls of this frame came before the log
            current.logs.append((counter, {
                "address": to_checksum_address(address),
                "topics": [_hex(t.to_bytes(32, "big")) for t in topics],
                "data": _hex(data), "position": hex(len(current.calls))}))

    def result(self, *, gas_limit, gas_used, output, error, top=None, log_index: int = 0) -> dict:
        """`log_index`: the block-level index of the transaction's first log (0 for a call)."""
        root = self.root
        if root is None:  # no frame ran (address collision): describe the transaction alone
            top = top or {}
            root = _Frame("CREATE" if top.get("to") is None else "CALL", top.get("from") or b"\0" * 20,
                          top.get("to"), top.get("value", 0), gas_limit, top.get("input", b""))
            if error is not None:
                root.error = error_text(error)
        root.gas = gas_limit
        root.gas_used = gas_used
        if self.with_log:
            # index: the log's place among those the receipt keeps (reverted ones are gone)
            for i, (_, entry) in enumerate(sorted(root.surviving_logs(), key=lambda x: x[0])):
                entry["index"] = hex(log_index + i)
        return root.render(self.with_log)


class FourByteTracer(Tracer):
    """geth's 4byteTracer: how often each selector-and-calldata-size pair was called."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def enter(self, msg, kind, parent, precompile) -> None:
        if msg.is_create or precompile:
            return
        data = bytes(msg.data_as_bytes)
        if len(data) >= 4:
            key = f"0x{data[:4].hex()}-{len(data) - 4}"
            self.counts[key] = self.counts.get(key, 0) + 1

    def result(self, **_: Any) -> dict:
        return dict(self.counts)


class NoopTracer(Tracer):
    """geth's noopTracer: runs the trace machinery and returns {}."""
