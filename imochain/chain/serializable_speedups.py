"""Faster equivalents of pyrlp's `Serializable` bookkeeping (headers, accounts, receipts).

py-evm copies and rebuilds headers and accounts several times per transaction and per
block; pyrlp checks each construction's argument names with a Counter and deep-copies every
unchanged field on `copy()`. Field values are immutable (ints, bytes, tuples after
`make_immutable`), so for them a deep copy is the value itself; anything else still goes
through `copy.deepcopy`. Unusual calls (positional arguments, unknown or duplicate names)
fall through to pyrlp's own code, so its errors are unchanged.
"""

from __future__ import annotations

import copy as copy_module
import functools

from rlp.sedes import serializable

_ATOMIC = frozenset({int, bytes, bool, str, type(None)})

slow_validate = serializable.validate_args_and_kwargs
slow_merge_kwargs_to_args = serializable.merge_kwargs_to_args
slow_merge_args_to_kwargs = serializable.merge_args_to_kwargs
slow_copy = serializable.BaseSerializable.copy


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
            values[name] = value if type(value) in _ATOMIC else copy_module.deepcopy(value)
    return type(self)(**values)


PATCHES = [
    (serializable, "validate_args_and_kwargs", validate_args_and_kwargs),
    (serializable, "merge_kwargs_to_args", merge_kwargs_to_args),
    (serializable, "merge_args_to_kwargs", merge_args_to_kwargs),
    (serializable.BaseSerializable, "copy", fast_copy),
]
