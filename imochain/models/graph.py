"""The declarative model graph: schema, validation, shape and cost inference (no torch here).

A model's graph is JSON stored in the safetensors ``__metadata__`` under ``"imochain.graph"``::

    {"format": "imochain-graph/1", "name": "mlp-784-32-10", "mode": "int8",
     "input": {"dtype": "int8", "shape": [784]},
     "ops": [{"op": "Linear", "weight": "fc1.weight", "bias": "fc1.bias"},
             {"op": "Requantize", "multiplier": 18957, "shift": 24},
             {"op": "ReLU"}, ...],
     "description": "...", "info": {...}}

Shapes are per sample; a call's tensor carries a leading batch dimension ``[B, *input.shape]``
(or exactly ``input.shape`` for a single unbatched sample). Each op reads the previous op's
output unless it names ``"inputs"`` (ids of earlier ops, or ``"input"`` for the model input);
an op may carry an ``"id"``. The model output is the last op's output.

Ops (``mode`` int8 | fp32). In int8 mode the value dtypes are int8 and int32; zero points are 0
(symmetric quantisation), so zero padding is exact.

=============  ==========================================  ==================================
op             attributes                                   int8 semantics
=============  ==========================================  ==================================
Linear         weight [N,K], bias [N] (optional)            int8 x int8 -> int32 (+ int32 bias)
Conv2d         weight [Co,Ci,kh,kw], bias [Co], stride,     int8 -> int32, zero padding
               padding (ints, default 1 and 0)
ReLU           -                                            max(x, 0), dtype kept
MaxPool2d      kernel, stride (default kernel), no padding  dtype kept
AvgPool2d      kernel, stride (default kernel), no padding  integer sum / (k*k), round half even
Flatten        -                                            [..] -> [prod]
Reshape        shape (per sample, same element count)       -
Add            inputs [a, b], same shape                    int8 + int8 -> int32 (exact)
Requantize     multiplier (1..2^31-1), shift (0..62)        int8|int32 -> int8:
                                                            sat8(round_half_even(x*m / 2^shift))
=============  ==========================================  ==================================

fp32 mode uses float32 everywhere and has no Requantize. Unknown ops, unknown keys, missing or
unused weights, wrong weight dtypes or shapes, shapes that do not chain, and int32 accumulators
that could overflow are all rejected when the model is loaded.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from .errors import ModelError

GRAPH_FORMAT = "imochain-graph/1"
MODES = ("int8", "fp32")
MAX_OPS = 256
MAX_VALUE_ELEMENTS = 1 << 24     # per sample, per value
MAX_PARAMS = 1 << 28
MAX_SMALL_INT = 64               # kernel, stride, padding
INT32_MAX = (1 << 31) - 1
ITEMSIZE = {"int8": 1, "int32": 4, "float32": 4}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

_OP_KEYS = {
    "Linear": {"weight", "bias"},
    "Conv2d": {"weight", "bias", "stride", "padding"},
    "ReLU": set(),
    "MaxPool2d": {"kernel", "stride"},
    "AvgPool2d": {"kernel", "stride"},
    "Flatten": set(),
    "Reshape": {"shape"},
    "Add": set(),
    "Requantize": {"multiplier", "shift"},
}
_COMMON_KEYS = {"op", "id", "inputs"}
_TOP_KEYS = {"format", "name", "mode", "input", "ops", "description", "info"}


@dataclass
class Node:
    """One validated op with its per-sample output shape, dtype and cost."""

    index: int
    op: str
    inputs: list[int]          # value indices: 0 = model input, k = output of op k-1
    attrs: dict
    out_shape: tuple[int, ...]
    out_dtype: str
    macs: int
    bound: int                 # largest |value| the output can hold (int8 mode), for overflow proofs


@dataclass
class Graph:
    name: str
    mode: str
    input_shape: tuple[int, ...]
    input_dtype: str
    nodes: list[Node]
    output_shape: tuple[int, ...]
    output_dtype: str
    macs_per_sample: int
    params: int
    activation_bytes_per_sample: int   # bytes written by all ops for one sample
    description: str = ""
    info: dict = field(default_factory=dict)


def _int(value, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ModelError(f"{what} must be an integer in [{lo}, {hi}], got {value!r}")
    return value


def _shape(value, what: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= 7:
        raise ModelError(f"{what} must be a list of 1..7 positive integers")
    dims = tuple(_int(d, f"{what} dimension", 1, MAX_VALUE_ELEMENTS) for d in value)
    if math.prod(dims) > MAX_VALUE_ELEMENTS:
        raise ModelError(f"{what} {list(dims)} exceeds {MAX_VALUE_ELEMENTS} elements")
    return dims


def _weight(weights: dict, used: set, name, what: str, dtype: str, shape=None) -> np.ndarray:
    if not isinstance(name, str):
        raise ModelError(f"{what} must name a weight tensor")
    if name not in weights:
        raise ModelError(f"{what}: weight '{name}' missing from the file")
    array = weights[name]
    if array.dtype != np.dtype(dtype):
        raise ModelError(f"{what}: weight '{name}' is {array.dtype}, expected {dtype}")
    if shape is not None and tuple(array.shape) != tuple(shape):
        raise ModelError(f"{what}: weight '{name}' has shape {list(array.shape)}, expected {list(shape)}")
    if array.dtype == np.float32 and not np.isfinite(array).all():
        raise ModelError(f"{what}: weight '{name}' holds NaN or infinity")
    used.add(name)
    return array


def _pool_out(size: int, kernel: int, stride: int, what: str) -> int:
    if kernel > size:
        raise ModelError(f"{what}: kernel {kernel} larger than input size {size}")
    return (size - kernel) // stride + 1


def validate_graph(spec, weights: dict[str, np.ndarray]) -> Graph:
    """Check a graph spec against its weights; return the typed graph or raise ModelError."""
    if not isinstance(spec, dict):
        raise ModelError("graph must be a JSON object")
    unknown = set(spec) - _TOP_KEYS
    if unknown:
        raise ModelError(f"graph has unknown keys {sorted(unknown)}")
    if spec.get("format") != GRAPH_FORMAT:
        raise ModelError(f"graph format must be '{GRAPH_FORMAT}', got {spec.get('format')!r}")
    name = spec.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ModelError(f"model name must match {_NAME_RE.pattern}, got {name!r}")
    mode = spec.get("mode")
    if mode not in MODES:
        raise ModelError(f"mode must be one of {list(MODES)}, got {mode!r}")
    description = spec.get("description", "")
    if not isinstance(description, str) or len(description) > 4096:
        raise ModelError("description must be a string of at most 4096 characters")
    info = spec.get("info", {})
    if not isinstance(info, dict):
        raise ModelError("info must be a JSON object")
    inp = spec.get("input")
    if not isinstance(inp, dict) or set(inp) != {"dtype", "shape"}:
        raise ModelError("input must be an object with exactly 'dtype' and 'shape'")
    want_input_dtype = "int8" if mode == "int8" else "float32"
    if inp["dtype"] != want_input_dtype:
        raise ModelError(f"{mode} model input dtype must be {want_input_dtype}, got {inp['dtype']!r}")
    input_shape = _shape(inp["shape"], "input shape")
    ops = spec.get("ops")
    if not isinstance(ops, list) or not 1 <= len(ops) <= MAX_OPS:
        raise ModelError(f"ops must be a list of 1..{MAX_OPS} ops")

    # value index 0 is the model input; value k is the output of op k-1
    shapes = [input_shape]
    dtypes = [want_input_dtype]
    bounds = [128]
    ids = {"input": 0}
    nodes: list[Node] = []
    used: set[str] = set()
    params = 0
    activation_bytes = 0
    for i, op in enumerate(ops):
        where = f"op {i}"
        if not isinstance(op, dict):
            raise ModelError(f"{where} must be an object")
        kind = op.get("op")
        if kind not in _OP_KEYS:
            raise ModelError(f"{where}: unknown op {kind!r} (known: {', '.join(sorted(_OP_KEYS))})")
        where = f"op {i} ({kind})"
        extra = set(op) - _COMMON_KEYS - _OP_KEYS[kind]
        if extra:
            raise ModelError(f"{where}: unknown keys {sorted(extra)}")
        if "id" in op:
            op_id = op["id"]
            if not isinstance(op_id, str) or not _NAME_RE.match(op_id) or op_id in ids:
                raise ModelError(f"{where}: id must be a new name matching {_NAME_RE.pattern}")
        if "inputs" in op:
            refs = op["inputs"]
            if not isinstance(refs, list) or not all(isinstance(r, str) and r in ids for r in refs):
                raise ModelError(f"{where}: inputs must list ids of earlier ops or 'input'")
            inputs = [ids[r] for r in refs]
        else:
            inputs = [i]
        want_inputs = 2 if kind == "Add" else 1
        if len(inputs) != want_inputs:
            raise ModelError(f"{where}: takes {want_inputs} input(s), got {len(inputs)}")
        x_shape, x_dtype, x_bound = shapes[inputs[0]], dtypes[inputs[0]], bounds[inputs[0]]
        attrs: dict = {}
        macs = 0
        out_bound = x_bound
        out_dtype = x_dtype
        wdtype = "int8" if mode == "int8" else "float32"
        bdtype = "int32" if mode == "int8" else "float32"

        if kind in ("Linear", "Conv2d"):
            if mode == "int8" and x_dtype != "int8":
                raise ModelError(f"{where}: input is {x_dtype}; requantize to int8 first")
            w = _weight(weights, used, op.get("weight"), f"{where} weight", wdtype)
            if kind == "Linear":
                if len(x_shape) != 1:
                    raise ModelError(f"{where}: input shape {list(x_shape)} must be 1-D (Flatten first)")
                if w.ndim != 2 or w.shape[1] != x_shape[0]:
                    raise ModelError(
                        f"{where}: weight shape {list(w.shape)} does not match input [{x_shape[0]}] (expected [N,{x_shape[0]}])")
                n_out, k = w.shape
                out_shape = (n_out,)
                macs = n_out * k
            else:
                if len(x_shape) != 3:
                    raise ModelError(f"{where}: input shape {list(x_shape)} must be [C,H,W]")
                stride = _int(op.get("stride", 1), f"{where} stride", 1, MAX_SMALL_INT)
                padding = _int(op.get("padding", 0), f"{where} padding", 0, MAX_SMALL_INT)
                if w.ndim != 4 or w.shape[1] != x_shape[0]:
                    raise ModelError(
                        f"{where}: weight shape {list(w.shape)} does not match input channels {x_shape[0]}")
                c_out, c_in, kh, kw = w.shape
                h, wd = x_shape[1] + 2 * padding, x_shape[2] + 2 * padding
                if kh > h or kw > wd:
                    raise ModelError(f"{where}: kernel {kh}x{kw} larger than padded input {h}x{wd}")
                oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
                out_shape = (c_out, oh, ow)
                k = c_in * kh * kw
                macs = c_out * oh * ow * k
                attrs.update(stride=stride, padding=padding)
            attrs["weight"] = op["weight"]
            params += w.size
            bias_max = 0
            if "bias" in op:
                b = _weight(weights, used, op["bias"], f"{where} bias", bdtype, (w.shape[0],))
                attrs["bias"] = op["bias"]
                params += b.size
                if mode == "int8" and b.size:
                    bias_max = int(np.abs(b.astype(np.int64)).max())
            if mode == "int8":
                out_dtype = "int32"
                # int32 accumulation must not overflow: |sum| <= K * 128 * max|w| + max|bias|.
                w_max = int(np.abs(w.astype(np.int64)).max()) if w.size else 0
                out_bound = k * 128 * w_max + bias_max
                if out_bound > INT32_MAX:
                    raise ModelError(f"{where}: accumulator bound {out_bound} overflows int32 (K={k})")
        elif kind == "ReLU":
            out_shape = x_shape
        elif kind in ("MaxPool2d", "AvgPool2d"):
            if len(x_shape) != 3:
                raise ModelError(f"{where}: input shape {list(x_shape)} must be [C,H,W]")
            kernel = _int(op.get("kernel"), f"{where} kernel", 1, MAX_SMALL_INT)
            stride = _int(op.get("stride", kernel), f"{where} stride", 1, MAX_SMALL_INT)
            out_shape = (x_shape[0], _pool_out(x_shape[1], kernel, stride, where),
                         _pool_out(x_shape[2], kernel, stride, where))
            attrs.update(kernel=kernel, stride=stride)
        elif kind == "Flatten":
            out_shape = (math.prod(x_shape),)
        elif kind == "Reshape":
            out_shape = _shape(op.get("shape"), f"{where} shape")
            if math.prod(out_shape) != math.prod(x_shape):
                raise ModelError(f"{where}: cannot reshape {list(x_shape)} to {list(out_shape)}")
            attrs["shape"] = out_shape
        elif kind == "Add":
            y_shape, y_dtype = shapes[inputs[1]], dtypes[inputs[1]]
            if x_shape != y_shape:
                raise ModelError(f"{where}: shapes {list(x_shape)} and {list(y_shape)} differ")
            if mode == "int8":
                if x_dtype != "int8" or y_dtype != "int8":
                    raise ModelError(f"{where}: int8 mode adds two int8 values (got {x_dtype}, {y_dtype})")
                out_dtype, out_bound = "int32", 256
            out_shape = x_shape
        else:  # Requantize
            if mode != "int8":
                raise ModelError(f"{where}: Requantize exists only in int8 mode")
            attrs["multiplier"] = _int(op.get("multiplier"), f"{where} multiplier", 1, INT32_MAX)
            attrs["shift"] = _int(op.get("shift"), f"{where} shift", 0, 62)
            out_dtype, out_bound = "int8", 128
            out_shape = x_shape

        if math.prod(out_shape) > MAX_VALUE_ELEMENTS:
            raise ModelError(f"{where}: output {list(out_shape)} exceeds {MAX_VALUE_ELEMENTS} elements")
        node = Node(i, kind, inputs, attrs, tuple(out_shape), out_dtype, macs, out_bound)
        nodes.append(node)
        shapes.append(node.out_shape)
        dtypes.append(out_dtype)
        bounds.append(out_bound)
        activation_bytes += math.prod(out_shape) * ITEMSIZE[out_dtype]
        if "id" in op:
            ids[op["id"]] = i + 1

    unused = set(weights) - used
    if unused:
        raise ModelError(f"file holds weights no op uses: {sorted(unused)[:5]}")
    if params > MAX_PARAMS:
        raise ModelError(f"model has {params} parameters, limit {MAX_PARAMS}")
    return Graph(
        name=name, mode=mode, input_shape=input_shape, input_dtype=want_input_dtype, nodes=nodes,
        output_shape=nodes[-1].out_shape, output_dtype=nodes[-1].out_dtype,
        macs_per_sample=sum(n.macs for n in nodes), params=params,
        activation_bytes_per_sample=activation_bytes, description=description, info=info)
