"""evm_loop's inline opcodes give exactly py-evm's results: every inlined opcode on edge and random
operands (given as bytes and as ints on the stack), in tiny contracts run with the loop and with
py-evm's stock interpreter; output, gas and error compared, stack underflow and overflow included."""

from __future__ import annotations

import random

from eth.vm.stack import Stack

from imochain.chain import evm_loop, speedups

TARGET = b"\x00" * 19 + b"\xc0"
SENDER = bytes.fromhex("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266")  # dev account 0
EDGES = [0, 1, 2, 7, 31, 32, 255, 256, 300, 2**64, 2**128 + 5, 2**255 - 1, 2**255, 2**255 + 1,
         2**256 - 2, 2**256 - 1]
BINARY = {"ADD": 0x01, "MUL": 0x02, "SUB": 0x03, "LT": 0x10, "GT": 0x11, "SLT": 0x12, "SGT": 0x13,
          "EQ": 0x14, "AND": 0x16, "OR": 0x17, "XOR": 0x18, "BYTE": 0x1A, "SHL": 0x1B, "SHR": 0x1C,
          "SAR": 0x1D}
UNARY = {"ISZERO": 0x15, "NOT": 0x19, "MLOAD": 0x51, "CALLDATALOAD": 0x35}
ENV = {"ADDRESS": 0x30, "CALLER": 0x33, "CALLVALUE": 0x34, "CALLDATASIZE": 0x36}
MSTORE, MSIZE, RETURN, PUSH0, PUSH2, PUSH32, ADD = 0x52, 0x59, 0xF3, 0x5F, 0x61, 0x7F, 0x01
RESULTS_AT = 0x1000  # results are written from here on; memory below it is paid for at the start


def _push(value: int, form: str) -> bytes:
    """Pushes `value` as a full word (bytes), as its shortest PUSH (bytes, b"" for 0), or as an int
    (the sum of the word and PUSH0: py-evm keeps arithmetic results as ints)."""
    if form == "short":
        size = (value.bit_length() + 7) // 8
        return bytes([0x5F + size]) + value.to_bytes(size, "big")
    word = bytes([PUSH32]) + value.to_bytes(32, "big")
    return word if form == "word" else word + bytes([PUSH0, ADD])


def _program(cases: list[bytes]) -> bytes:
    """Each case leaves one item; it is stored at the next word, then all results are returned.
    Memory is expanded once first, so the MSTOREs after it are inline ones (no expansion)."""
    code = bytes([PUSH0, PUSH2]) + (RESULTS_AT + 32 * len(cases) - 32).to_bytes(2, "big") + bytes([MSTORE])
    for i, case in enumerate(cases):
        code += case + bytes([PUSH2]) + (RESULTS_AT + 32 * i).to_bytes(2, "big") + bytes([MSTORE])
    return code + bytes([MSIZE, PUSH0, RETURN])


def _operands(rng: random.Random) -> list[int]:
    return EDGES + [rng.getrandbits(rng.choice([8, 64, 200, 256])) for _ in range(6)]


def _binary_cases(op: int, rng: random.Random) -> list[bytes]:
    values = _operands(rng)
    forms = ["word", "short", "int"]
    return [_push(b, rng.choice(forms)) + _push(a, rng.choice(forms)) + bytes([op]) for a in values for b in values]


def _unary_cases(op: int, rng: random.Random) -> list[bytes]:
    if op == 0x51:  # MLOAD: offsets within the memory the program pays for first
        values = [0, 1, 31, 32, 0x800, RESULTS_AT - 32, RESULTS_AT] + [rng.randrange(RESULTS_AT) for _ in range(3)]
    else:
        values = _operands(rng)
    return [_push(v, form) + bytes([op]) for v in values for form in ("word", "short", "int")]


def _both(evm_node, code: bytes, data: bytes = b"", value: int = 0, gas: int = 5_000_000) -> tuple:
    """(stock py-evm's result, the loop's result), each (output, gas used, error)."""
    out = []
    for enabled in (False, True):
        speedups.set_tx_speedups(enabled)
        r = evm_node.execute_call({"from": SENDER, "to": TARGET, "gas": gas, "value": value, "data": data},
                              overrides={TARGET: {"code": code}})
        out.append((r.output, r.gas_used, r.error))
    return tuple(out)


def test_binary_and_unary_ops_match_py_evm(evm_node):
    rng = random.Random(14)
    for name, op in list(BINARY.items()) + list(UNARY.items()):
        cases = _binary_cases(op, rng) if name in BINARY else _unary_cases(op, rng)
        stock, fast = _both(evm_node, _program(cases), data=rng.randbytes(70))
        assert stock == fast, name
        assert stock[2] is None and len(stock[0]) >= RESULTS_AT + 32 * len(cases), name


def test_the_ops_run_inline(evm_node, monkeypatch):
    """A program of inlined ops only (memory expansion included) makes no call to the stack's
    methods (py-evm's functions would): the comparisons here test the loop's code, not py-evm's twice."""
    rng = random.Random(1)
    cases = [case for op in BINARY.values() for case in _binary_cases(op, rng)[:20]]
    cases += [_push(5, "int") + bytes([op]) for op in (0x15, 0x19, 0x35, 0x51)]
    cases += [bytes([op]) for op in ENV.values()]
    speedups.set_tx_speedups(True)
    used = []
    for method in ("pop_ints", "pop1_int", "pop1_bytes", "pop_bytes", "push_int", "push_bytes"):
        original = getattr(Stack, method)
        monkeypatch.setattr(Stack, method, lambda *a, _o=original, _m=method: used.append(_m) or _o(*a))
    r = evm_node.execute_call({"to": TARGET, "gas": 5_000_000}, overrides={TARGET: {"code": _program(cases)}})
    assert r.error is None and used == ["push_int"]  # only the MSIZE at the end (RETURN: evm_state_ops)
    used.clear()
    # the counting itself works: DIV is not done inline, and its function pops through the stack
    r = evm_node.execute_call({"to": TARGET, "gas": 5_000_000}, overrides={TARGET: {"code": bytes.fromhex("6001600204")}})
    assert r.error is None and used == ["pop_ints", "push_int"]


def test_environment_ops_match_py_evm(evm_node):
    rng = random.Random(3)
    code = _program([bytes([op]) for op in ENV.values()] * 2)
    for data, value in [(b"", 0), (rng.randbytes(1), 7), (rng.randbytes(68), 10**18), (rng.randbytes(300), 0)]:
        stock, fast = _both(evm_node, code, data, value)
        assert stock == fast and stock[2] is None
        assert stock[0][RESULTS_AT + 12:RESULTS_AT + 32] == TARGET  # ADDRESS, as a check of the harness


def test_calldataload_offsets_match_py_evm(evm_node):
    rng = random.Random(5)
    offsets = [0, 1, 4, 31, 32, 36, 67, 68, 69, 100, 2**64, 2**255, 2**256 - 1]
    code = _program([_push(o, form) + bytes([0x35]) for o in offsets for form in ("word", "short", "int")])
    for data in (b"", b"\x01", rng.randbytes(68), b"\x00" * 40 + b"\x05"):
        stock, fast = _both(evm_node, code, data)
        assert stock == fast and stock[2] is None


def test_memory_ops_match_py_evm(evm_node):
    """MSTORE/MLOAD inside memory already paid for, at its edge, past it (expansion gas), and at
    offsets no gas can pay for (py-evm's out-of-gas), values as words, short bytes and ints."""
    rng = random.Random(9)
    value = rng.getrandbits(256)
    programs = {
        "store within, read back": _program([_push(value, f) + _push(o, "short") + bytes([MSTORE])
                                             + _push(o, "int") + bytes([0x51])
                                             for o in (0, 5, 64, RESULTS_AT - 32) for f in ("word", "short", "int")]),
        "grows word by word": b"".join(_push(7, "short") + _push(32 * i + 1, "short") + bytes([MSTORE])
                                       for i in range(40)) + bytes([MSIZE, PUSH0, RETURN]),
        "small values stored": _program([_push(v, "short") + _push(64, "int") + bytes([MSTORE, 0x60, 64, 0x51])
                                         for v in (0, 1, 255, 2**255)]),
        "mload far": _push(2**32, "word") + bytes([0x51]),
        "mstore far": _push(1, "short") + _push(2**256 - 1, "word") + bytes([MSTORE]),
        "mload at the edge": _program([_push(RESULTS_AT + 32 * 4, "short") + bytes([0x51])] * 5),
        "mload a byte past it": _program([_push(RESULTS_AT + 32 * 4 + 1, "short") + bytes([0x51])] * 5),
    }
    for name, code in programs.items():
        stock, fast = _both(evm_node, code)
        assert stock == fast, name
    assert _both(evm_node, programs["mstore far"])[0][2]  # it does fail (out of gas)


def test_stack_errors_and_out_of_gas_match_py_evm(evm_node):
    """Too few items (each arity), a full stack for the ops that push, and gas that runs out
    midway: py-evm's errors and gas, with the loop as without it."""
    arity = {**{op: 2 for op in BINARY.values()}, 0x15: 1, 0x19: 1, 0x35: 1, 0x51: 1, MSTORE: 2, 0x56: 1, 0x57: 2}
    codes = {}
    for op, n in arity.items():
        for have in range(n):
            codes[f"{op:#x} with {have}"] = bytes([0x60, 1]) * have + bytes([op])
    for op in list(ENV.values()) + [0x80, 0x5F, 0x60]:
        codes[f"{op:#x} on a full stack"] = bytes([PUSH0]) * 1024 + bytes([op, 0])
    codes["out of gas midway"] = _program(_binary_cases(0x01, random.Random(2))[:50])
    succeeded = []
    for name, code in codes.items():
        stock, fast = _both(evm_node, code, gas=21_000 + 1_200 if name == "out of gas midway" else 5_000_000)
        assert stock == fast, name
        if stock[2] is None:
            succeeded.append(name)
    assert succeeded == [], "each of these fails"


def test_random_programs_match_py_evm(evm_node):
    """Random mixes of the inlined ops over a stack of random items, with the odd underflow."""
    rng = random.Random(77)
    ops = list(BINARY.values()) + [0x15, 0x19, 0x35, 0x80, 0x81, 0x90, 0x91, 0x50] + list(ENV.values())
    for _ in range(40):
        code, depth = b"", 0
        for _ in range(rng.randint(5, 80)):
            if depth < 3 and rng.random() < 0.95 or rng.random() < 0.3:
                code += _push(rng.choice(EDGES + [rng.getrandbits(256)]), rng.choice(["word", "short", "int"]))
                depth += 1
                continue
            op = rng.choice(ops)
            code += bytes([op])
            depth += {0x80: 1, 0x81: 1, 0x90: 0, 0x91: 0, 0x50: -1, 0x15: 0, 0x19: 0, 0x35: 0}.get(
                op, 1 if op in ENV.values() else -1)
        stores = b"".join(bytes([PUSH2]) + (32 * i).to_bytes(2, "big") + bytes([MSTORE]) for i in range(depth))
        code += stores + bytes([MSIZE, PUSH0, RETURN])
        stock, fast = _both(evm_node, code, data=rng.randbytes(rng.choice([0, 36, 68])), value=rng.choice([0, 3]))
        assert stock == fast, code.hex()


def test_every_inlined_function_is_py_evms():
    """The table is keyed by py-evm's own logic functions, so a fork or tracer that replaces one
    gets its function called (never the inline copy)."""
    from eth.vm.forks.prague.computation import PragueComputation
    table = PragueComputation.opcodes
    inlined = {op for op, fn in table.items() if getattr(fn, "logic_fn", None) in evm_loop._INLINE}
    wanted = set(BINARY.values()) | {0x15, 0x19, 0x35, 0x51, MSTORE} | set(ENV.values())
    assert wanted <= inlined
