"""The genesis plan: which contracts the chain places at genesis, where, and how it configures them.

The chain executes the plan (this module only builds it): each :class:`Predeploy` runs as a CREATE
from ``owner`` with value 0 whose resulting code and storage land at the fixed ``address``, in
list order (constructors may reference earlier predeploys' fixed addresses); then each
:class:`GenesisCall` runs in order as a plain message call (no signature). A failing call aborts
genesis with its revert reason.

Deployed at genesis (addresses in :data:`imochain.contracts.GENESIS_ADDRESSES`):

=================  ==========================================  ====================================
AIOracle           0x0A0f4321214BB6C7811dD8a71cF587bdaF03f0A0  ORA's address; owner = dev account 0
OpML               0xC0de000000000000000000000000000000000001  window 5 blocks, bonds 0.1 ETH
Prompt             0xc0dE000000000000000000000000000000000002  example consumer
OpMLBisection      0xC0De000000000000000000000000000000000003  text-answer disputes, 10 blocks a move
IMOLaunchpad       0xc0De000000000000000000000000000000000010
ERC7007Collection  0xC0dE000000000000000000000000000000000020  for "digits-generator", if shipped
=================  ==========================================  ====================================

Models are registered with the ids of :data:`MODEL_IDS` (other names: 100, 101, ... in
sorted-name order, leaving ORA's small hosted ids such as 50 free for aliases; 11, ORA's Llama,
is the int8 SmolLM2's), fee
:data:`MODEL_FEE` wei, receiver = owner, receiverPercentage :data:`MODEL_RECEIVER_PERCENTAGE`,
model owner = owner (who may hand a model to the IMO launchpad). Models registered later with
``registerModel`` get ids from 1000. The oracle operator (:data:`OPERATOR_ADDRESS`) is
whitelisted and stakes :data:`OPERATOR_BOND` in the opML game.

opML bonds: a posted result carries a bond of 100 x the model fee its request paid, capped at
:data:`RESULT_BOND` (0 for a free request), and needs an operator stake that large; a challenge
sends exactly :data:`CHALLENGE_BOND` (``challengeMany``: that much per result). Challenger right
-> it gets its bond back plus min(bond, stake) slashed from the operator, and the re-executed
output replaces the result (delivered to the consumer once). Challenger wrong -> its bond goes
to the operator.
Winnings are credited in the game and withdrawn with ``withdrawBond``; an operator's stake is
locked until the window of its newest result has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector, to_canonical_address, to_checksum_address

from . import GENESIS_ADDRESSES, bytecode, imo_genesis

ETHER = 10**18

# Dev account 0 of `test test ... junk` (anvil/Hardhat): owner of every genesis contract.
OWNER_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
# The oracle operator: dev account 9 of the same mnemonic (m/44'/60'/0'/0/9). A public dev key:
# never use it on a real network.
OPERATOR_PRIVATE_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6"
OPERATOR_ADDRESS = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"

# Oracle model registration.
# "smollm2-int8" takes ORA's hosted-Llama id 11, so ORA consumers asking model 11 get the bit-exact
# integer SmolLM2 (`--model-alias 11=NAME` still points it elsewhere).
MODEL_IDS: dict[str, int] = {"digits-classifier": 1, "digits-generator": 2, "smollm2-int8": 11}
FIRST_OTHER_MODEL_ID = 100
MODEL_FEE = 10**15  # 0.001 ETH per inference (times batch size)
MODEL_RECEIVER_PERCENTAGE = 80  # the model's receiver gets 80 % of the model fee; the protocol 20 %

# opML game.
DEFAULT_CHALLENGE_WINDOW = 5  # blocks
RESULT_BOND = ETHER // 10  # stake an operator needs per posted result; slashed on a lost dispute
CHALLENGE_BOND = ETHER // 10  # exact value a challenger sends with challenge(requestId)
OPERATOR_BOND = 10 * ETHER  # what the operator stakes at genesis
# Bisection disputes over text answers (OpMLBisection): blocks per move, and the generated-token
# cap of an answer in the game (the worker's text cap, imochain.oracle.worker.TEXT_ANSWER_TOKENS).
BISECTION_MOVE_WINDOW = 10
BISECTION_MAX_NEW_TOKENS = 64

@dataclass(frozen=True)
class Predeploy:
    name: str
    address: bytes  # 20 bytes
    initcode: bytes  # creation bytecode + abi-encoded constructor arguments


@dataclass(frozen=True)
class GenesisCall:
    sender: bytes  # 20 bytes
    to: bytes  # 20 bytes
    data: bytes
    value: int = 0


def _addr(name: str) -> bytes:
    return to_canonical_address(GENESIS_ADDRESSES[name])


def _calldata(signature: str, types: list[str], args: list) -> bytes:
    return function_signature_to_4byte_selector(signature) + encode(types, args)


def model_ids(models: list[tuple[str, bytes]]) -> dict[str, int]:
    """Oracle model id of each model name: MODEL_IDS for the well-known names, then 100, 101, ...
    for the others in sorted-name order."""
    ids = {name: MODEL_IDS[name] for name, _ in models if name in MODEL_IDS}
    next_id = FIRST_OTHER_MODEL_ID
    for name in sorted({name for name, _ in models if name not in MODEL_IDS}):
        ids[name] = next_id
        next_id += 1
    return ids


def genesis_plan(
    owner: bytes,
    operator: bytes,
    models: list[tuple[str, bytes]],
    challenge_window: int = DEFAULT_CHALLENGE_WINDOW,
    unverifiable: Iterable[str] = (),
) -> tuple[list[Predeploy], list[GenesisCall]]:
    """Build the predeploys and configuration calls for a fresh chain (see the module docstring).

    ``unverifiable``: names of models registered with ``unverifiable = true`` (results final at
    once, no opML game), e.g. fp32 text models that are exact on one machine only."""
    owner = to_canonical_address(owner)
    operator = to_canonical_address(operator)
    if challenge_window < 1:
        raise ValueError("challenge_window must be at least 1 block")
    names = [name for name, _ in models]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate model names in {names}")
    for name, h in models:
        if len(h) != 32 or h == bytes(32):
            raise ValueError(f"model {name!r}: modelHash must be 32 non-zero bytes")
    ids = model_ids(models)
    unverifiable = set(unverifiable)
    if unverifiable - set(names):
        raise ValueError(f"unverifiable names not among the models: {sorted(unverifiable - set(names))}")
    oracle = _addr("AIOracle")

    predeploys = [
        Predeploy("AIOracle", oracle, bytecode("AIOracle")),
        Predeploy(
            "OpML",
            _addr("OpML"),
            bytecode("OpML")
            + encode(
                ["address", "uint256", "uint256", "uint256", "address"],
                [oracle, challenge_window, RESULT_BOND, CHALLENGE_BOND, _addr("OpMLBisection")],
            ),
        ),
        Predeploy(
            "OpMLBisection",
            _addr("OpMLBisection"),
            bytecode("OpMLBisection")
            + encode(
                ["address", "address", "uint256", "uint256", "uint256"],
                [_addr("OpML"), oracle, BISECTION_MOVE_WINDOW, CHALLENGE_BOND, BISECTION_MAX_NEW_TOKENS],
            ),
        ),
        Predeploy("Prompt", _addr("Prompt"), bytecode("Prompt") + encode(["address"], [oracle])),
    ]
    # The IMO half (launchpad, ERC-7007 collection of the generator model): constructor arguments
    # are owned by imo_genesis.py.
    for name, address, code in imo_genesis.predeploys(owner, oracle, ids.get("digits-generator")):
        predeploys.append(Predeploy(name, address, code))

    calls = [
        GenesisCall(owner, oracle, _calldata("setOpml(address)", ["address"], [_addr("OpML")])),
        GenesisCall(owner, oracle, _calldata("addToWhitelist(address)", ["address"], [operator])),
    ]
    for name, model_hash in sorted(models, key=lambda m: ids[m[0]]):
        calls.append(GenesisCall(owner, oracle, _model_calldata("uploadModel", ids[name], model_hash, owner,
                                                                name in unverifiable)))
    calls.append(GenesisCall(operator, _addr("OpML"), _calldata("depositBond()", [], []), OPERATOR_BOND))
    return predeploys, calls


_MODEL_TYPES = ["uint256", "bytes32", "bytes32", "uint256", "address", "uint256", "address", "bool"]


def _model_calldata(fn: str, model_id: int, model_hash: bytes, owner: bytes, unverifiable: bool) -> bytes:
    """uploadModel / updateModel(id, hash, no input hash, fee, receiver, share, no owner, unverifiable)."""
    return _calldata(f"{fn}({','.join(_MODEL_TYPES)})", _MODEL_TYPES,
                     [model_id, model_hash, bytes(32), MODEL_FEE, owner, MODEL_RECEIVER_PERCENTAGE, bytes(20),
                      unverifiable])


def alias_calls(aliases: dict[int, str], owner: bytes, models: list[tuple[str, bytes]],
                find, is_text) -> list[GenesisCall]:
    """`--model-alias ID=NAME`: ORA's hosted model ids answered by a local model.

    ``find(name)`` gives a model's hash (None when unknown); ``is_text(hash)`` marks fp32 text
    models, exact on one machine only, so registered without an opML dispute."""
    owner = to_canonical_address(owner)
    taken = set(model_ids(models).values())
    calls = []
    for model_id, name in sorted(aliases.items()):
        model_hash = find(name)
        if model_hash is None:
            raise ValueError(f"--model-alias {model_id}={name}: no model named {name!r} in the store")
        fn = "updateModel" if model_id in taken else "uploadModel"
        calls.append(GenesisCall(owner, _addr("AIOracle"),
                                 _model_calldata(fn, model_id, model_hash, owner, is_text(model_hash))))
    return calls


def describe(models: list[tuple[str, bytes]]) -> dict:
    """Names -> addresses and model names -> ids, for docs and the `imo_contracts` RPC."""
    ids = model_ids(models)
    contracts = dict(GENESIS_ADDRESSES)
    if "digits-generator" not in ids:
        contracts.pop("ERC7007Collection", None)
    return {
        "contracts": contracts,
        "models": {name: ids[name] for name, _ in models},
        "operator": to_checksum_address(OPERATOR_ADDRESS),
        "owner": to_checksum_address(OWNER_ADDRESS),
    }
