"""Strict parsing of JSON-RPC parameters into Python values; every failure names the field."""

from __future__ import annotations

from typing import Any


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def invalid(message: str) -> RpcError:
    return RpcError(-32602, message)


MAX_QUANTITY = 2**256 - 1
_HEX = frozenset("0123456789abcdefABCDEF")
BLOCK_TAGS = ("latest", "pending", "earliest", "safe", "finalized")


def quantity(value: Any, field: str = "value", max_value: int = MAX_QUANTITY) -> int:
    if isinstance(value, bool):
        raise invalid(f"invalid {field}: expected a hex quantity, got a boolean")
    if isinstance(value, int):  # some clients send plain numbers; accept non-negative ones
        n = value
    elif isinstance(value, str) and value[:2] in ("0x", "0X") and len(value) > 2:
        try:
            if not _HEX.issuperset(value[2:]):  # int() would take spaces, "_" and signs
                raise ValueError
            n = int(value[2:], 16)
        except ValueError:
            raise invalid(f"invalid {field}: {value[:80]!r} is not a hex quantity") from None
        if len(value) > 66:
            raise invalid(f"invalid {field}: quantity exceeds 256 bits")
    else:
        raise invalid(f"invalid {field}: expected a 0x-prefixed hex quantity, got {str(value)[:80]!r}")
    if n < 0 or n > max_value:
        raise invalid(f"invalid {field}: {n} out of range")
    return n


def data(value: Any, field: str = "data", length: int | None = None) -> bytes:
    if not isinstance(value, str) or value[:2] not in ("0x", "0X"):
        raise invalid(f"invalid {field}: expected 0x-prefixed hex data, got {str(value)[:80]!r}")
    body = value[2:]
    if len(body) % 2:
        raise invalid(f"invalid {field}: hex string has odd length")
    try:
        out = bytes.fromhex(body)
        if 2 * len(out) != len(body):  # bytes.fromhex skips whitespace; hex data has none
            raise ValueError
    except ValueError:
        raise invalid(f"invalid {field}: {value[:80]!r} is not hex") from None
    if length is not None and len(out) != length:
        raise invalid(f"invalid {field}: expected {length} bytes, got {len(out)}")
    return out


def address(value: Any, field: str = "address") -> bytes:
    return data(value, field, 20)


def hash32(value: Any, field: str = "hash") -> bytes:
    return data(value, field, 32)


def block_id(value: Any, field: str = "block") -> Any:
    """A block number, tag, hash, or EIP-1898 object → what Node.resolve_block takes."""
    if value is None:
        return "latest"
    if isinstance(value, str):
        if value in BLOCK_TAGS:
            return value
        if value.startswith("0x") and len(value) == 66:
            return hash32(value, field)
        return quantity(value, field, 2**63)
    if isinstance(value, int) and not isinstance(value, bool):
        return quantity(value, field, 2**63)
    if isinstance(value, dict):
        if "blockHash" in value:
            return hash32(value["blockHash"], f"{field}.blockHash")
        if "blockNumber" in value:
            return block_id(value["blockNumber"], f"{field}.blockNumber")
    raise invalid(f"invalid {field}: {str(value)[:80]!r} is not a block number, tag or hash")


TX_FIELDS = {"from", "to", "gas", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "value",
             "data", "input", "nonce", "accessList", "type", "chainId", "blobVersionedHashes",
             "maxFeePerBlobGas", "authorizationList"}


def tx_request(obj: Any, field: str = "transaction") -> dict:
    """eth_call / eth_sendTransaction / eth_estimateGas object → python-typed dict."""
    if not isinstance(obj, dict):
        raise invalid(f"invalid {field}: expected an object")
    out: dict = {}
    if obj.get("from") is not None:
        out["from"] = address(obj["from"], f"{field}.from")
    if obj.get("to") is not None:
        out["to"] = address(obj["to"], f"{field}.to")
    for key in ("gas", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "value", "nonce"):
        if obj.get(key) is not None:
            limit = 2**64 - 1 if key in ("gas", "nonce") else MAX_QUANTITY
            out[key] = quantity(obj[key], f"{field}.{key}", limit)
    payload_in = obj.get("input")
    payload_data = obj.get("data")
    if payload_in is not None and payload_data is not None and payload_in != payload_data:
        raise invalid(f"invalid {field}: both 'data' and 'input' given and they differ")
    payload = payload_in if payload_in is not None else payload_data
    if payload is not None:
        out["data"] = data(payload, f"{field}.input")
    if obj.get("accessList") is not None:
        out["accessList"] = access_list(obj["accessList"], f"{field}.accessList")
    if obj.get("chainId") is not None:
        out["chainId"] = quantity(obj["chainId"], f"{field}.chainId")
    if obj.get("type") is not None:
        out["type"] = quantity(obj["type"], f"{field}.type", 0xFF)
    if obj.get("authorizationList") is not None:
        out["authorizationList"] = authorization_list(obj["authorizationList"], f"{field}.authorizationList")
    return out


def authorization_list(value: Any, field: str) -> list:
    """EIP-7702 signed authorizations → dicts with py-evm's Authorization field names."""
    if not isinstance(value, list):
        raise invalid(f"invalid {field}: expected a list")
    out = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise invalid(f"invalid {field}[{i}]: expected an object")
        y_parity = entry.get("yParity", entry.get("v"))
        if y_parity is None:
            raise invalid(f"invalid {field}[{i}]: missing yParity")
        out.append({"chain_id": quantity(entry.get("chainId"), f"{field}[{i}].chainId"),
                    "address": address(entry.get("address"), f"{field}[{i}].address"),
                    "nonce": quantity(entry.get("nonce"), f"{field}[{i}].nonce", 2**64 - 1),
                    "y_parity": quantity(y_parity, f"{field}[{i}].yParity", 1),
                    "r": quantity(entry.get("r"), f"{field}[{i}].r"),
                    "s": quantity(entry.get("s"), f"{field}[{i}].s")})
    return out


def access_list(value: Any, field: str) -> list:
    if not isinstance(value, list):
        raise invalid(f"invalid {field}: expected a list")
    out = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise invalid(f"invalid {field}[{i}]: expected an object")
        keys = entry.get("storageKeys") or []
        if not isinstance(keys, list):
            raise invalid(f"invalid {field}[{i}].storageKeys: expected a list")
        out.append({"address": address(entry.get("address"), f"{field}[{i}].address"),
                    "storageKeys": [hash32(k, f"{field}[{i}].storageKeys") for k in keys]})
    return out


def state_overrides(obj: Any) -> dict | None:
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise invalid("invalid state overrides: expected an object keyed by address")
    out = {}
    for addr, o in obj.items():
        a = address(addr, "state override address")
        if not isinstance(o, dict):
            raise invalid(f"invalid state override for {addr}: expected an object")
        if o.get("state") is not None and o.get("stateDiff") is not None:
            raise invalid(f"invalid state override for {addr}: both state and stateDiff given")
        entry: dict = {}
        if o.get("balance") is not None:
            entry["balance"] = quantity(o["balance"], "override balance")
        if o.get("nonce") is not None:
            entry["nonce"] = quantity(o["nonce"], "override nonce", 2**64 - 1)
        if o.get("code") is not None:
            entry["code"] = data(o["code"], "override code")
        for key in ("state", "stateDiff"):
            if o.get(key) is not None:
                if not isinstance(o[key], dict):
                    raise invalid(f"invalid override {key}: expected an object")
                entry[key] = {int.from_bytes(hash32(k, f"{key} slot"), "big"):
                              int.from_bytes(hash32(v, f"{key} value"), "big") for k, v in o[key].items()}
        out[a] = entry
    return out


def arg(params: list, index: int, name: str, required: bool = True) -> Any:
    if index < len(params):
        return params[index]
    if required:
        raise invalid(f"missing value for required argument {index} ({name})")
    return None


def boolean(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise invalid(f"invalid {field}: expected true or false")
    return value


hexq = hex  # an int as a JSON-RPC quantity ("0x0", "0x1f"): the builtin itself, no wrapper call


def hexb(b: bytes) -> str:
    return "0x" + bytes(b).hex()
