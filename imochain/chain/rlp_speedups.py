"""Faster equivalents of pyrlp's sedes and `Serializable` bookkeeping (headers, accounts, receipts).

py-evm copies and rebuilds headers and accounts several times per transaction and per
block; pyrlp checks each construction's argument names with a Counter and deep-copies every
unchanged field on `copy()`. Field values are immutable (ints, bytes, tuples after
`make_immutable`), so for them a deep copy is the value itself; anything else still goes
through `copy.deepcopy`. Lists, integers and byte strings are (de)serialised by plain loops
instead of generators wrapped in decorators. Unusual input (positional arguments, unknown or
duplicate names, other types, anything that fails) falls through to pyrlp's own code, so
results and errors are unchanged.

Raw RLP: when rusty-rlp is installed (pyrlp's optional Rust backend, `rlp[rust-backend]`),
encoding and strict decoding go to it (it encodes 4-10x faster than the Python loops below,
and decodes the chain's transactions and receipts faster); without it, the Python loops.
Either way the bytes are the same, and malformed RLP gets pyrlp's Python messages ("RLP
string too short", not Rust's "Invariant"); the bench is benchmarks/bench_rlp_backend.py.
"""

from __future__ import annotations

import copy as copy_module
import functools

import rlp.codec

from rlp.exceptions import DecodingError
from rlp.sedes import serializable
from rlp.sedes.big_endian_int import BigEndianInt
from rlp.sedes.binary import Binary
from rlp.sedes.lists import List

_ATOMIC = frozenset({int, bytes, bool, str, type(None)})

slow_validate = serializable.validate_args_and_kwargs
slow_merge_kwargs_to_args = serializable.merge_kwargs_to_args
slow_merge_args_to_kwargs = serializable.merge_args_to_kwargs
slow_copy = serializable.BaseSerializable.copy
slow_init = serializable.BaseSerializable.__init__


@functools.lru_cache(maxsize=1024)
def _name_set(arg_names: tuple) -> frozenset | None:
    """The names as a set, or None when some name repeats (pyrlp raises for those)."""
    names = frozenset(arg_names)
    return names if len(names) == len(arg_names) else None


def validate_args_and_kwargs(args, kwargs, arg_names, allow_missing=False):
    if not args and type(arg_names) is tuple:
        names = _name_set(arg_names)
        if names is not None and kwargs.keys() == names:
            return
    slow_validate(args, kwargs, arg_names, allow_missing=allow_missing)


def merge_kwargs_to_args(args, kwargs, arg_names, allow_missing=False):
    if args or type(arg_names) is not tuple or allow_missing:
        return slow_merge_kwargs_to_args(args, kwargs, arg_names, allow_missing=allow_missing)
    validate_args_and_kwargs(args, kwargs, arg_names)
    return tuple([kwargs[name] for name in arg_names])


def merge_args_to_kwargs(args, kwargs, arg_names, allow_missing=False):
    if kwargs or type(arg_names) is not tuple or allow_missing or len(args) != len(arg_names):
        return slow_merge_args_to_kwargs(args, kwargs, arg_names, allow_missing=allow_missing)
    if _name_set(arg_names) is None:
        return slow_merge_args_to_kwargs(args, kwargs, arg_names)
    return dict(zip(arg_names, args))


def fast_init(self, *args, **kwargs):
    """BaseSerializable.__init__ without a call per atomic field (ints and bytes are immutable
    already); a wrong argument count goes to pyrlp for its error."""
    meta = self._meta
    values = serializable.merge_kwargs_to_args(args, kwargs, meta.field_names) if kwargs else args
    if len(values) != len(meta.field_names):
        return slow_init(self, *args, **kwargs)
    make_immutable = serializable.make_immutable
    for value, attr in zip(values, meta.field_attrs):
        setattr(self, attr, value if type(value) in _ATOMIC else make_immutable(value))


def make_fast_copy(shareable=None):
    """`copy()` that deep-copies only what is not atomic, nor `shareable(value)` when given."""
    def fast_copy(self, *args, **kwargs):
        meta = self._meta
        names = meta.field_names
        if args or type(names) is not tuple or not kwargs.keys() <= (_name_set(names) or frozenset()):
            return slow_copy(self, *args, **kwargs)
        values = {}
        for name, attr in zip(names, meta.field_attrs):
            if name in kwargs:
                values[name] = kwargs[name]
            else:
                value = getattr(self, attr)
                shared = type(value) in _ATOMIC or (shareable is not None and shareable(value))
                values[name] = value if shared else copy_module.deepcopy(value)
        return type(self)(**values)
    return fast_copy


fast_copy = make_fast_copy()


slow_list_serialize = List.serialize
slow_list_deserialize = List.deserialize
slow_int_serialize = BigEndianInt.serialize
slow_int_deserialize = BigEndianInt.deserialize
slow_binary_serialize = Binary.serialize
slow_binary_deserialize = Binary.deserialize


def list_serialize(self, obj):
    if not (type(obj) is list or type(obj) is tuple or isinstance(obj, serializable.BaseSerializable)) \
            or (self.strict and len(self) != len(obj)):
        return slow_list_serialize(self, obj)
    try:
        return [sedes.serialize(element) for element, sedes in zip(obj, self)]
    except Exception:  # pyrlp's own error, with its index and context
        return slow_list_serialize(self, obj)


def list_deserialize(self, serial):
    if not (type(serial) is list or type(serial) is tuple) or (self.strict and len(serial) != len(self)):
        return slow_list_deserialize(self, serial)
    try:
        return tuple([sedes.deserialize(element) for sedes, element in zip(self, serial)])
    except Exception:
        return slow_list_deserialize(self, serial)


def int_serialize(self, obj):
    if type(obj) is int and obj >= 0 and self.length is None:
        return obj.to_bytes((obj.bit_length() + 7) // 8, "big")  # 0 is the empty string
    return slow_int_serialize(self, obj)


def int_deserialize(self, serial):
    if type(serial) is bytes and self.length is None and serial[:1] != b"\x00":
        return int.from_bytes(serial, "big")
    return slow_int_deserialize(self, serial)


def binary_serialize(self, obj):
    if type(obj) is bytes and self.min_length <= len(obj) <= self.max_length:
        return obj
    return slow_binary_serialize(self, obj)


def binary_deserialize(self, serial):
    if type(serial) is bytes and self.min_length <= len(serial) <= self.max_length:
        return serial
    return slow_binary_deserialize(self, serial)


slow_encode_raw = rlp.codec.encode_raw
rusty_rlp = getattr(rlp.codec, "rusty_rlp", None)  # set when pyrlp found the Rust backend


def python_encode_raw(item):
    """RLP of bytes and (nested) lists with concrete type checks. pyrlp's own version checks
    against abstract base classes at every level, which dominates encoding trie nodes; any
    other type falls through to it, so results are identical."""
    kind = type(item)
    if kind is bytes:
        n = len(item)
        if n == 1 and item[0] < 128:
            return item
        return (bytes((0x80 + n,)) if n < 56 else _long_prefix(n, 0x80)) + item
    if kind is list or kind is tuple:
        parts = []
        for x in item:  # byte strings inline (a branch node is 17 of them): no call each
            if type(x) is bytes:
                n = len(x)
                if n == 1 and x[0] < 128:
                    parts.append(x)
                else:
                    parts.append((bytes((0x80 + n,)) if n < 56 else _long_prefix(n, 0x80)) + x)
            else:
                parts.append(python_encode_raw(x))
        payload = b"".join(parts)
        n = len(payload)
        return (bytes((0xC0 + n,)) if n < 56 else _long_prefix(n, 0xC0)) + payload
    return slow_encode_raw(item)


def _long_prefix(n: int, offset: int) -> bytes:
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((offset + 55 + len(size),)) + size


def rust_encode_raw(item):
    """rusty-rlp's encoder; what it refuses (a bytearray inside a list, other types) takes the
    Python path, so results and errors are those of an install without it."""
    try:
        return rusty_rlp.encode_raw(item)
    except rusty_rlp.EncodingError:
        return python_encode_raw(item)


def rust_decode_raw(item, strict, preserve_per_item_rlp):
    """pyrlp's `decode_raw` contract: strict decoding of bytes (all the chain does but the
    block importer) by rusty-rlp, the rest by the Python decoder, whose results and messages
    for malformed RLP ("RLP string too short", not Rust's "Invariant") are kept. Rust's own
    non-strict mode also waives the canonical-encoding checks, and it returns bytes for a
    bytearray."""
    if strict and type(item) is bytes:
        try:
            return rusty_rlp.decode_raw(item, True, preserve_per_item_rlp)
        except rusty_rlp.DecodingError as rust_error:
            python_decode_raw(item, True)  # raises with what is wrong, in pyrlp's words
            raise DecodingError(rust_error, item) from None  # what only Rust refuses
    return python_decode_raw(item, strict)


def python_decode_raw(item, strict, _preserve_per_item_rlp=False):
    """pyrlp's pure-Python `decode_raw` (which it leaves out when it has the Rust backend),
    saying "too short" for a truncated item where pyrlp says "ends with -1 superfluous bytes"."""
    try:
        result, per_item_rlp, end = rlp.codec.consume_item(item, 0)
    except IndexError:
        raise DecodingError("RLP string too short", item) from None
    if strict and end > len(item):
        raise DecodingError("RLP string too short", item)
    if strict and end < len(item):
        raise DecodingError(f"RLP string ends with {len(item) - end} superfluous bytes", item)
    return result, per_item_rlp


encode_raw = python_encode_raw if rusty_rlp is None else rust_encode_raw
decode_raw = python_decode_raw if rusty_rlp is None else rust_decode_raw


PATCHES = [
    (List, "serialize", list_serialize),
    (List, "deserialize", list_deserialize),
    (BigEndianInt, "serialize", int_serialize),
    (BigEndianInt, "deserialize", int_deserialize),
    (Binary, "serialize", binary_serialize),
    (Binary, "deserialize", binary_deserialize),
    (serializable, "validate_args_and_kwargs", validate_args_and_kwargs),
    (serializable, "merge_kwargs_to_args", merge_kwargs_to_args),
    (serializable, "merge_args_to_kwargs", merge_args_to_kwargs),
    (serializable.BaseSerializable, "copy", fast_copy),
    (serializable.BaseSerializable, "__init__", fast_init),
    (rlp.codec, "decode_raw", decode_raw),
]
