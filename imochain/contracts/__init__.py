"""imochain's genesis contracts: compiled artifacts and thin bindings.

The node reads only the committed JSON under ``artifacts/`` (no compiler at run time); the
artifacts are (re)built with ``python -m imochain.contracts.build``. The genesis plan (which
contracts land where, and the calls that configure them) is in :mod:`imochain.contracts.genesis`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from eth_utils import to_checksum_address

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"

# Fixed genesis addresses. The oracle sits at ORA's address so ORA consumers work unchanged; the
# others share a readable 0xC0DE... prefix well away from precompile ranges.
GENESIS_ADDRESSES: dict[str, str] = {
    name: to_checksum_address(addr)
    for name, addr in {
        "AIOracle": "0x0A0f4321214BB6C7811dD8a71cF587bdaF03f0A0",
        "OpML": "0xc0de000000000000000000000000000000000001",
        "Prompt": "0xc0de000000000000000000000000000000000002",
        "OpMLBisection": "0xc0de000000000000000000000000000000000003",
        "IMOLaunchpad": "0xc0de000000000000000000000000000000000010",
        "ERC7007Collection": "0xc0de000000000000000000000000000000000020",
    }.items()
}


@lru_cache(maxsize=None)
def _load(name: str) -> str:
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in ARTIFACTS_DIR.glob("*.json")))
        raise KeyError(f"no artifact named {name!r} (known: {known})")
    return path.read_text(encoding="utf-8")


def load_artifact(name: str) -> dict:
    """The artifact of contract ``name``: abi, bytecode, deployedBytecode, sourceHash, ..."""
    return json.loads(_load(name))


def abi(name: str) -> list:
    return load_artifact(name)["abi"]


def bytecode(name: str) -> bytes:
    """Creation bytecode (no constructor arguments)."""
    return bytes.fromhex(load_artifact(name)["bytecode"][2:])


def deployed_bytecode(name: str) -> bytes:
    return bytes.fromhex(load_artifact(name)["deployedBytecode"][2:])


def artifact_names() -> list[str]:
    return sorted(p.stem for p in ARTIFACTS_DIR.glob("*.json"))


def contract(w3, name: str, address: str | None = None):
    """A web3.py contract object for ``name`` at its genesis address (or ``address``)."""
    return w3.eth.contract(address=address or GENESIS_ADDRESSES[name], abi=abi(name))


__all__ = [
    "ARTIFACTS_DIR",
    "GENESIS_ADDRESSES",
    "abi",
    "artifact_names",
    "bytecode",
    "contract",
    "deployed_bytecode",
    "load_artifact",
]
