"""Model files: one safetensors file whose ``__metadata__["imochain.graph"]`` is the graph JSON.

The reader is our own strict parser of the safetensors layout (8-byte little-endian header size,
JSON header, raw little-endian tensor bytes): nothing in a file is executed or unpickled, every
size is bounded before it is used, tensors must tile the data buffer exactly (no holes, no
overlap, no trailing bytes), and duplicate JSON keys are refused so one file has one meaning.
The writer is deterministic (sorted names, compact JSON, space padding to 8 bytes as safetensors
does), so a build script produces byte-identical files and hence identical model hashes.
"""

from __future__ import annotations

import json
import math

import numpy as np
from eth_utils import keccak

from imochain import safejson

from .errors import ModelError
from .graph import Graph, validate_graph

GRAPH_METADATA_KEY = "imochain.graph"
MAX_MODEL_BYTES = 512 * 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024 * 1024
MAX_TENSORS = 1024
_SAFETENSORS_DTYPES = {"I8": np.dtype("<i1"), "I32": np.dtype("<i4"), "F32": np.dtype("<f4")}
_DTYPE_TAGS = {np.dtype("int8"): "I8", np.dtype("int32"): "I32", np.dtype("float32"): "F32"}


class Model:
    """A validated, immutable model: its graph, weights and content hash."""

    def __init__(self, model_hash: bytes, graph: Graph, weights: dict[str, np.ndarray], size: int):
        self.hash = model_hash
        self.graph = graph
        self.weights = weights
        self.size = size
        self.runtimes: dict = {}      # device -> prepared torch runtime, filled lazily

    @property
    def name(self) -> str:
        return self.graph.name

    @property
    def mode(self) -> str:
        return self.graph.mode

    def __repr__(self) -> str:
        return f"Model({self.name}, {self.mode}, 0x{self.hash.hex()[:16]}..)"


def _no_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ModelError(f"duplicate JSON key {key!r}")
        seen[key] = value
    return seen


def _reject_constant(name):
    raise ModelError(f"JSON constant {name} is not allowed")


def _json(text: bytes | str, what: str):
    try:
        return safejson.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except ModelError:
        raise
    except (ValueError, RecursionError) as exc:
        raise ModelError(f"{what} is not valid JSON: {exc}") from None


def parse_model(file_bytes: bytes) -> Model:
    """Validate a model file fully and return the Model; raise ModelError on any defect."""
    file_bytes = bytes(file_bytes)
    size = len(file_bytes)
    if size > MAX_MODEL_BYTES:
        raise ModelError(f"model file of {size} bytes exceeds limit {MAX_MODEL_BYTES}")
    if size < 10:
        raise ModelError("not a model file: too short for a safetensors header")
    header_len = int.from_bytes(file_bytes[:8], "little")
    if header_len > MAX_HEADER_BYTES or 8 + header_len > size:
        raise ModelError(f"not a model file: safetensors header length {header_len} invalid for a "
                         f"{size}-byte file (is this a pickle or another format?)")
    header_raw = file_bytes[8:8 + header_len]
    if not header_raw.lstrip().startswith(b"{"):
        raise ModelError("not a model file: safetensors header is not a JSON object")
    try:
        header_text = header_raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelError("not a model file: safetensors header is not UTF-8") from None
    header = _json(header_text, "safetensors header")
    if not isinstance(header, dict):
        raise ModelError("safetensors header must be a JSON object")
    metadata = header.pop("__metadata__", None)
    if not isinstance(metadata, dict) or GRAPH_METADATA_KEY not in metadata:
        raise ModelError(f"model file has no graph: __metadata__['{GRAPH_METADATA_KEY}'] missing")
    if not all(isinstance(v, str) for v in metadata.values()):
        raise ModelError("safetensors __metadata__ values must be strings")
    if len(header) > MAX_TENSORS:
        raise ModelError(f"model file has {len(header)} tensors, limit {MAX_TENSORS}")

    data_start = 8 + header_len
    data_size = size - data_start
    spans = []
    weights: dict[str, np.ndarray] = {}
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise ModelError(f"tensor '{name}': entry must have exactly dtype, shape, data_offsets")
        dtype = _SAFETENSORS_DTYPES.get(entry["dtype"])
        if dtype is None:
            raise ModelError(f"tensor '{name}': dtype {entry['dtype']!r} not supported (I8, I32, F32)")
        shape = entry["shape"]
        if (not isinstance(shape, list) or len(shape) > 8
                or not all(isinstance(d, int) and not isinstance(d, bool) and 0 < d < 1 << 31 for d in shape)):
            raise ModelError(f"tensor '{name}': bad shape {shape!r} (dimensions are 1 to 2^31-1)")
        offsets = entry["data_offsets"]
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= data_size):
            raise ModelError(f"tensor '{name}': data_offsets {offsets!r} outside the {data_size}-byte buffer")
        nbytes = math.prod(shape) * dtype.itemsize
        if offsets[1] - offsets[0] != nbytes:
            raise ModelError(f"tensor '{name}': shape {shape} needs {nbytes} bytes, offsets give "
                             f"{offsets[1] - offsets[0]}")
        spans.append((offsets[0], offsets[1], name))
        start = data_start + offsets[0]
        array = np.frombuffer(file_bytes, dtype=dtype, count=math.prod(shape), offset=start)
        array = array.reshape(shape).astype(dtype.newbyteorder("="), copy=True)
        array.flags.writeable = False
        weights[name] = array
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise ModelError(f"tensor '{name}': data buffer has a hole or overlap at byte {begin}")
        position = end
    if position != data_size:
        raise ModelError(f"model file has {data_size - position} bytes after the last tensor")

    graph = validate_graph(_json(metadata[GRAPH_METADATA_KEY], "graph"), weights)
    return Model(keccak(file_bytes), graph, weights, size)


def write_model(graph_spec: dict, weights: dict[str, np.ndarray]) -> bytes:
    """Serialise a graph and its weights to model-file bytes (deterministic), validating them."""
    header: dict = {"__metadata__": {GRAPH_METADATA_KEY: json.dumps(
        graph_spec, sort_keys=True, separators=(",", ":"))}}
    chunks = []
    offset = 0
    for name in sorted(weights):
        array = np.asarray(weights[name])
        tag = _DTYPE_TAGS.get(array.dtype)
        if tag is None:
            raise ModelError(f"weight '{name}' has dtype {array.dtype}; use int8, int32 or float32")
        raw = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": tag, "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    header_bytes += b" " * (-len(header_bytes) % 8)
    file_bytes = len(header_bytes).to_bytes(8, "little") + header_bytes + b"".join(chunks)
    parse_model(file_bytes)   # never hand out a file the store would refuse
    return file_bytes
