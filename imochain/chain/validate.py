"""Admission of transactions: decoding, signature and chain-id checks, and the pool's rules."""

from __future__ import annotations

import functools
import inspect
import re

import rlp
from cached_property import cached_property
from eth import constants
from eth_hash.auto import keccak

from . import forks
from .errors import TransactionRejected
from .fees import fee_caps
from .rlp_speedups import decode_raw as decode_items
from .rlp_speedups import encode_raw
from .signing import mark_signature_checked
from .tx_speedups import SIGNING_MESSAGE

MAX_INITCODE_SIZE = 2 * 0x6000  # EIP-3860
MAX_CALL_DATA = 128 * 1024


_last_decoded: tuple = (None, b"", None)  # (builder, raw, transaction)


def decode_raw(tx_builder, raw: bytes):
    """A signed transaction's bytes → py-evm's transaction. The last one is kept: the RPC
    layer reads a send's gas limit to see where to run it, then the node admits the same bytes."""
    global _last_decoded
    builder, last_raw, last_tx = _last_decoded
    if builder is tx_builder and last_raw == raw:
        return last_tx
    tx = _decode(tx_builder, raw)
    _last_decoded = (tx_builder, raw, tx)
    return tx


def _decode(tx_builder, raw: bytes):
    body = _without_blob_sidecar(raw)
    try:
        tx = tx_builder.decode(body)
    except Exception as exc:
        raise TransactionRejected(f"failed to decode transaction: {exc}") from None
    if body[:1] < b"\x80" and isinstance(tx.__dict__, dict):
        # A typed transaction's hash is keccak(type || payload), which py-evm computes (and
        # caches) by encoding the decoded object again; decoding is strict, so these bytes
        # are that encoding.
        tx.__dict__.setdefault("hash", keccak(body))
    message = _signing_message(body)
    signed = getattr(tx, "_inner", tx)  # a typed transaction's fields are its inner object's
    if message is not None and isinstance(getattr(signed, "__dict__", None), dict):
        signed.__dict__[SIGNING_MESSAGE] = message
    return tx


def _signing_message(body: bytes) -> bytes | None:
    """What the sender signed, read off the transaction's bytes (they decoded strictly, so they
    are the fields' own encoding): a typed transaction's fields without y, r and s, after the
    type byte; a legacy one's six fields, plus EIP-155's chain id and two empty strings."""
    try:
        items = decode_items(body[1:] if body[:1] < b"\xc0" else body, True, False)[0]
    except Exception:
        return None
    if type(items) is not list or len(items) < 4:  # not a transaction py-evm decoded: its own path
        return None
    if body[:1] < b"\xc0":
        return body[:1] + encode_raw(items[:-3])
    if len(items) != 9 or type(items[6]) is not bytes:
        return None
    v = int.from_bytes(items[6], "big")
    if v in (27, 28):
        return encode_raw(items[:6])
    if v >= 35:  # EIP-155: the chain id as eth_utils' int_to_big_endian writes it (0 as one zero byte)
        chain_id = (v - 35) // 2
        return encode_raw(items[:6] + [chain_id.to_bytes((chain_id.bit_length() + 7) // 8 or 1, "big"), b"", b""])
    return None


def _without_blob_sidecar(raw: bytes) -> bytes:
    """A blob transaction as sent (EIP-4844's network form: the transaction with its blobs,
    commitments and proofs; EIP-7594 adds a version) → the transaction alone. The blobs are
    dropped unchecked: this chain keeps no blob data and verifies no KZG proofs."""
    if raw[:1] != b"\x03":
        return raw
    try:
        body = rlp.decode(raw[1:])
    except rlp.DecodingError:
        return raw
    if body and isinstance(body[0], list) and len(body) in (4, 5):
        return b"\x03" + rlp.encode(body[0])
    return raw


def check_signed(tx, chain_id: int) -> bytes:
    """The sender of a signed transaction, or TransactionRejected."""
    try:
        sender = _sender(tx)  # recovering the key is the signature check (below: EIP-2's low s)
    except Exception:
        raise TransactionRejected("invalid signature") from None
    if not 0 < tx.s <= constants.SECPK1_N // 2:  # EIP-2: high-s signatures are invalid
        raise TransactionRejected("invalid signature: s value too high (EIP-2)")
    mark_signature_checked(tx)
    tx_chain_id = getattr(tx, "chain_id", None)
    if tx_chain_id is not None and tx_chain_id != chain_id:
        raise TransactionRejected(f"invalid chain id for signer: have {tx_chain_id} want {chain_id}")
    return sender


def _sender(tx) -> bytes:
    """`tx.sender`, recovered once and kept where its cached_property keeps it (the instance's
    __dict__, under the function's name), without the property's check whether get_sender is
    a coroutine function (~10 calls)."""
    if not _sender_is_cached(type(tx)):
        return tx.sender
    known = tx.__dict__.get("sender")
    if known is None:
        known = tx.__dict__["sender"] = tx.get_sender()
    return known


@functools.lru_cache(maxsize=None)
def _sender_is_cached(cls) -> bool:
    prop = inspect.getattr_static(cls, "sender", None)
    return isinstance(prop, cached_property) and prop.func.__name__ == "sender"


def tx_gas_cap(chain_class, header) -> int:
    """The most gas one transaction may ask for in the block after `header` (EIP-7825 from Osaka)."""
    return forks.tx_gas_cap(chain_class.get_vm_class_for_block_number(header.block_number), header.gas_limit)


def calldata_floor_gas(state, data: bytes) -> int:
    """EIP-7623's floor on what a transaction with this calldata pays (0 before Prague)."""
    # py-evm's executor answers "gas still owed to reach the floor"; nothing used → the floor.
    return state.transaction_executor_class.calc_data_floor_gas(_Calldata(data), 0, 0)


class _Calldata:
    """What the executor's floor rule reads of a transaction: its data."""
    def __init__(self, data: bytes):
        self.data = data


def check_for_pool(tx, sender: bytes, state, head, base_fee: int, gas_cap: int) -> None:
    """What a transaction must satisfy to enter the pool, against the head state."""
    nonce = state.get_nonce(sender)
    if tx.nonce < nonce:
        raise TransactionRejected(f"nonce too low: next nonce {nonce}, tx nonce {tx.nonce}")
    if tx.gas > head.gas_limit:
        raise TransactionRejected(
            f"intrinsic gas too high: tx gas {tx.gas} exceeds block gas limit {head.gas_limit}")
    if tx.gas > gas_cap:
        raise TransactionRejected(f"transaction gas limit {tx.gas} exceeds the cap of {gas_cap} (EIP-7825)")
    intrinsic = getattr(tx, "intrinsic_gas", 21000)
    if tx.gas < intrinsic:
        raise TransactionRejected(f"intrinsic gas too low: have {tx.gas}, want {intrinsic}")
    floor = calldata_floor_gas(state, tx.data)
    if tx.gas < floor:  # geth's wording (EIP-7623)
        raise TransactionRejected(
            f"insufficient gas for floor data gas cost: gas {tx.gas}, minimum needed {floor}")
    max_fee, tip = fee_caps(tx)
    if tip > max_fee:
        raise TransactionRejected("max priority fee per gas higher than max fee per gas")
    if max_fee < base_fee:
        raise TransactionRejected(
            f"max fee per gas less than block base fee: maxFeePerGas: {max_fee}, baseFee: {base_fee}")
    cost = tx.gas * max_fee + tx.value
    balance = state.get_balance(sender)
    if balance < cost:
        raise TransactionRejected(
            f"insufficient funds for gas * price + value: have {balance} want {cost}")
    if len(tx.data) > MAX_CALL_DATA and tx.to:
        raise TransactionRejected("oversized data: transaction data exceeds 128 KiB")
    if not tx.to and len(tx.data) > MAX_INITCODE_SIZE:
        raise TransactionRejected(
            f"max initcode size exceeded: code size {len(tx.data)} limit {MAX_INITCODE_SIZE}")


def validation_message(message: str) -> str:
    """py-evm's wording of a failed validation → geth's and anvil's."""
    lower = message.lower()
    if "gas cannot be negative" in lower or "intrinsic gas" in lower:
        return "intrinsic gas too low"  # py-evm's Message check when gas < the call data's cost (anvil's words)
    if "insufficient" in lower or "balance" in lower:
        return "insufficient funds for gas * price + value"
    if "nonce" in lower:
        m = re.search(r"expected (\d+), but got (\d+)", lower)
        if m:
            return "nonce too low" if int(m.group(2)) < int(m.group(1)) else "nonce too high"
        return "nonce too low" if "low" in lower else message
    return message
