"""Genesis predeploys of the IMO half of the contracts: the IMO launchpad, the ERC-7007 collection
of the shipped generator model and, optionally, a demo ERC-7641 token.

`predeploys(...)` gives (name, address, initcode) for the genesis plan (genesis.py calls it),
which places each contract at its address by running its initcode there. None of these
constructors calls another contract or uses `address(this)`, so running the initcode at the
final address gives the same state as a deploy.
"""

from __future__ import annotations

import json
from pathlib import Path

from eth_abi import encode
from eth_utils import to_canonical_address

from . import GENESIS_ADDRESSES

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

# The genesis plan (genesis.py) places the launchpad and the collection itself at the addresses of
# GENESIS_ADDRESSES; this helper uses the same ones so the two never disagree. The demo token is
# only placed by callers that ask for it (demo_token=True).
LAUNCHPAD_ADDRESS = to_canonical_address(GENESIS_ADDRESSES["IMOLaunchpad"])
COLLECTION_ADDRESS = to_canonical_address(GENESIS_ADDRESSES["ERC7007Collection"])
DEMO_TOKEN_ADDRESS = to_canonical_address("0xc0de000000000000000000000000000000007641")

# The demo token copies ORA's first IMO token: 1e9 tokens, 80 % claimable, 90 days between
# snapshots.
DEMO_TOKEN_ARGS = ("imochain Demo RevShare", "IMOD", 10**9 * 10**18, 80, 90 * 24 * 3600)

# The ERC-7007 collection of the digits generator.
AIGC_NAME = "imochain AIGC digits"
AIGC_SYMBOL = "AIGC"
AIGC_DESCRIPTION = "Digits drawn by imochain's int8 generator model, verified through the AI oracle."
AIGC_TYPE = "image"
COLLECTION_MINT_FEE = 10**15  # 0.001 ETH per mint on top of the oracle fee, to the model's token
COLLECTION_CALLBACK_GAS = 1_500_000  # aiOracleCallback mints and stores the 320-byte image tensor


def _artifact(name: str) -> dict:
    return json.loads((ARTIFACTS / f"{name}.json").read_text(encoding="utf-8"))


def initcode(name: str, types: list[str], args: tuple) -> bytes:
    """Creation bytecode of artifact `name` with ABI-encoded constructor arguments."""
    art = _artifact(name)
    return bytes.fromhex(art["bytecode"][2:]) + encode(types, list(args))


def predeploys(
    owner: bytes,
    oracle: bytes,
    generator_model_id: int | None = None,
    *,
    validity_proofs: bool = False,
    mint_fee: int = COLLECTION_MINT_FEE,
    callback_gas_limit: int = COLLECTION_CALLBACK_GAS,
    demo_token: bool = False,
) -> list[tuple[str, bytes, bytes]]:
    """(name, 20-byte address, initcode) for each IMO contract placed at genesis.

    owner: holder of the demo token's whole supply (dev account 0), when demo_token.
    oracle: the AIOracle's address.
    generator_model_id: the oracle model id of the generator model the ERC-7007 collection mints
        with (no collection when None). validity_proofs: int8 models the 0xA1 precompile re-runs
        (proof_type "validity"); False records fraud proofs (opML finality).
    """
    owner = to_canonical_address(owner)
    oracle = to_canonical_address(oracle)
    out = [("IMOLaunchpad", LAUNCHPAD_ADDRESS, initcode("IMOLaunchpad", ["address"], (oracle,)))]
    if demo_token:
        out.append(
            (
                "ERC7641",
                DEMO_TOKEN_ADDRESS,
                initcode(
                    "ERC7641",
                    ["string", "string", "uint256", "uint256", "uint256", "address"],
                    (*DEMO_TOKEN_ARGS, owner),
                ),
            )
        )
    if generator_model_id is not None:
        out.append(
            (
                "ERC7007Collection",
                COLLECTION_ADDRESS,
                initcode(
                    "ERC7007Collection",
                    ["string", "string", "address", "uint256", "uint256", "uint64", "bool", "string", "string"],
                    (
                        AIGC_NAME,
                        AIGC_SYMBOL,
                        oracle,
                        generator_model_id,
                        mint_fee,
                        callback_gas_limit,
                        validity_proofs,
                        AIGC_DESCRIPTION,
                        AIGC_TYPE,
                    ),
                ),
            )
        )
    return out
