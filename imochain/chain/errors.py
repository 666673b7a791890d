"""Errors the chain raises; the RPC layer maps each to a JSON-RPC error code."""

from __future__ import annotations

from eth_abi import decode as abi_decode

ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)

PANIC_CODES = {
    0x01: "assertion failed",
    0x11: "arithmetic underflow or overflow",
    0x12: "division or modulo by zero",
    0x21: "enum overflow",
    0x22: "invalid encoded storage byte array accessed",
    0x31: "out-of-bounds array access; popping on an empty array",
    0x32: "out-of-bounds access of an array or bytesN",
    0x41: "out of memory",
    0x51: "uninitialized function",
}


class ChainError(Exception):
    """Base class: a request the chain refuses, with a message meant for the user."""


class TransactionRejected(ChainError):
    """A transaction that never entered the pool (anvil answers these with -32000/-32003)."""


class InvalidParams(ChainError):
    """A request argument the chain cannot use (unknown block, bad tag, ...)."""


class BlockNotFound(InvalidParams):
    pass


class GenesisError(ChainError):
    pass


class ExecutionReverted(ChainError):
    """A call that reverted: `data` holds the revert bytes, `reason` the decoded text."""

    def __init__(self, data: bytes, reason: str | None = None):
        self.data = data
        self.reason = reason if reason is not None else decode_revert_reason(data)
        super().__init__(f"execution reverted: {self.reason}" if self.reason else "execution reverted")


class ExecutionFailed(ChainError):
    """A call that failed without revert data (out of gas, invalid opcode, precompile error)."""


def decode_revert_reason(data: bytes) -> str | None:
    if data[:4] == ERROR_SELECTOR:
        try:
            return abi_decode(["string"], data[4:])[0]
        except Exception:
            return None
    if data[:4] == PANIC_SELECTOR and len(data) == 36:
        code = int.from_bytes(data[4:], "big")
        return f"panic: {PANIC_CODES.get(code, 'unknown panic')} (0x{code:02x})"
    if data[:4] and len(data) >= 4:
        return f"custom error 0x{data[:4].hex()}"
    return None
