"""Precompile call data of text models."""

import pytest
from eth_abi import encode

from imochain.models.text import MAX_NEW_TOKENS, TextModelError, encode_text_call, parse_text_call

H = bytes(range(32))


def test_round_trip_greedy_and_seeded():
    assert parse_text_call(encode_text_call(H, "Hello ✓", 32)) == (H, "Hello ✓", 32, None)
    assert parse_text_call(encode_text_call(H, "Hi", 1, seed=2**64 - 1)) == (H, "Hi", 1, 2**64 - 1)


def test_matches_solidity_abi_encode():
    data = encode(["bytes32", "bytes", "uint32", "uint64"], [H, b"What?", 7, 0])
    assert parse_text_call(data) == (H, "What?", 7, None)


@pytest.mark.parametrize(
    "data,code",
    [
        (b"", "bad_call_data"),
        (b"\x00" * 100, "bad_call_data"),
        (encode_text_call(H, "hi", 5)[:-32], "bad_call_data"),  # cut off
        (H + (64).to_bytes(32, "big") + bytes(96), "bad_call_data"),  # wrong offset
        (encode(["bytes32", "uint256", "uint32", "uint64", "uint256"], [H, 128, 5, 0, 2**200]), "bad_call_data"),
        (encode(["bytes32", "bytes", "uint256", "uint64"], [H, b"hi", 2**40, 0]), "bad_call_data"),  # uint32 overflow
        (encode_text_call(H, b"\xff\xfe", 5), "invalid_utf8"),
        (encode_text_call(H, b"", 5), "empty_prompt"),
        (encode_text_call(H, "hi", 0), "bad_token_cap"),
        (encode_text_call(H, "hi", MAX_NEW_TOKENS + 1), "bad_token_cap"),
        (encode_text_call(H, "x" * 33000, 5), "bad_call_data"),
        (encode_text_call(H, "hi", 5) + bytes(70000), "bad_call_data"),
    ],
)
def test_bad_call_data(data, code):
    with pytest.raises(TextModelError) as e:
        parse_text_call(data)
    assert e.value.code == code, e.value.reason
