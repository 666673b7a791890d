"""Building one block: apply ready pool transactions to the head state, finalise, hand it back.

Blocks are built directly from py-evm parts (apply each transaction, finalise the state root)
rather than through `MiningChain.apply_transaction`, which rebuilds the pending block on every
call and is quadratic in the block's size.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any, Callable

from eth.db.trie import make_trie_root_and_nodes
from eth.vm.forks.cancun import get_total_blob_gas
from eth_utils import to_checksum_address

from .accounts import create_address
from .calls import walk_computations
from .errors import decode_revert_reason
from .fees import tx_type
from .forking.remote import RemoteUnavailable
from .forks import max_blob_gas

log = logging.getLogger("imochain.node")


@dataclass
class BuiltBlock:
    block: Any
    included: list  # PendingTx, in block order
    receipts: list
    computations: list
    witness: Any
    state: Any  # the post-state, for the pool's nonce checks


def build_block(chain, vm_class, parent, pre_root: bytes, timestamp: int, coinbase: bytes,
                pool, executable: Callable, gas_limit: int | None = None, base_fee: int | None = None) -> BuiltBlock:
    """`gas_limit` and `base_fee` override the parent's limit and EIP-1559's fee (dev cheats)."""
    header = vm_class.create_header_from_parent(
        parent, timestamp=timestamp, coinbase=coinbase, gas_limit=gas_limit or parent.gas_limit, state_root=pre_root)
    if base_fee is not None:
        header = header.copy(base_fee_per_gas=base_fee)
    vm = chain.get_vm(header)
    state = vm.state
    included, receipts, results = [], [], []
    gas_left = header.gas_limit
    blob_gas_left = max_blob_gas(type(vm))
    for ptx in pool.ready(lambda a: state.get_nonce(a)):
        if ptx.tx.gas > gas_left:
            continue
        blob_gas = get_total_blob_gas(ptx.tx) if tx_type(ptx.tx) == 3 else 0
        if blob_gas > blob_gas_left:  # waits for a later block, as gas does
            continue
        if state.get_nonce(ptx.sender) != ptx.nonce:
            continue
        # VM.apply_transaction, unrolled: it calls state.lock_changes() first, which
        # discards any checkpoint taken before it, so a failed transaction could not be
        # rolled back ("No checkpoint N was found") and every later block failed too.
        state.lock_changes()
        snapshot = state.snapshot()
        try:
            tx = executable(ptx.tx, ptx.sender)
            vm.validate_transaction_against_header(header, tx)
            computation = state.apply_transaction(tx)
            # no vm.validate_receipt: it checks that the bloom made from these logs holds them
            receipt = vm.make_receipt(header, tx, computation, state)
        except RemoteUnavailable:  # the fork's remote failed: the request that sent it hears so
            state.revert(snapshot)
            pool.remove(ptx.hash)
            raise
        except Exception as exc:  # ValidationError, or a VMError raised outside a frame
            # (EIP-3860 initcode size): drop it, or it would stop every later block
            state.revert(snapshot)
            pool.remove(ptx.hash)
            log.warning("dropped 0x%s: %s", ptx.hash.hex(), exc)
            continue
        header = vm.add_receipt_to_header(header, receipt)
        if blob_gas:
            header = vm.increment_blob_gas_used(header, ptx.tx)
            blob_gas_left -= blob_gas
        gas_left = header.gas_limit - header.gas_used
        included.append(ptx)
        receipts.append(receipt)
        results.append(computation)
    witness = state.persist()
    block = assemble_block(vm, header, state.state_root, [p.tx for p in included], receipts)
    return BuiltBlock(block, included, receipts, results, witness, state)


def assemble_block(vm, header, state_root: bytes, transactions: list, receipts: list):
    """The block with its state root, transactions and receipts (no withdrawals, no uncles):
    py-evm's `set_block_transactions_and_withdrawals` on `vm.get_block()`, without reading the
    empty block back from the database first, with one header copy; the store commits once a block."""
    block_class = vm.get_block_class()
    if "withdrawals" not in block_class._meta.field_names:  # before Shanghai: py-evm's way
        header = header.copy(state_root=state_root)
        return vm.set_block_transactions_and_withdrawals(vm.get_block(), header, transactions, receipts)
    tx_root, tx_nodes = make_trie_root_and_nodes(transactions)
    receipt_root, receipt_nodes = make_trie_root_and_nodes(receipts)
    db = vm.chaindb.db  # the tries' nodes, as persist_trie_data_dict writes them, without its write batch
    for key, value in (*tx_nodes.items(), *receipt_nodes.items()):
        db[key] = value
    header = header.copy(state_root=state_root, transaction_root=tx_root, receipt_root=receipt_root)
    return block_class(header, tuple(transactions), (), ())  # a tuple: pyrlp would rebuild a list item by item


def log_block(info, built: BuiltBlock, custom_precompiles: set) -> None:
    """The node's log lines for a mined block (anvil's style), one per transaction, sent as
    one record (the CLI prints bare messages, so the output is the same lines)."""
    if not log.isEnabledFor(logging.INFO):
        return
    lines = []
    prev = 0
    for ptx, receipt, comp in zip(built.included, built.receipts, built.computations):
        used = receipt.gas_used - prev
        prev = receipt.gas_used
        if comp.is_error:
            reason = None
            if comp.output:
                reason = decode_revert_reason(comp.output)
            status = f"reverted: {reason or comp.error}"
        else:
            status = "ok"
        created = ""
        if not ptx.tx.to:
            created = f" created {_checksum(create_address(ptx.sender, ptx.nonce))}"
        lines.append(f"    tx 0x{ptx.hash.hex()} from {_checksum(ptx.sender)} gas {used} {status}{created}")
        called = sorted({c.msg.code_address for c in walk_computations(comp)} & custom_precompiles)
        if called:
            lines.append("      called %s, which only imochain runs: `cast run` and `forge --fork-url` replay "
                         "it with an empty output; debug_traceTransaction / trace_transaction show the real one"
                         % ", ".join("0x" + a.hex()[-4:].upper() for a in called))
    h = info.header
    lines.append(f"Block #{h.block_number} 0x{h.hash.hex()}  {len(info.transactions)} tx  gas {h.gas_used}  "
                 f"time {h.timestamp}")
    log.info("%s", "\n".join(lines))


# the same few senders again and again: their checksummed form (a keccak each) is remembered
_checksum = functools.lru_cache(maxsize=4096)(to_checksum_address)
