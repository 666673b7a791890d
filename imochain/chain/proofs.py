"""Merkle proofs of accounts and storage slots (EIP-1186), read from the state trie's own nodes."""

from __future__ import annotations

from dataclasses import dataclass

import rlp
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth.rlp.accounts import Account
from eth_utils import keccak
from trie import HexaryTrie


@dataclass
class StorageProof:
    slot: int
    value: int
    proof: list[bytes]  # RLP-encoded trie nodes, root first


@dataclass
class AccountProof:
    address: bytes
    nonce: int
    balance: int
    storage_root: bytes
    code_hash: bytes
    proof: list[bytes]
    storage: list[StorageProof]


def _proof(trie: HexaryTrie, key: bytes) -> tuple[bytes, list[bytes]]:
    nodes = trie.get_proof(key)
    return trie.get(key), [rlp.encode(node) for node in nodes]


def account_proof(db, state_root: bytes, address: bytes, slots: list[int]) -> AccountProof:
    """The account's proof against `state_root` and each slot's against its storage root;
    an absent account or slot gets a proof of absence, as EIP-1186 asks."""
    encoded, nodes = _proof(HexaryTrie(db, state_root), keccak(address))
    account = rlp.decode(encoded, sedes=Account) if encoded else Account(0, 0, BLANK_ROOT_HASH, EMPTY_SHA3)
    storage_trie = HexaryTrie(db, account.storage_root)
    storage = []
    for slot in slots:
        value, proof = _proof(storage_trie, keccak(slot.to_bytes(32, "big")))
        storage.append(StorageProof(slot, int.from_bytes(rlp.decode(value), "big") if value else 0, proof))
    return AccountProof(address, account.nonce, account.balance, account.storage_root,
                        account.code_hash, nodes, storage)
