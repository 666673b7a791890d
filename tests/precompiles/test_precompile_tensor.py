"""Tensor codec: byte-identical to eth_abi both ways, strict and bounded on bad input."""

import numpy as np
import pytest
from eth_abi import decode, encode

from imochain.precompiles import PrecompileError
from imochain.models.tensor import (
    DTYPE_FLOAT32, DTYPE_INT8, DTYPE_INT32, MAX_ELEMENTS, decode_call, decode_tensor, encode_array,
    encode_call, encode_tensor)

TENSOR_TYPES = ["uint8", "uint32[]", "bytes"]


@pytest.mark.parametrize("dtype,shape,np_dtype", [
    (DTYPE_INT8, [1, 64], "<i1"), (DTYPE_INT32, [3, 2, 5], "<i4"), (DTYPE_FLOAT32, [7], "<f4"),
    (DTYPE_INT8, [33], "<i1")])
def test_roundtrip_matches_eth_abi(dtype, shape, np_dtype):
    rng = np.random.default_rng(1)
    data = rng.integers(-100, 100, size=shape).astype(np_dtype).tobytes()
    ours = encode_tensor(dtype, shape, data)
    assert ours == encode(TENSOR_TYPES, [dtype, shape, data])
    view = decode_tensor(ours)
    assert (view.dtype, list(view.shape), view.buffer[view.data_start:view.data_start + view.data_len]) == \
        (dtype, shape, data)
    call = encode(["bytes32", "bytes"], [b"\x07" * 32, ours])
    assert encode_call(b"\x07" * 32, ours) == call
    model_hash, view = decode_call(call)
    assert model_hash == b"\x07" * 32 and view.array().tobytes() == data
    assert decode(["bytes32", "bytes"], call)[1] == ours


def _reason(fn, *args):
    with pytest.raises(PrecompileError) as info:
        fn(*args)
    assert info.value.reason and isinstance(info.value.reason, str)
    return info.value.reason


def test_malformed_tensors_fail_with_reasons():
    good = encode(TENSOR_TYPES, [1, [2, 3], bytes(6)])
    assert "truncated" in _reason(decode_tensor, good[:-32])
    assert "truncated" in _reason(decode_tensor, good[:50])
    assert "trailing" in _reason(decode_tensor, good + bytes(32))
    assert "dtype code 9" in _reason(decode_tensor, encode(TENSOR_TYPES, [9, [2, 3], bytes(6)]))
    assert "needs 6" in _reason(decode_tensor, encode(TENSOR_TYPES, [1, [2, 3], bytes(5)]))
    assert "needs 24" in _reason(decode_tensor, encode(TENSOR_TYPES, [2, [2, 3], bytes(6)]))
    assert "shape[1] is 0" in _reason(decode_tensor, encode(TENSOR_TYPES, [1, [2, 0], b""]))
    assert "empty shape" in _reason(decode_tensor, encode(TENSOR_TYPES, [1, [], b"\x01"]))
    assert "rank" in _reason(decode_tensor, encode(TENSOR_TYPES, [1, [1] * 9, b"\x01"]))
    assert "exceeds" in _reason(decode_tensor, encode(TENSOR_TYPES, [1, [4096, 4096, 2], b""]))
    assert "exceeds" in _reason(decode_tensor, encode(TENSOR_TYPES, [1, [2 ** 32 - 1], b""]))
    # non-canonical offset, non-zero padding, absurd length field
    bad_offset = bytearray(good)
    bad_offset[63] = 0x80
    assert "offset" in _reason(decode_tensor, bytes(bad_offset))
    bad_pad = bytearray(good)
    bad_pad[-1] = 1
    assert "padding" in _reason(decode_tensor, bytes(bad_pad))
    huge_len = bytearray(good)
    huge_len[-64:-32] = (2 ** 255).to_bytes(32, "big")
    assert "truncated" in _reason(decode_tensor, bytes(huge_len))
    assert _reason(decode_tensor, b"") and _reason(decode_tensor, b"\xff" * 1000)


def test_malformed_call_data():
    tensor = encode_array(np.zeros((1, 4), np.int8))
    call = encode_call(b"\x01" * 32, tensor)
    assert "truncated" in _reason(decode_call, call[:64])
    assert "truncated" in _reason(decode_call, call[:-32])
    assert "trailing" in _reason(decode_call, call + bytes(32))
    assert "truncated" in _reason(decode_call, b"\x01" * 31)
    wrong_offset = bytearray(call)
    wrong_offset[63] = 0x20
    assert "offset" in _reason(decode_call, bytes(wrong_offset))
    assert "exceeds" in _reason(decode_call, bytes(65 * 1024 * 1024))


def test_element_limit_is_enforced_before_copy():
    # a header claiming the limit + 1 elements, with no data at all: rejected without allocation
    fake = encode(TENSOR_TYPES, [1, [MAX_ELEMENTS + 1], b""])
    assert "exceeds" in _reason(decode_tensor, fake)
