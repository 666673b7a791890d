"""Osaka's precompile changes: P256VERIFY (EIP-7951) and modexp's bounds and price (7823, 7883)."""

from __future__ import annotations

import math
from typing import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from eth.abc import ComputationAPI
from eth.exceptions import VMError
from eth.precompiles.modexp import extract_lengths
from eth_utils import big_endian_to_int

from .constants import MODEXP_MAX_INPUT_FIELD, MODEXP_MIN_GAS, P256VERIFY_GAS

# secp256r1's field prime and group order (SEC 2, FIPS 186-4 P-256)
P256_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_VALID = (1).to_bytes(32, "big")
Precompile = Callable[[ComputationAPI], ComputationAPI]


def p256_verify(data: bytes) -> bool:
    """EIP-7951's rules on a 160-byte input (hash, r, s, qx, qy); the curve maths is cryptography's."""
    if len(data) != 160:
        return False
    digest = data[:32]
    r, s, qx, qy = (int.from_bytes(data[i:i + 32], "big") for i in range(32, 160, 32))
    if not (0 < r < P256_N and 0 < s < P256_N and qx < P256_P and qy < P256_P):
        return False
    try:  # rejects the point at infinity and points off the curve
        key = ec.EllipticCurvePublicNumbers(qx, qy, ec.SECP256R1()).public_key()
    except ValueError:
        return False
    try:
        key.verify(encode_dss_signature(r, s), digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    except InvalidSignature:
        return False
    return True


def p256verify(computation: ComputationAPI) -> ComputationAPI:
    computation.consume_gas(P256VERIFY_GAS, reason="P256VERIFY precompile")
    computation.output = _VALID if p256_verify(bytes(computation.msg.data_as_bytes)) else b""
    return computation


def modexp_gas_eip7883(data: bytes) -> int:
    base_length, exponent_length, modulus_length = extract_lengths(data)
    max_length = max(base_length, modulus_length)
    words = math.ceil(max_length / 8)
    complexity = 16 if max_length <= 32 else 2 * words * words
    start = 96 + base_length
    head = big_endian_to_int(data[start:start + min(exponent_length, 32)].ljust(min(exponent_length, 32), b"\0"))
    if exponent_length <= 32:
        iterations = max(head.bit_length() - 1, 0)
    else:
        iterations = 16 * (exponent_length - 32) + max(head.bit_length() - 1, 0)
    return max(MODEXP_MIN_GAS, complexity * max(iterations, 1))


def exact_modexp(gas: Callable[[bytes], int], max_field: int | None = None) -> Precompile:
    """MODEXP priced by `gas`, optionally bounded (EIP-7823: longer fields fail, all gas consumed).

    The result is computed here rather than by py-evm's modexp, which answers 0 for an empty
    base even when the exponent is 0 (0**0 mod m is 1 for m > 1).
    """

    def run(computation: ComputationAPI) -> ComputationAPI:
        data = bytes(computation.msg.data_as_bytes)
        base_length, exponent_length, modulus_length = extract_lengths(data)
        if max_field is not None and max(base_length, exponent_length, modulus_length) > max_field:
            raise VMError(f"MODEXP: input field longer than {max_field} bytes")
        computation.consume_gas(gas(data), reason="MODEXP precompile")
        if modulus_length == 0:
            computation.output = b""
            return computation
        size = base_length + exponent_length + modulus_length
        fields = data[96:96 + size].ljust(size, b"\0")
        base = big_endian_to_int(fields[:base_length])
        exponent = big_endian_to_int(fields[base_length:base_length + exponent_length])
        modulus = big_endian_to_int(fields[base_length + exponent_length:])
        result = pow(base, exponent, modulus) if modulus else 0
        computation.output = result.to_bytes(modulus_length, "big")
        return computation

    return run


modexp_osaka = exact_modexp(modexp_gas_eip7883, MODEXP_MAX_INPUT_FIELD)
