"""pyrlp's `Serializable.serialize`/`deserialize` by a plan made once per class (a patch group of tx_speedups).

pyrlp turns a header, receipt, log, account or transaction into RLP items through a List sedes
that calls each field's sedes (`BigEndianInt.serialize`, `Binary.serialize`, ...) in turn: ~90
Python calls for one header, ~110 for a receipt with a log, ~55 for a transaction's signing
message. The field sedes are almost always one of a few plain kinds (an int of any or of a fixed
length, bytes within a length range, a list of such, another Serializable), so each class gets a
plan once: one entry per field saying which kind it is, run by one loop. Any value the plan does
not expect (another type, a bool, a negative int, a wrong length, an unknown sedes) hands the
whole object to pyrlp's own code, so results and errors are pyrlp's.

`copy(**changes)` builds the new object through its class's constructor from every field
(pyrlp's copy; ~30 calls for a header, a block copies three). For classes whose constructor
only stores the fields it is given (pyrlp's own; py-evm's Account, and its headers', which
only fill in a missing timestamp), the unchanged values are carried over directly when all are
ints, bytes and the like (immutable: a deep copy would return them as they are) and no change
is None; anything else takes the copy it replaces.
"""

from __future__ import annotations

import functools
from operator import attrgetter

from eth.rlp.accounts import Account
from eth.rlp.headers import BlockHeader
from eth.vm.forks.cancun.blocks import CancunBlockHeader
from eth.vm.forks.london.blocks import LondonBlockHeader
from eth.vm.forks.prague.blocks import PragueBlockHeader
from eth.vm.forks.shanghai.blocks import ShanghaiBlockHeader
from rlp.sedes import serializable
from rlp.sedes.big_endian_int import BigEndianInt
from rlp.sedes.binary import Binary
from rlp.sedes.lists import CountableList, List

BaseSerializable = serializable.BaseSerializable

_INT, _FIXED_INT, _BYTES, _OBJECT, _LIST, _OTHER = range(6)
_SEQUENCES = (list, tuple)


class _Unusual(Exception):
    """A value the plan does not cover: pyrlp's own path decides (and raises its own errors)."""


def _entry(sedes) -> tuple:
    """(kind, argument, sedes) of one field's sedes."""
    kind = type(sedes)
    if kind is BigEndianInt:
        return (_INT, None, sedes) if sedes.length is None else (_FIXED_INT, sedes.length, sedes)
    if kind is Binary:
        return _BYTES, (sedes.min_length, sedes.max_length, sedes.allow_empty), sedes
    if isinstance(sedes, type) and issubclass(sedes, BaseSerializable) and _is_stock(sedes):
        return _OBJECT, sedes, sedes
    if kind is CountableList:
        return _LIST, (_entry(sedes.element_sedes), sedes.max_length), sedes
    return _OTHER, None, sedes


def _is_stock(cls) -> bool:
    """Whether the class (de)serialises as pyrlp's BaseSerializable does (no override of its own)."""
    return (getattr(cls.serialize, "__func__", None) in (_serialize, _stock_serialize)
            and getattr(cls.deserialize, "__func__", None) in (_deserialize, _stock_deserialize))


_plans: dict[type, tuple | None] = {}


def _plan_of(cls) -> tuple | None:
    """(field attribute getter, entries) for a class whose sedes is a strict List of its fields,
    or None (then pyrlp's path, always)."""
    try:
        return _plans[cls]
    except KeyError:
        pass
    meta = cls._meta
    sedes, attrs = meta.sedes, meta.field_attrs
    plan = None
    if type(sedes) is List and sedes.strict and len(sedes) == len(attrs) >= 2:
        plan = (attrgetter(*attrs), tuple(_entry(s) for s in sedes))
    _plans[cls] = plan
    return plan


def _serialize_value(entry: tuple, value):
    kind, arg, sedes = entry
    if kind is _INT:
        if type(value) is not int or value < 0:
            raise _Unusual
        return value.to_bytes((value.bit_length() + 7) // 8, "big")
    if kind is _BYTES:
        if type(value) is not bytes or not (arg[0] <= len(value) <= arg[1] or (arg[2] and not value)):
            raise _Unusual
        return value
    if kind is _FIXED_INT:
        if type(value) is not int or value < 0 or value.bit_length() > 8 * arg:
            raise _Unusual
        return value.to_bytes(arg, "big")
    if kind is _OBJECT:
        if type(value) is not sedes or (plan := _plan_of(sedes)) is None:
            raise _Unusual
        return _serialize_fields(plan, value)
    if kind is _LIST:
        element, max_length = arg
        if type(value) not in _SEQUENCES or (max_length is not None and len(value) > max_length):
            raise _Unusual
        return [_serialize_value(element, item) for item in value]
    return sedes.serialize(value)


def _serialize_fields(plan: tuple, obj) -> list:
    getter, entries = plan
    return [  # the plain kinds inline (no call per field); the rest by _serialize_value
        value.to_bytes((value.bit_length() + 7) // 8, "big")
        if entry[0] is _INT and type(value) is int and value >= 0 else
        value if entry[0] is _BYTES and type(value) is bytes and entry[1][0] <= len(value) <= entry[1][1] else
        _serialize_value(entry, value)
        for entry, value in zip(entries, getter(obj))]


def _serialize(cls, obj):
    plan = _plan_of(cls)
    if plan is not None and type(obj) is cls:
        try:
            return _serialize_fields(plan, obj)
        except Exception:  # _Unusual, or an unknown sedes' error: pyrlp's path says it its way
            pass
    return _stock_serialize(cls, obj)


def _deserialize_value(entry: tuple, serial):
    kind, arg, sedes = entry
    if kind is _INT:
        if type(serial) is not bytes or serial[:1] == b"\x00":
            raise _Unusual
        return int.from_bytes(serial, "big")
    if kind is _BYTES:
        if type(serial) is not bytes or not (arg[0] <= len(serial) <= arg[1] or (arg[2] and not serial)):
            raise _Unusual
        return serial
    if kind is _FIXED_INT:
        if type(serial) is not bytes or len(serial) != arg:
            raise _Unusual
        return int.from_bytes(serial, "big")
    if kind is _OBJECT:
        plan = _plan_of(sedes)
        if plan is None or type(serial) not in _SEQUENCES or len(serial) != len(plan[1]):
            raise _Unusual
        return _build(sedes, plan, serial, {})
    if kind is _LIST:
        element, max_length = arg
        if type(serial) not in _SEQUENCES or (max_length is not None and len(serial) > max_length):
            raise _Unusual
        return tuple([_deserialize_value(element, item) for item in serial])
    return sedes.deserialize(serial)


def _build(cls, plan: tuple, serial, extra_kwargs: dict):
    values = [  # as in _serialize_fields
        int.from_bytes(item, "big") if entry[0] is _INT and type(item) is bytes and item[:1] != b"\x00" else
        item if entry[0] is _BYTES and type(item) is bytes and entry[1][0] <= len(item) <= entry[1][1] else
        _deserialize_value(entry, item)
        for entry, item in zip(plan[1], serial)]
    if not extra_kwargs and _init_owner(cls) is BaseSerializable:  # pyrlp's: the fields in order
        return cls(*values)
    return cls(**dict(zip(cls._meta.field_names, values)), **extra_kwargs)


def _deserialize(cls, serial, **extra_kwargs):
    plan = _plan_of(cls)
    if plan is not None and type(serial) in _SEQUENCES and len(serial) == len(plan[1]):
        try:
            return _build(cls, plan, serial, extra_kwargs)
        except Exception:  # as above; a constructor that refuses the values refuses them again
            pass
    return _stock_deserialize(cls, serial, **extra_kwargs)


# constructors that store the fields they are given and nothing else (None: a default filled in)
_STORING = frozenset({BaseSerializable, Account, BlockHeader, LondonBlockHeader, ShanghaiBlockHeader,
                      CancunBlockHeader, PragueBlockHeader})
_ATOMIC = frozenset({int, bytes, bool, str, type(None)})


@functools.lru_cache(maxsize=None)
def _init_owner(cls) -> type:
    """The class whose __init__ constructs `cls`."""
    return next(c for c in cls.__mro__ if "__init__" in c.__dict__)


@functools.lru_cache(maxsize=None)
def _copy_plan(cls) -> tuple | None:
    """(field attribute of each name, field attributes) where `copy` may skip the constructor."""
    if _init_owner(cls) not in _STORING or cls.__dictoffset__ == 0:
        return None
    meta = cls._meta
    return dict(zip(meta.field_names, meta.field_attrs)), meta.field_attrs


def make_copy(fallback):
    """`copy()` carrying the unchanged fields over without the constructor where that is the
    same (see above); `fallback` otherwise."""
    def copy(self, *args, **kwargs):
        plan = _copy_plan(type(self))
        if plan is None or args:
            return fallback(self, *args, **kwargs)
        attrs, field_attrs = plan
        values = self.__dict__
        fields = {attr: values[attr] for attr in field_attrs if attr in values}
        if not (len(fields) == len(field_attrs) and _ATOMIC.issuperset(map(type, fields.values()))
                and kwargs.keys() <= attrs.keys() and None not in kwargs.values()):
            return fallback(self, *args, **kwargs)
        for name, value in kwargs.items():
            fields[attrs[name]] = value if type(value) in _ATOMIC else serializable.make_immutable(value)
        new = type(self).__new__(type(self))
        new.__dict__.update(fields)
        return new
    return copy


_stock_serialize = BaseSerializable.__dict__["serialize"].__func__
_stock_deserialize = BaseSerializable.__dict__["deserialize"].__func__

PATCHES = [
    (BaseSerializable, "serialize", classmethod(_serialize)),
    (BaseSerializable, "deserialize", classmethod(_deserialize)),
]
