"""eth_getProof (EIP-1186): Merkle proofs of an account and its storage slots at a block."""

from __future__ import annotations

from . import params as p
from .dispatch import Context, method
from .params import hexb, hexq, invalid

MAX_SLOTS = 1024  # per request, as geth bounds proof requests


@method("eth_getProof")
def get_proof(ctx: Context, params: list):
    address = p.address(p.arg(params, 0, "address"), "address")
    keys = p.arg(params, 1, "storageKeys")
    if not isinstance(keys, list):
        raise invalid("invalid storageKeys: expected an array of storage slots")
    if len(keys) > MAX_SLOTS:
        raise invalid(f"invalid storageKeys: at most {MAX_SLOTS} slots per request")
    slots = [p.quantity(k, f"storageKeys[{i}]", 2**256 - 1) for i, k in enumerate(keys)]
    block = p.block_id(p.arg(params, 2, "block", required=False))
    proof = ctx.node.get_proof(address, slots, block)
    return {
        "address": hexb(address), "accountProof": [hexb(n) for n in proof.proof],
        "balance": hexq(proof.balance), "codeHash": hexb(proof.code_hash), "nonce": hexq(proof.nonce),
        "storageHash": hexb(proof.storage_root),
        "storageProof": [{"key": hexq(s.slot), "value": hexq(s.value), "proof": [hexb(n) for n in s.proof]}
                         for s in proof.storage],
    }
