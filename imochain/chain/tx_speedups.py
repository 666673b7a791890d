"""py-evm's per-transaction overhead, cut (the `tx_speedups` group of patches `speedups` installs).

Sender recovery, one-item tries, copies and construction of pyrlp objects, account
encoding, spoofed transactions, trie-node checks, PUSH and the stack, intrinsic gas; with
evm_loop, chaindb_speedups and rlp_plans. `speedups.set_tx_speedups(False)` turns the whole
group off.

Sender recovery: `extract_transaction_sender` wraps the signature and the recovered key in
eth_keys objects (each validated again) before it calls coincurve; the replacement checks
what eth_keys checks (y parity 0 or 1, r and s below the curve order) and calls coincurve
directly. Anything unusual, and any failure, takes py-evm's own path for its error. The
signed message is the one validate.decode_raw read off the raw bytes where it did (py-evm
builds an unsigned transaction object and encodes it again).

One-item tries: an automined block holds one transaction and one receipt. A trie with the
single key rlp(0) is one leaf node, [hex-prefix(0x80, leaf), value], stored by its hash.
py-evm builds a HexaryTrie for it (with its journal and squash context) twice per block.

Copies: pyrlp's `copy()` deep-copies every unchanged field; a block's transactions tuple
holds pyrlp objects (immutable: they refuse attribute writes) and py-evm's typed
transactions (never changed after decoding), and a deep copy rebuilds each. They are shared.

Accounts written: py-evm encodes an account at every change (gas charged, nonce, value in
and out, refund, fee: ~a dozen per transfer) through pyrlp's sedes machinery; four plain
fields are encoded directly (unusual values take pyrlp's path). The next block would read
the account back and decode it again; the decoded-account cache (evm_speedups) is told at
the write.

Spoofed transactions (every eth_call, estimateGas probe and impersonated send) answer each
attribute through `__getattr__`, ~50 look-ups per call; the wrapped transaction and the
overrides never change, so each answer is kept on the instance after the first.

Construction of pyrlp objects: each field is set with its own `setattr` (a header has ~20,
and building one header walks ten fork rules that each build one); the values go into the
instance's `__dict__` in one update instead, for classes whose fields are plain instance
attributes (no slots, no descriptors of those names: checked once per class).

Fields of pyrlp objects: each is a Python property whose getter calls getattr (~200 reads
per transaction: headers, accounts, transactions, receipts); the getters become C-level
attrgetters, and `as_dict`/`__iter__` (each header built goes through both ~10 times, once
per fork rule) read the values in one pass instead of a generator.

Trie nodes are validated at every hashing (py-trie's validate_is_node walks the node with a
call per item); plain leaves, extensions and branches of bytes are checked in one pass, and
anything else (embedded nodes, bad shapes) goes to py-trie for its check and error.

PUSH opcodes read their bytes through `CodeStream.read` and push through the computation's
forwarding property; they slice the code and push directly (a plain code stream only).

Intrinsic gas: a transaction's never changes (its fields are fixed), and py-evm works it out
again at each ask (pool admission, validation, the first message: ~20 calls each); the first
answer is kept on the instance.

The interpreter loop and the first message: see evm_loop. The header chain's records: see
chaindb_speedups.

The stack: every opcode pops and pushes through `Stack`, whose `pop_ints` converts through a
generator and whose pushes call a validator per item (an ERC-20 transfer runs ~300 opcodes).
The replacements do the same checks and conversions inline; an empty or short stack, and
any value of another type, take py-evm's path for its error.
"""

from __future__ import annotations

import functools
import inspect
import itertools
from operator import attrgetter

import coincurve
import eth.db.storage
import eth.db.trie
import eth.vm.forks.berlin.transactions as berlin_txs
import eth.vm.forks.cancun.transactions as cancun_txs
import eth.vm.forks.frontier.transactions as frontier_txs
import eth.vm.forks.london.transactions as london_txs
import eth.vm.forks.prague.transactions as prague_txs
import eth.vm.logic.stack as stack_logic
import rlp
import trie.hexary
from eth._utils.spoof import SpoofAttributes
from eth._utils.transactions import extract_transaction_sender as stock_extract_sender
from eth.constants import SECPK1_N, UINT_256_MAX
from eth.db.account import AccountDB
from eth.rlp.accounts import Account
from eth.rlp.transactions import BaseTransactionMethods
from eth.vm.code_stream import CodeStream
from eth.vm.stack import Stack
from eth_hash.backends.pysha3 import keccak256
from rlp.sedes import serializable
from rlp.sedes.serializable import BaseSerializable

from . import chaindb_speedups, evm_loop, rlp_plans
from .evm_speedups import remember_account
from .rlp_speedups import _ATOMIC, fast_init, make_fast_copy
from .rlp_speedups import encode_raw as _encode_raw

_TX_MODULES = (frontier_txs, berlin_txs, london_txs, cancun_txs, prague_txs)


SIGNING_MESSAGE = "_imo_signing_message"  # validate.decode_raw's copy, read off the raw bytes


def extract_transaction_sender(transaction) -> bytes:
    v, r, s = transaction.y_parity, transaction.r, transaction.s
    if not (type(v) is int and type(r) is int and type(s) is int
            and (v == 0 or v == 1) and 0 <= r < SECPK1_N and 0 <= s < SECPK1_N):
        return stock_extract_sender(transaction)
    msg_hash = keccak256(transaction.__dict__.get(SIGNING_MESSAGE) or transaction.get_message_for_signing())
    try:
        key = coincurve.PublicKey.from_signature_and_message(
            r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((v,)), msg_hash, hasher=None)
    except Exception:  # eth_keys' BadSignature, raised by the stock path
        return stock_extract_sender(transaction)
    return keccak256(key.format(compressed=False)[1:])[12:]


_ONE_ITEM_KEY = b"\x20\x80"  # hex-prefix of the nibbles of rlp(0) = 0x80, as a leaf
_stock_trie_root_and_nodes = eth.db.trie._make_trie_root_and_nodes


def _make_trie_root_and_nodes(items: tuple):
    if len(items) != 1 or type(items[0]) is not bytes:
        return _stock_trie_root_and_nodes(items)
    encoded = _encode_raw([_ONE_ITEM_KEY, items[0]])  # plain bytes: no sedes to infer
    root = keccak256(encoded)
    return root, {root: encoded}


def _shareable(value) -> bool:
    """A tuple of immutable things: a deep copy would only rebuild equal objects."""
    if type(value) is not tuple:
        return False
    for item in value:
        kind = type(item)
        if not (kind is bytes or kind is int or isinstance(item, BaseSerializable)
                or isinstance(item, berlin_txs.TypedTransaction)):
            return False
    return True


def _encode_account(account: Account) -> bytes:
    nonce, balance, root, code_hash = account.nonce, account.balance, account.storage_root, account.code_hash
    if type(nonce) is int and type(balance) is int and nonce >= 0 and balance >= 0 \
            and type(root) is bytes and type(code_hash) is bytes and len(root) == 32 and len(code_hash) == 32:
        return _encode_raw([nonce.to_bytes((nonce.bit_length() + 7) // 8, "big"),
                            balance.to_bytes((balance.bit_length() + 7) // 8, "big"), root, code_hash])
    return rlp.encode(account, sedes=Account)


def _set_account(self, address: bytes, account: Account) -> None:
    """AccountDB._set_account, telling the decoded-account cache what it wrote."""
    self._account_cache[address] = account
    encoded = _encode_account(account)
    self._journaltrie[address] = encoded
    remember_account(encoded, account)


_MISSING = object()
_INTRINSIC_GAS = "_imo_intrinsic_gas"


def _intrinsic_gas(self) -> int:
    known = self.__dict__.get(_INTRINSIC_GAS)
    if known is None:
        known = self.__dict__[_INTRINSIC_GAS] = self.get_intrinsic_gas()
    return known


@functools.lru_cache(maxsize=None)
def _plain_fields(cls) -> bool:
    """Whether `cls` keeps its field values as plain entries of the instance's __dict__."""
    return cls.__dictoffset__ != 0 and all(
        inspect.getattr_static(cls, attr, _MISSING) is _MISSING for attr in cls._meta.field_attrs)


def _dict_init(self, *args, **kwargs):
    """pyrlp's __init__ (as rlp_speedups.fast_init) with one __dict__ update for the fields."""
    meta = self._meta
    values = serializable.merge_kwargs_to_args(args, kwargs, meta.field_names) if kwargs else args
    if len(values) != len(meta.field_names) or not _plain_fields(type(self)):
        return fast_init(self, *args, **kwargs)
    make_immutable = serializable.make_immutable
    self.__dict__.update(zip(meta.field_attrs, [
        value if type(value) in _ATOMIC else make_immutable(value) for value in values]))


def _as_dict(self) -> dict:
    meta = self._meta
    return dict(zip(meta.field_names, [getattr(self, attr) for attr in meta.field_attrs]))


def _iter(self):
    return iter([getattr(self, attr) for attr in self._meta.field_attrs])


def _field_getters() -> list:
    """pyrlp's field properties of every Serializable class defined so far, with C getters
    (the setter, which refuses writes outside a changeset, is kept)."""
    out, seen, pending = [], set(), [BaseSerializable]
    while pending:
        for cls in pending.pop().__subclasses__():
            if cls in seen:
                continue
            seen.add(cls)
            pending.append(cls)
            meta = cls.__dict__.get("_meta")
            for field, attr in zip(meta.field_names, meta.field_attrs) if meta is not None else ():
                prop = cls.__dict__.get(field)
                if isinstance(prop, property) and getattr(prop.fget, "__name__", "") == "field_fn_getter":
                    out.append((cls, field, property(attrgetter(attr), prop.fset)))
    return out


_stock_validate_is_node = trie.hexary.validate_is_node
_BYTES = itertools.repeat(bytes)
_CHILD_SIZES = frozenset((0, 32))  # a branch's child: blank, or a 32-byte hash


def _validate_is_node(node) -> None:
    if type(node) is list:
        if len(node) == 17:  # C-level scans: every item bytes, every child blank or a hash
            if all(map(isinstance, node, _BYTES)) and _CHILD_SIZES.issuperset(map(len, node[:16])):
                return
        elif len(node) == 2 and type(node[0]) is bytes and type(node[1]) is bytes:
            return
    _stock_validate_is_node(node)


_stock_push_xx = stack_logic.push_XX


def _push_xx(computation, size: int) -> None:
    code = computation.code
    if type(code) is not CodeStream:
        return _stock_push_xx(computation, size)
    start = code.program_counter
    end = code.program_counter = start + size
    value = code._raw_code_bytes[start:end]
    if len(value) != size:  # PUSH data running past the end of the code: zero-padded
        value = value.ljust(size, b"\x00")
    computation._stack.push_bytes(value)


_stock_spoof_getattr = SpoofAttributes.__getattr__


def _spoof_getattr(self, attr: str):
    value = _stock_spoof_getattr(self, attr)
    if "overrides" in self.__dict__:  # constructed: what it answers is fixed from here on
        self.__dict__[attr] = value
    return value


_stock_pop_ints = Stack.pop_ints
_stock_pop1_int = Stack.pop1_int
_stock_push_int = Stack.push_int
_stock_push_bytes = Stack.push_bytes


def _pop_ints(self, num_items: int) -> tuple:
    values = self.values
    if not 0 < num_items <= len(values):
        return _stock_pop_ints(self, num_items)
    items = values[-num_items:]
    for item in items:
        if type(item) is not int and type(item) is not bytes:
            return _stock_pop_ints(self, num_items)  # py-evm's error for it
    del values[-num_items:]
    items.reverse()
    return tuple([x if type(x) is int else int.from_bytes(x, "big") for x in items])


def _pop1_int(self) -> int:
    values = self.values
    if values and type(values[-1]) is int:
        return values.pop()
    return _stock_pop1_int(self)


def _push_int(self, value: int) -> None:
    values = self.values
    if len(values) < 1024 and type(value) is int and 0 <= value <= UINT_256_MAX:
        values.append(value)
    else:
        _stock_push_int(self, value)


def _push_bytes(self, value: bytes) -> None:
    values = self.values
    if len(values) < 1024 and type(value) is bytes and len(value) <= 32:
        values.append(value)
    else:
        _stock_push_bytes(self, value)


_stock_to_bytes, _stock_to_int = eth.db.storage.to_bytes, eth.db.storage.to_int


def _storage_to_bytes(primitive=None, hexstr=None, text=None) -> bytes:
    """eth_utils.to_bytes as AccountStorageDB uses it (its clear count, an int, at every
    account's storage opened: once per block for a token), without the decorators' checks."""
    if type(primitive) is int and primitive >= 0 and hexstr is None and text is None:
        return primitive.to_bytes((primitive.bit_length() + 7) // 8 or 1, "big")
    return _stock_to_bytes(primitive, hexstr, text)


def _storage_to_int(primitive=None, hexstr=None, text=None) -> int:
    if type(primitive) is bytes and hexstr is None and text is None:
        return int.from_bytes(primitive, "big")
    return _stock_to_int(primitive, hexstr, text)


def patches() -> list:
    return [(module, "extract_transaction_sender", extract_transaction_sender) for module in _TX_MODULES] + [
        (eth.db.trie, "_make_trie_root_and_nodes", _make_trie_root_and_nodes),
        (BaseSerializable, "copy", rlp_plans.make_copy(make_fast_copy(_shareable))),
        (BaseSerializable, "__init__", _dict_init),
        (BaseSerializable, "as_dict", _as_dict),
        (BaseSerializable, "__iter__", _iter),
        (AccountDB, "_set_account", _set_account),
        (trie.hexary, "validate_is_node", _validate_is_node),
        (stack_logic, "push_XX", _push_xx),
        (SpoofAttributes, "__getattr__", _spoof_getattr),
        (Stack, "pop_ints", _pop_ints),
        (Stack, "pop1_int", _pop1_int),
        (Stack, "push_int", _push_int),
        (Stack, "push_bytes", _push_bytes),
        (eth.db.storage, "to_bytes", _storage_to_bytes),
        (eth.db.storage, "to_int", _storage_to_int),
        (BaseTransactionMethods, "intrinsic_gas", property(_intrinsic_gas)),
    ] + evm_loop.PATCHES + chaindb_speedups.PATCHES + rlp_plans.PATCHES + _field_getters()
