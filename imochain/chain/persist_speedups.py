"""py-evm's `ChainDB.persist_block` for a block on top of the canonical head: the same records
written in one pass (a patch, installed with the speed-ups).

Every automined block extends py-evm's canonical head. For that case py-evm walks its general
header-chain path (score, gap tracking for both chains, canonical-head checks, reorg search)
through a dozen class methods, encoding the header twice. The records are few and fixed: the
header by hash, its score, the number → hash lookup, the canonical head, each transaction's
lookup, and both chain-gap records. Anything else (genesis, a parent that is not the head, gaps,
uncles, withdrawals) goes to py-evm unchanged; `tests/chain/test_persist_speedups.py` compares
the whole store both ways.
"""

from __future__ import annotations

import functools

import rlp
from eth.constants import EMPTY_UNCLE_HASH
from eth.db.chain import ChainDB
from eth.db.schema import SchemaV1
from eth.rlp.sedes import chain_gaps
from eth_hash.auto import keccak  # eth_utils.keccak checks its arguments through decorators first

from .rlp_speedups import encode_raw

_CANONICAL_HEAD = SchemaV1.make_canonical_head_hash_lookup_key()
_HEADER_GAPS = SchemaV1.make_header_chain_gaps_lookup_key()
_BLOCK_GAPS = SchemaV1.make_chain_gaps_lookup_key()

stock_persist_block = ChainDB.persist_block


@functools.lru_cache(maxsize=8)  # a block checks the record the block before wrote
def _tail(number: int) -> bytes:
    """A chain-gaps record with no gaps, whose next unknown block is `number` (a uint32 of
    py-evm's: 32 bytes); pyrlp's sedes for numbers past it, for its error."""
    if 0 <= number < 1 << 256:
        return encode_raw([[], number.to_bytes(32, "big")])
    return rlp.encode(((), number), sedes=chain_gaps)


def _int(value: int) -> bytes:
    """A big_endian_int field (block numbers, indexes, scores are never negative)."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


_scores: dict[bytes, int] = {}  # scores this module wrote, by their encoding: the next block reads one


def _score_of(chaindb, db, block_hash: bytes) -> int:
    score = _scores.get(db.get(SchemaV1.make_block_hash_to_score_lookup_key(block_hash)))
    return chaindb._get_score(db, block_hash) if score is None else score


def _encode_score(score: int) -> bytes:
    encoded = encode_raw(_int(score))
    if len(_scores) >= 64:
        _scores.clear()
    _scores[encoded] = score
    return encoded


def persist_block(self, block, *args, **kwargs):
    header = block.header
    number = header.block_number
    db = self.db
    if (args or kwargs or number == 0 or block.uncles or getattr(block, "withdrawals", None)
            or header.uncles_hash != EMPTY_UNCLE_HASH or db.get(_CANONICAL_HEAD) != header.parent_hash):
        return stock_persist_block(self, block, *args, **kwargs)
    tail = _tail(number)
    if db.get(_HEADER_GAPS) != tail or db.get(_BLOCK_GAPS) != tail:  # gaps, or not the next block
        return stock_persist_block(self, block, *args, **kwargs)
    score = _score_of(self, db, header.parent_hash)
    encoded = rlp.encode(header)
    if getattr(header, "_hash", 0) is None:  # py-evm's header caches keccak(rlp(header)) here
        header._hash = keccak(encoded)
    block_hash = header.hash
    # Every record is made before the first is written (nothing below can fail half-way), and
    # the store itself commits once per block: py-evm's write batch would add nothing.
    records = {
        block_hash: encoded,
        # py-evm's score after the merge: the parent's plus the block number (difficulty 0)
        SchemaV1.make_block_hash_to_score_lookup_key(block_hash): _encode_score(score + (header.difficulty or number)),
        SchemaV1.make_block_number_to_hash_lookup_key(number): encode_raw(block_hash),
        _CANONICAL_HEAD: block_hash,
    }
    for index, tx in enumerate(block.transactions):
        records[SchemaV1.make_transaction_hash_to_block_lookup_key(tx.hash)] = encode_raw([_int(number), _int(index)])
    records[_HEADER_GAPS] = records[_BLOCK_GAPS] = _tail(number + 1)
    for key, value in records.items():
        db[key] = value
    return (block_hash,), ()


PATCHES = [(ChainDB, "persist_block", persist_block)]
