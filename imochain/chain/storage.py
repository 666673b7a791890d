"""Chain history in the store: key schema, canonical index, tx index, receipts and their caches.

The canonical chain and the transaction index are our own keys beside py-evm's, so snapshots
can rewind the head and a restart resumes it.
"""

from __future__ import annotations

from typing import Any, Iterable

import rlp
from eth.abc import BlockHeaderAPI
from eth.constants import BLANK_ROOT_HASH, EMPTY_UNCLE_HASH
from eth.db.atomic import AtomicDB
from eth_utils import keccak

from .accounts import create_address
from .dbfolder import check_store_content
from .errors import BlockNotFound, ChainError, InvalidParams
from .fees import effective_gas_price, tx_type
from .lru import LRUCache
from .rlp_speedups import decode_raw, encode_raw
from .store import LMDBStore, MemoryStore
from .types import BlockInfo, LogInfo, ReceiptInfo, TxInfo

HEAD_KEY = b"imo:head"
CONFIG_KEY = b"imo:config"
BASE_KEY = b"imo:base"  # a fork's first local block: its number and local state root
CACHE_WEIGHT = 4096  # decoded blocks (and receipt lists) kept: one per block plus one per transaction
HEAD_TAGS = ("latest", "pending", "safe", "finalized")


def num_key(n: int) -> bytes:
    return b"imo:num:" + n.to_bytes(8, "big")


def tx_key(h: bytes) -> bytes:
    return b"imo:tx:" + h


def imp_key(h: bytes) -> bytes:
    return b"imo:imp:" + h


def touched_key(n: int) -> bytes:
    return b"imo:touched:" + n.to_bytes(8, "big")


def pre_key(h: bytes) -> bytes:
    # a block's starting state root, kept only when dev edits made it differ from its parent's
    return b"imo:pre:" + h


def _int_bytes(value: int) -> bytes:
    """A big_endian_int field's serialisation (0 is the empty string): our records (the head,
    a transaction's location) are encoded from their items directly, the same bytes as pyrlp's
    sedes give."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _rlp_length(payload: int) -> int:
    """Bytes of an RLP string or list header for a payload of this many bytes, plus the payload."""
    return payload + 1 + (0 if payload < 56 else (payload.bit_length() + 7) // 8)


def block_size(header: BlockHeaderAPI, txs, uncles=(), withdrawals=()) -> int:
    """len(rlp(block)) without encoding the block: header, transactions (typed ones wrapped as
    strings), uncles, and the withdrawals list from Shanghai on."""
    tx_bytes = sum(len(rlp.encode(tx)) if tx_type(tx) == 0 else _rlp_length(len(tx.encode())) for tx in txs)
    payload = len(rlp.encode(header)) + _rlp_length(tx_bytes) + _rlp_length(sum(len(rlp.encode(u)) for u in uncles))
    if getattr(header, "withdrawals_root", None) is not None:
        payload += _rlp_length(sum(len(rlp.encode(w)) for w in withdrawals))
    return _rlp_length(payload)


def base_fee_of(header: BlockHeaderAPI) -> int | None:
    """The header's base fee, or None before London (py-evm raises for those headers)."""
    try:
        return header.base_fee_per_gas
    except AttributeError:
        return None


class Canonical:
    """Canonical block hashes by number, from the first local block on (0, or a fork's base)."""

    def __init__(self, hashes=(), base: int = 0):
        self.hashes = list(hashes)
        self.base = base

    def __len__(self) -> int:
        return self.base + len(self.hashes)

    def __getitem__(self, n: int) -> bytes:
        if n < 0:
            return self.hashes[n]
        if n < self.base:
            raise IndexError(f"block {n} is before the first local block {self.base}")
        return self.hashes[n - self.base]

    def __delitem__(self, tail: slice) -> None:  # only `del canonical[n:]`
        del self.hashes[max(tail.start - self.base, 0):]

    def append(self, block_hash: bytes) -> None:
        self.hashes.append(block_hash)


class ChainStorage:
    """The store, py-evm's chain over it, the head, and derived records with their caches."""

    def __init__(self, chain_class, db_path: str | None):
        self.db_path = db_path
        self.store = LMDBStore(db_path) if db_path else MemoryStore()
        if db_path:
            check_store_content(db_path, self.store, HEAD_KEY)
        self.db = AtomicDB(self.store)
        self.chain = chain_class(self.db)
        self.chaindb = self.chain.chaindb
        vm_class = chain_class.vm_configuration[-1][1]  # the latest fork decodes every earlier type
        self.tx_builder = vm_class.get_transaction_builder()
        self.receipt_builder = vm_class.get_receipt_builder()
        self.head: BlockHeaderAPI | None = None
        self.head_root = b""
        self.canonical = Canonical()
        self.base_root: bytes | None = None  # a fork's base state root (its header holds the remote's)
        self.imp_senders: dict[bytes, bytes] = {}  # impersonated tx hash → its real sender
        self.touched: dict[bytes, set[int]] = {}  # addresses and slots seen, for state dumps
        # Mined blocks never change: decoded ones are kept, up to CACHE_WEIGHT each (see lru.py).
        self._block_cache = LRUCache(CACHE_WEIGHT, lambda info: 1 + len(info.transactions))
        self._receipt_cache = LRUCache(CACHE_WEIGHT, lambda receipts: 1 + len(receipts))
        self._receipt_info_cache = LRUCache(CACHE_WEIGHT, lambda receipts: 1 + len(receipts))

    @property
    def exists(self) -> bool:
        return HEAD_KEY in self.store

    # ------------------------------------------------------------------ head

    def start(self, genesis: BlockHeaderAPI, chain_id: int, root: bytes | None = None) -> None:
        """Make `genesis` the head: block 0, or a fork's pinned remote block over local `root`."""
        number = genesis.block_number
        if number == 0:
            self.chaindb.persist_header(genesis)
        else:
            self.base_root = root
            self.store[BASE_KEY] = rlp.encode([number, root])
        self.head = genesis
        self.head_root = root or genesis.state_root
        self.canonical = Canonical([genesis.hash], number)
        self.store[num_key(number)] = genesis.hash
        self.store[CONFIG_KEY] = rlp.encode([chain_id])
        self.write_head()
        self.store.commit()

    def resume(self, chain_id: int) -> None:
        (stored_id,) = rlp.decode(self.store[CONFIG_KEY])
        if int.from_bytes(stored_id, "big") != chain_id:
            raise ChainError(f"database at {self.db_path} holds chain id "
                             f"{int.from_bytes(stored_id, 'big')}, not {chain_id}")
        number, head_hash, head_root = rlp.decode(self.store[HEAD_KEY])
        number = int.from_bytes(number, "big")
        base = 0
        if BASE_KEY in self.store:
            base, self.base_root = rlp.decode(self.store[BASE_KEY])
            base = int.from_bytes(base, "big")
        self.canonical = Canonical([self.store[num_key(n)] for n in range(base, number + 1)], base)
        if self.canonical[-1] != head_hash:
            raise ChainError("database head does not match its canonical index")
        self.head = self.chaindb.get_block_header_by_hash(head_hash)
        self.head_root = head_root
        for key, value in self.store.items_with_prefix(b"imo:imp:"):
            self.imp_senders[key[len(b"imo:imp:"):]] = value
        for key, value in self.store.items_with_prefix(b"imo:touched:"):
            for addr, slots in rlp.decode(value):
                self.touched.setdefault(addr, set()).update(int.from_bytes(s, "big") for s in slots)

    def write_head(self) -> None:
        number = self.head.block_number
        self.store[HEAD_KEY] = encode_raw([_int_bytes(number), self.head.hash, self.head_root])

    def set_head_root(self, root: bytes, witness) -> None:
        """A dev edit of the head's state (anvil_setBalance & co.): no new block."""
        self.head_root = root
        self.remember_touched(witness)
        self.write_head()
        self.store.commit()

    def remember_touched(self, witness, accounts: Iterable[bytes] = ()) -> None:
        """Addresses and slots seen, so state dumps can enumerate a hashed-key trie.
        Only what is new is written: most blocks touch accounts already known."""
        entries = []
        queried = witness.accounts_queried
        for addr in queried.union(accounts):
            slots = witness.get_slots_queried(addr) if addr in queried else ()
            known = self.touched.get(addr)
            if known is None:
                known = self.touched[addr] = set()
                new = set(slots)
            elif slots:
                new = set(slots) - known
                if not new:
                    continue
            else:
                continue
            known.update(new)
            entries.append([addr, [s.to_bytes(32, "big") for s in sorted(new)]])
        if entries:
            number = self.head.block_number + 1 if self.head is not None else 0
            blob = rlp.encode(entries)
            self.store[touched_key(number) + keccak(blob)[:4]] = blob

    def append_block(self, block, parent_root: bytes, included, receipts, witness) -> BlockInfo:
        """Persist a built block as the new head, with its index entries, in one commit."""
        self.chaindb.persist_block(block)
        header = block.header
        if self.head_root != parent_root:  # replays (debug_trace*) must start from it
            self.store[pre_key(header.hash)] = self.head_root
        for i, ptx in enumerate(included):
            self.store[tx_key(ptx.hash)] = encode_raw([header.hash, _int_bytes(i)])
            if ptx.hash in self.imp_senders:
                self.store[imp_key(ptx.hash)] = ptx.sender
        self.remember_touched(witness)
        self._advance_head(header)
        body = block_size(header, [p.tx for p in included])
        info = BlockInfo(header, [TxInfo(p.tx, p.hash, p.sender, header.hash, header.block_number, i,
                                         base_fee_of(header), header.timestamp)
                                  for i, p in enumerate(included)], body)
        self._block_cache[header.hash] = info
        self._receipt_cache[header.hash] = list(receipts)  # as get_receipts would decode them
        return info

    def import_block(self, raw: bytes) -> None:
        """Validate and apply one RLP-encoded block as the new head (a full node's import)."""
        from .importer import import_one  # raises ImportFailed with the block's number and reason
        try:
            block = import_one(self.chain, raw, self.head.block_number + 1)
        except Exception:
            self.store.rollback()  # nothing of a refused block stays
            raise
        header = block.header
        for i, tx in enumerate(block.transactions):
            self.store[tx_key(tx.hash)] = rlp.encode([header.hash, i])
        self._advance_head(header)

    def _advance_head(self, header: BlockHeaderAPI) -> None:
        """Make a persisted block the canonical head, in the same store commit as its entries."""
        self.head = header
        self.head_root = header.state_root
        self.canonical.append(header.hash)
        self.store[num_key(header.block_number)] = header.hash
        self.write_head()
        self.store.commit()

    def rewind(self, number: int, head_root: bytes) -> None:
        """Drop the canonical blocks above `number` (evm_revert) and their tx index entries."""
        for n in range(number + 1, len(self.canonical)):
            for info in self.block_info(self.header_at(n)).transactions:
                try:
                    del self.store[tx_key(info.hash)]
                except KeyError:
                    pass
            try:
                del self.store[num_key(n)]
            except KeyError:
                pass
        del self.canonical[number + 1:]
        self.head = self.header_at(number)
        self.head_root = head_root
        self.write_head()
        self.store.commit()

    def is_fork_base(self, header: BlockHeaderAPI) -> bool:
        return self.base_root is not None and header.block_number == self.canonical.base

    def pre_root(self, header: BlockHeaderAPI) -> bytes:
        """The state a block started from (its parent's, unless dev edits changed it)."""
        try:
            return self.store[pre_key(header.hash)]
        except KeyError:
            return self.header_at(header.block_number - 1).state_root

    def state_root_of(self, header: BlockHeaderAPI) -> bytes:
        # Dev-chain edits (setBalance & co.) change the head's state without a new block,
        # as anvil does: the head's effective root can differ from its header's.
        if header.hash == self.head.hash:
            return self.head_root
        if self.is_fork_base(header):
            return self.base_root
        return header.state_root

    # ------------------------------------------------------------------ lookups

    def resolve(self, block_id: Any = "latest") -> BlockHeaderAPI:
        """int number, 32-byte hash, or a tag: latest/pending/safe/finalized/earliest."""
        if block_id is None or block_id in HEAD_TAGS:
            return self.head
        if block_id == "earliest":
            return self.header_at(self.canonical.base)
        if isinstance(block_id, int):
            if block_id == self.head.block_number:  # the newest block (every service reads it): no decoding
                return self.head
            if block_id < self.canonical.base or block_id > self.head.block_number:
                raise BlockNotFound(f"block {block_id} not found (head is {self.head.block_number})")
            return self.header_at(block_id)
        if isinstance(block_id, (bytes, bytearray)) and len(block_id) == 32:
            header = self.header_by_hash(bytes(block_id))
            if header is None:
                raise BlockNotFound(f"block 0x{bytes(block_id).hex()} not found")
            return header
        raise InvalidParams(f"invalid block tag {block_id!r}")

    def header_at(self, number: int) -> BlockHeaderAPI:
        return self.chaindb.get_block_header_by_hash(self.canonical[number])

    def header_by_hash(self, block_hash: bytes) -> BlockHeaderAPI | None:
        if block_hash == self.head.hash:  # the common case (a receipt just mined): no decoding
            return self.head
        try:
            header = self.chaindb.get_block_header_by_hash(block_hash)
        except Exception:
            return None
        n = header.block_number
        if self.canonical.base <= n < len(self.canonical) and self.canonical[n] == block_hash:
            return header
        return None

    def locate(self, tx_hash: bytes) -> tuple[BlockHeaderAPI, int] | None:
        try:
            block_hash, index = decode_raw(self.store[tx_key(tx_hash)], True, False)[0]
        except KeyError:
            return None
        header = self.header_by_hash(block_hash)
        if header is None:  # the block was rewound by evm_revert
            return None
        return header, int.from_bytes(index, "big")

    def sender_of(self, tx) -> bytes:
        return self.imp_senders.get(tx.hash) or tx.sender

    def block_info(self, header: BlockHeaderAPI) -> BlockInfo:
        cached = self._block_cache.get(header.hash)
        if cached is not None:
            return cached
        # a fork's pinned block: its transactions are the remote's (rpc.forked serves them)
        txs = [] if self.is_fork_base(header) else self.chaindb.get_block_transactions(header, self.tx_builder)
        infos = [TxInfo(tx, tx.hash, self.sender_of(tx), header.hash, header.block_number, i,
                        base_fee_of(header), header.timestamp) for i, tx in enumerate(txs)]
        uncles = self.chaindb.get_block_uncles(header.uncles_hash) if header.uncles_hash != EMPTY_UNCLE_HASH else []
        withdrawals = ()
        if getattr(header, "withdrawals_root", BLANK_ROOT_HASH) != BLANK_ROOT_HASH:
            withdrawals = self.chaindb.get_block_withdrawals(header)
        info = BlockInfo(header, infos, block_size(header, txs, uncles, withdrawals), withdrawals)
        self._block_cache[header.hash] = info
        return info

    def receipts(self, header: BlockHeaderAPI) -> list:
        """py-evm's receipt objects of a block (consensus form), cached."""
        cached = self._receipt_cache.get(header.hash)
        if cached is None:
            cached = [] if self.is_fork_base(header) else list(self.chaindb.get_receipts(header, self.receipt_builder))
            self._receipt_cache[header.hash] = cached
        return cached

    def block_receipts(self, header: BlockHeaderAPI) -> list[ReceiptInfo]:
        # A mined block never changes: its receipts are derived once and shared by every
        # reader (RPC, filters, the oracle worker and the challenger all read each new block).
        cached = self._receipt_info_cache.get(header.hash)
        if cached is None:
            cached = self._derive_receipts(header)
            self._receipt_info_cache[header.hash] = cached
        return cached

    def _derive_receipts(self, header: BlockHeaderAPI) -> list[ReceiptInfo]:
        block = self.block_info(header)
        receipts = self.receipts(header)
        out = []
        prev_gas = 0
        log_index = 0
        for info, r in zip(block.transactions, receipts):
            tx = info.tx
            logs = []
            for entry in r.logs:
                logs.append(LogInfo(entry.address, [t.to_bytes(32, "big") for t in entry.topics],
                                    entry.data, header.block_number, header.hash, info.hash,
                                    info.index, log_index, block_timestamp=header.timestamp))
                log_index += 1
            to = tx.to or None
            created = None
            if not tx.to:
                created = create_address(info.sender, tx.nonce)
            out.append(ReceiptInfo(
                tx_hash=info.hash, tx_index=info.index, block_hash=header.hash,
                block_number=header.block_number, sender=info.sender, to=to,
                contract_address=created, cumulative_gas_used=r.gas_used,
                gas_used=r.gas_used - prev_gas,
                effective_gas_price=effective_gas_price(tx, base_fee_of(header)),
                status=1 if r.state_root == b"\x01" else 0, logs=logs, logs_bloom=r.bloom,
                type=tx_type(tx), block_timestamp=header.timestamp,
                root=r.state_root if len(r.state_root) == 32 else None, **self._blob_fields(header, tx)))
            prev_gas = r.gas_used
        return out

    def _blob_fields(self, header: BlockHeaderAPI, tx) -> dict:
        if tx_type(tx) != 3:
            return {}
        hashes = tx.blob_versioned_hashes
        from .forks import blob_base_fee
        vm = self.chain.get_vm_class_for_block_number(header.block_number)
        return {"blob_gas_used": 2**17 * len(hashes), "blob_gas_price": blob_base_fee(vm, header.excess_blob_gas)}

    def close(self) -> None:
        self.store.close()
