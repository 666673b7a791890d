"""The tracers: geth's output shapes for the debug_ methods (struct logs, callTracer, 4byte, noop).

`StructLogger` (the default opcode logger) and `CallTracer` (`callTracer`); `FourByteTracer`
and `NoopTracer` are the cheap extras geth also ships. tracing.py attaches any of them to a
state; the RPC layer renders nothing itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from eth.exceptions import Revert

from eth_utils import to_checksum_address

from .errors import decode_revert_reason
from .tracing import (_SLOT_BYTES, _STEP_BYTES, _WORD_BYTES, MAX_STRUCT_LOGS, MAX_TRACE_BYTES, TraceTooLarge,
                      Tracer, error_text)


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
