"""py-evm's header-chain bookkeeping reads, decoded once per value (a patch, tx_speedups group).

Persisting each block, py-evm's ChainDB reads and RLP-decodes the same few small records
again: the parent's score twice (as parent, then as the canonical head) and the header and
block "chain gaps" records. Their decoded forms are ints and tuples, immutable, so they are
kept by their encoded bytes; the reads and their errors are py-evm's own.
"""

from __future__ import annotations

import functools

import rlp
from eth.db.chain import ChainDB
from eth.db.chain_gaps import GENESIS_CHAIN_GAPS
from eth.db.header import HeaderDB
from eth.db.schema import SchemaV1
from eth.exceptions import HeaderNotFound
from eth.rlp.sedes import chain_gaps
from eth_utils import encode_hex


@functools.lru_cache(maxsize=256)
def _decode_score(encoded: bytes) -> int:
    return rlp.decode(encoded, sedes=rlp.sedes.big_endian_int)


@functools.lru_cache(maxsize=64)
def _decode_gaps(encoded: bytes):
    return rlp.decode(encoded, sedes=chain_gaps)


def _get_score(db, block_hash):
    try:
        encoded = db[SchemaV1.make_block_hash_to_score_lookup_key(block_hash)]
    except KeyError:
        raise HeaderNotFound(f"No header with hash {encode_hex(block_hash)} found")
    return _decode_score(encoded) if type(encoded) is bytes else rlp.decode(encoded, sedes=rlp.sedes.big_endian_int)


def _gaps_reader(key_fn):
    def read(cls, db):
        try:
            encoded = db[key_fn()]
        except KeyError:
            return GENESIS_CHAIN_GAPS
        return _decode_gaps(encoded) if type(encoded) is bytes else rlp.decode(encoded, sedes=chain_gaps)
    return classmethod(read)


STOCK = {name: owner.__dict__[name] for owner, name in (  # what they replace, for tests
    (HeaderDB, "_get_score"), (HeaderDB, "_get_header_chain_gaps"), (ChainDB, "_get_chain_gaps"))}

PATCHES = [
    (HeaderDB, "_get_score", staticmethod(_get_score)),
    (HeaderDB, "_get_header_chain_gaps", _gaps_reader(SchemaV1.make_header_chain_gaps_lookup_key)),
    (ChainDB, "_get_chain_gaps", _gaps_reader(SchemaV1.make_chain_gaps_lookup_key)),
]
