"""The explorer's ABI registry: which contract sits where, and decoding of calls, events and reverts."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address
from eth_utils.abi import collapse_if_tuple

from imochain import safejson

log = logging.getLogger("imochain.ui")

MAX_ARTIFACT_BYTES = 8 * 1024 * 1024  # a Foundry/Hardhat artifact bigger than this is skipped
MAX_ARTIFACTS = 5000  # files read from one --abi-dir
MAX_UPLOADED = 1000  # ABIs a user may attach to addresses through the page
PANIC_CODES = {0x01: "assert failed", 0x11: "arithmetic overflow or underflow", 0x12: "division by zero",
               0x21: "invalid enum value", 0x22: "bad storage byte array", 0x31: "pop on empty array",
               0x32: "array index out of bounds", 0x41: "out of memory", 0x51: "call to an uninitialised function"}


def types_of(params: list[dict]) -> list[str]:
    return [collapse_if_tuple(p) for p in params]


def signature(entry: dict) -> str:
    return f"{entry['name']}({','.join(types_of(entry.get('inputs', [])))})"


@dataclass
class Decoded:
    """A decoded call, event or error: its contract (when known), name and (name, type, value) args."""
    contract: str | None
    name: str
    args: list[tuple[str, str, Any]]


class AbiRegistry:
    """ABIs by address (genesis contracts, uploads, artifacts matched by runtime code) and, for
    contracts the node has no name for, by selector and event topic across every known ABI."""

    def __init__(self):
        self.by_address: dict[bytes, tuple[str, list]] = {}
        self.by_code: dict[bytes, tuple[str, list]] = {}  # keccak(runtime code) -> (name, abi)
        self.functions: dict[bytes, tuple[str, dict]] = {}
        self.events: dict[tuple[bytes, int], tuple[str, dict]] = {}  # (topic0, indexed count)
        self.errors: dict[bytes, tuple[str, dict]] = {}

    # -- loading ------------------------------------------------------------------------------
    def add_abi(self, name: str, abi: list) -> None:
        for entry in abi:
            if not isinstance(entry, dict) or "name" not in entry:
                continue
            kind = entry.get("type")
            if kind == "function":
                self.functions.setdefault(keccak(text=signature(entry))[:4], (name, entry))
            elif kind == "event" and not entry.get("anonymous"):
                indexed = sum(1 for i in entry.get("inputs", []) if i.get("indexed"))
                self.events.setdefault((keccak(text=signature(entry)), indexed), (name, entry))
            elif kind == "error":
                self.errors.setdefault(keccak(text=signature(entry))[:4], (name, entry))

    def add_address(self, address: bytes, name: str, abi: list) -> None:
        if len(self.by_address) >= MAX_UPLOADED + 100 and address not in self.by_address:
            raise ValueError(f"too many ABIs attached (limit {MAX_UPLOADED})")
        self.by_address[bytes(address)] = (name, abi)
        self.add_abi(name, abi)

    def load_genesis(self) -> None:
        try:
            from imochain.contracts import GENESIS_ADDRESSES, abi, artifact_names
        except ImportError:
            return
        for name in artifact_names():
            self.add_abi(name, abi(name))
        for name, address in GENESIS_ADDRESSES.items():
            self.add_address(bytes.fromhex(address[2:]), name, abi(name))
        # Contracts the genesis ones deploy later (the launchpad's ERC-7641 tokens) are known
        # by their runtime code.
        from imochain.contracts import deployed_bytecode
        for name in ("ERC7641",):
            self.by_code[keccak(deployed_bytecode(name))] = (name, abi(name))

    def load_dir(self, folder: str) -> int:
        """Read Foundry `out/` and Hardhat `artifacts/` JSON files under ``folder``; returns how
        many ABIs were added. Unreadable or odd files are skipped, never fatal."""
        added = 0
        for path in sorted(Path(folder).rglob("*.json"))[:MAX_ARTIFACTS]:
            try:
                if path.stat().st_size > MAX_ARTIFACT_BYTES or path.name.endswith(".dbg.json"):
                    continue
                art = safejson.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if not isinstance(art, dict) or not isinstance(art.get("abi"), list):
                continue
            name = art.get("contractName") or path.stem
            self.add_abi(name, art["abi"])
            code = art.get("deployedBytecode")
            if isinstance(code, dict):  # Foundry: {"object": "0x..."}; Hardhat: "0x..."
                code = code.get("object")
            if isinstance(code, str) and len(code) > 2 and "__" not in code:
                try:
                    self.by_code[keccak(bytes.fromhex(code.removeprefix("0x")))] = (name, art["abi"])
                except ValueError:
                    pass
            added += 1
        return added

    # -- lookups ------------------------------------------------------------------------------
    def contract_at(self, address: bytes | None, code: bytes | None = None) -> tuple[str, list] | None:
        if address is None:
            return None
        known = self.by_address.get(bytes(address))
        if known is None and code:
            known = self.by_code.get(keccak(code))
        return known

    def abi_named(self, address: bytes, name: str) -> list | None:
        known = self.by_address.get(bytes(address))
        return known[1] if known and known[0] == name else None

    def decode_call(self, data: bytes, abi: list | None = None, contract: str | None = None) -> Decoded | None:
        if len(data) < 4:
            return None
        entry = None
        if abi:
            entry = next((e for e in abi if e.get("type") == "function" and "name" in e
                          and keccak(text=signature(e))[:4] == data[:4]), None)
        if entry is None:
            found = self.functions.get(bytes(data[:4]))
            if found is None:
                return None
            contract, entry = found  # the selector is known from another ABI: name that one
        return self._decode(contract, entry, entry.get("inputs", []), data[4:])

    def decode_log(self, topics: list[bytes], data: bytes) -> Decoded | None:
        if not topics:
            return None
        found = self.events.get((bytes(topics[0]), len(topics) - 1))
        if found is None:
            return None
        contract, entry = found
        inputs = entry.get("inputs", [])
        plain = [i for i in inputs if not i.get("indexed")]
        try:
            values = iter(abi_decode(types_of(plain), data))
        except Exception:
            return None
        args, topic_iter = [], iter(topics[1:])
        for i in inputs:
            kind = collapse_if_tuple(i)
            if i.get("indexed"):
                raw = next(topic_iter)
                dynamic = kind in ("string", "bytes") or kind.endswith("]") or kind.startswith("(")
                value = ("hash " + "0x" + bytes(raw).hex()) if dynamic else abi_decode([kind], raw)[0]
            else:
                value = next(values)
            args.append((i.get("name", ""), kind, value))
        return Decoded(contract, entry["name"], args)

    def decode_revert(self, data: bytes) -> str | None:
        """A revert's reason: Error(string), Panic(uint256), or a custom error of a known ABI."""
        if len(data) < 4:
            return None
        body = bytes(data[4:])
        try:
            if data[:4] == bytes.fromhex("08c379a0"):
                return abi_decode(["string"], body)[0]
            if data[:4] == bytes.fromhex("4e487b71"):
                code = abi_decode(["uint256"], body)[0]
                return f"panic 0x{code:02x}: {PANIC_CODES.get(code, 'unknown panic code')}"
        except Exception:
            return None
        found = self.errors.get(bytes(data[:4]))
        if found is None:
            return None
        decoded = self._decode(found[0], found[1], found[1].get("inputs", []), body)
        if decoded is None:
            return None
        return f"{decoded.name}({', '.join(f'{n}={show(v)}' for n, _, v in decoded.args)})"

    @staticmethod
    def _decode(contract, entry, inputs, body) -> Decoded | None:
        try:
            values = abi_decode(types_of(inputs), body)
        except Exception:
            return None
        return Decoded(contract, entry["name"],
                       [(i.get("name", ""), collapse_if_tuple(i), v) for i, v in zip(inputs, values)])


def encode_call(abi: list, name: str, args: list) -> tuple[bytes, dict]:
    entry = next(e for e in abi if e.get("type") == "function" and e.get("name") == name
                 and len(e.get("inputs", [])) == len(args))
    return keccak(text=signature(entry))[:4] + abi_encode(types_of(entry["inputs"]), args), entry


def decode_output(entry: dict, data: bytes):
    values = abi_decode(types_of(entry.get("outputs", [])), data)
    return values[0] if len(values) == 1 else values


def show(value) -> str:
    """A decoded ABI value as text for people (bytes as hex, addresses checksummed)."""
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, str) and len(value) == 42 and value.startswith("0x"):
        try:
            return to_checksum_address(value)
        except ValueError:
            return value
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return str(value)
