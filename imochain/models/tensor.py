"""Tensor codec: ``abi.encode(uint8 dtype, uint32[] shape, bytes data)``, data little-endian.

Dtype codes (0 is invalid on purpose so zeroed memory is never a valid tensor):

    1 = int8     (1 byte per element)
    2 = int32    (4 bytes, little-endian, two's complement)
    3 = float32  (4 bytes, little-endian IEEE 754)

The call data of the inference precompile is ``abi.encode(bytes32 modelHash, bytes tensor)``.

Decoding is done by hand over the raw ABI words, strictly: every size is bounded *before*
anything is copied (call data length, rank, each dimension, element count, byte length), offsets
must be the canonical ones Solidity's ``abi.encode`` writes, padding must be zero and no trailing
bytes are accepted. The canonical form makes the accepted encoding unique, which matters for a
consensus precompile. It is byte-for-byte the encoding eth_abi produces (the tests check both
directions against eth_abi); hand decoding is used because eth_abi.decode costs ~95 µs per call
here, about the whole gas budget of a small model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import PrecompileError

DTYPE_INT8 = 1
DTYPE_INT32 = 2
DTYPE_FLOAT32 = 3

DTYPE_NAMES = {DTYPE_INT8: "int8", DTYPE_INT32: "int32", DTYPE_FLOAT32: "float32"}
DTYPE_CODES = {name: code for code, name in DTYPE_NAMES.items()}
DTYPE_SIZES = {DTYPE_INT8: 1, DTYPE_INT32: 4, DTYPE_FLOAT32: 4}
NUMPY_DTYPES = {DTYPE_INT8: np.dtype("<i1"), DTYPE_INT32: np.dtype("<i4"), DTYPE_FLOAT32: np.dtype("<f4")}

# Bounds, checked before any copy. 64 MiB of call data is far above what a block's gas allows
# (calldata costs 16 gas/byte), so honest calls never meet them; they only stop absurd input.
MAX_CALLDATA_BYTES = 64 * 1024 * 1024
MAX_RANK = 8
MAX_DIM = 1 << 24
MAX_ELEMENTS = 1 << 24

_WORD = 32


@dataclass(frozen=True)
class TensorView:
    """A decoded tensor header plus where its data lies in the buffer it came from."""

    dtype: int
    shape: tuple[int, ...]
    buffer: bytes
    data_start: int
    data_len: int

    @property
    def nbytes(self) -> int:
        return self.data_len

    def array(self) -> np.ndarray:
        """The data as a writable numpy array of the tensor's shape (one copy)."""
        raw = bytearray(self.buffer[self.data_start:self.data_start + self.data_len])
        return np.frombuffer(raw, dtype=NUMPY_DTYPES[self.dtype]).reshape(self.shape)


def _word_int(buf: bytes, pos: int, what: str, limit: int) -> int:
    """Read one 32-byte big-endian word as an unsigned int that must be <= limit."""
    if pos + _WORD > len(buf):
        raise PrecompileError(f"tensor truncated: {what} missing")
    value = int.from_bytes(buf[pos:pos + _WORD], "big")
    if value > limit:
        if what.endswith(("offset", "length")):
            raise PrecompileError(f"tensor truncated: {what} {value} points past its {limit} bytes")
        raise PrecompileError(f"{what} {value} exceeds limit {limit}")
    return value


def _padded(n: int) -> int:
    return (n + _WORD - 1) // _WORD * _WORD


def _check_zero_padding(buf: bytes, start: int, end: int, what: str) -> None:
    if buf[start:end].count(0) != end - start:
        raise PrecompileError(f"non-zero padding after {what}")


def decode_tensor(buf: bytes, base: int = 0, end: int | None = None) -> TensorView:
    """Decode the tensor that occupies ``buf[base:end]`` exactly (no copy of the data)."""
    if end is None:
        end = len(buf)
    size = end - base
    if size > MAX_CALLDATA_BYTES:
        raise PrecompileError(f"tensor of {size} bytes exceeds limit {MAX_CALLDATA_BYTES}")
    if size < 3 * _WORD:
        raise PrecompileError(f"tensor truncated: {size} bytes, a tensor needs at least 160")
    dtype = _word_int(buf, base, "dtype", 255)
    if dtype not in DTYPE_NAMES:
        raise PrecompileError(f"unknown dtype code {dtype} (1=int8, 2=int32, 3=float32)")
    shape_off = _word_int(buf, base + _WORD, "shape offset", size)
    data_off = _word_int(buf, base + 2 * _WORD, "data offset", size)
    if shape_off != 3 * _WORD:
        raise PrecompileError(f"malformed tensor: shape offset {shape_off}, expected 96")
    rank = _word_int(buf, base + shape_off, "tensor rank", MAX_RANK)
    if rank == 0:
        raise PrecompileError("malformed tensor: empty shape")
    shape = []
    for i in range(rank):
        dim = _word_int(buf, base + shape_off + _WORD * (i + 1), f"shape[{i}]", MAX_DIM)
        if dim == 0:
            raise PrecompileError(f"malformed tensor: shape[{i}] is 0")
        shape.append(dim)
    expected_data_off = shape_off + _WORD * (rank + 1)
    if data_off != expected_data_off:
        raise PrecompileError(f"malformed tensor: data offset {data_off}, expected {expected_data_off}")
    elements = 1
    for dim in shape:
        elements *= dim
        if elements > MAX_ELEMENTS:
            raise PrecompileError(f"tensor shape {shape} exceeds {MAX_ELEMENTS} elements")
    data_len = _word_int(buf, base + data_off, "data length", size)
    want = elements * DTYPE_SIZES[dtype]
    if data_len != want:
        raise PrecompileError(
            f"tensor data is {data_len} bytes but shape {shape} of {DTYPE_NAMES[dtype]} needs {want}")
    data_start = base + data_off + _WORD
    if data_start + data_len > end:
        raise PrecompileError("tensor truncated: data shorter than its length field")
    padded_end = data_start + _padded(data_len)
    if padded_end != end:
        if padded_end > end:
            raise PrecompileError("tensor truncated: data padding missing")
        raise PrecompileError(f"malformed tensor: {end - padded_end} trailing bytes")
    _check_zero_padding(buf, data_start + data_len, padded_end, "tensor data")
    return TensorView(dtype, tuple(shape), buf, data_start, data_len)


def decode_call(data: bytes) -> tuple[bytes, TensorView]:
    """Decode ``abi.encode(bytes32 modelHash, bytes tensor)`` -> (modelHash, tensor view)."""
    if len(data) > MAX_CALLDATA_BYTES:
        raise PrecompileError(f"call data of {len(data)} bytes exceeds limit {MAX_CALLDATA_BYTES}")
    if len(data) < 3 * _WORD:
        raise PrecompileError(
            f"call data truncated: {len(data)} bytes; expected abi.encode(bytes32 modelHash, bytes tensor)")
    model_hash = bytes(data[:_WORD])
    offset = _word_int(data, _WORD, "tensor offset", len(data))
    if offset != 2 * _WORD:
        raise PrecompileError(f"malformed call data: tensor offset {offset}, expected 64")
    length = _word_int(data, 2 * _WORD, "tensor length", len(data))
    start = 3 * _WORD
    if start + length > len(data):
        raise PrecompileError("call data truncated: tensor shorter than its length field")
    padded_end = start + _padded(length)
    if padded_end != len(data):
        if padded_end > len(data):
            raise PrecompileError("call data truncated: tensor padding missing")
        raise PrecompileError(f"malformed call data: {len(data) - padded_end} trailing bytes")
    _check_zero_padding(data, start + length, padded_end, "tensor bytes")
    return model_hash, decode_tensor(data, start, start + length)


def encode_tensor(dtype: int, shape, data: bytes) -> bytes:
    """``abi.encode(uint8 dtype, uint32[] shape, bytes data)`` (same bytes as eth_abi.encode)."""
    shape = [int(d) for d in shape]
    parts = [
        dtype.to_bytes(_WORD, "big"),
        (3 * _WORD).to_bytes(_WORD, "big"),
        (_WORD * (len(shape) + 4)).to_bytes(_WORD, "big"),
        len(shape).to_bytes(_WORD, "big"),
    ]
    parts.extend(d.to_bytes(_WORD, "big") for d in shape)
    parts.append(len(data).to_bytes(_WORD, "big"))
    parts.append(bytes(data))
    parts.append(b"\0" * (_padded(len(data)) - len(data)))
    return b"".join(parts)


def encode_array(array: np.ndarray) -> bytes:
    """Encode a numpy int8/int32/float32 array as a tensor."""
    code = {np.dtype("int8"): DTYPE_INT8, np.dtype("int32"): DTYPE_INT32,
            np.dtype("float32"): DTYPE_FLOAT32}.get(array.dtype)
    if code is None:
        raise PrecompileError(f"cannot encode numpy dtype {array.dtype}")
    return encode_tensor(code, array.shape, np.ascontiguousarray(array, dtype=NUMPY_DTYPES[code]).tobytes())


def decode_array(encoded: bytes) -> np.ndarray:
    """Decode a tensor to a numpy array (convenience for callers and tests)."""
    return decode_tensor(bytes(encoded)).array()


def encode_call(model_hash: bytes, tensor: bytes) -> bytes:
    """``abi.encode(bytes32 modelHash, bytes tensor)``."""
    if len(model_hash) != 32:
        raise PrecompileError("model hash must be 32 bytes")
    return b"".join([
        bytes(model_hash),
        (2 * _WORD).to_bytes(_WORD, "big"),
        len(tensor).to_bytes(_WORD, "big"),
        bytes(tensor),
        b"\0" * (_padded(len(tensor)) - len(tensor)),
    ])
