"""Osaka's deltas on their own: CLZ, P256VERIFY against `cryptography`, modexp, blob fees, names."""

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from imochain.chain.forks import FORKS, vm_class
from imochain.chain.forks.bpo import BPO1_BLOBS, BPO2_BLOBS
from imochain.chain.forks.osaka.constants import OSAKA_BLOBS
from imochain.chain.forks.osaka.headers import calc_excess_blob_gas
from imochain.chain.forks.osaka.precompiles import P256_N, modexp_gas_eip7883, p256_verify


def _signed(message: bytes, key=None):
    key = key or ec.generate_private_key(ec.SECP256R1())
    digest_obj = hashes.Hash(hashes.SHA256())
    digest_obj.update(message)
    digest = digest_obj.finalize()
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    pub = key.public_key().public_numbers()
    return digest, r, s, pub.x, pub.y


def _input(digest, r, s, x, y) -> bytes:
    return digest + b"".join(v.to_bytes(32, "big") for v in (r, s, x, y))


def test_p256_accepts_valid_and_rejects_tampered_signatures():
    digest, r, s, x, y = _signed(b"imochain")
    assert p256_verify(_input(digest, r, s, x, y))
    assert p256_verify(_input(digest, r, P256_N - s, x, y))  # no low-s rule in EIP-7951
    assert not p256_verify(_input(bytes(32), r, s, x, y))
    assert not p256_verify(_input(digest, r, s, x, y + 1))  # off the curve
    assert not p256_verify(_input(digest, 0, s, x, y))
    assert not p256_verify(_input(digest, r, s, 0, 0))  # the point at infinity
    assert not p256_verify(_input(digest, r, s, x, y)[:159])
    assert not p256_verify(_input(digest, r, s, x, y) + b"\0")


def test_modexp_gas_follows_eip7883():
    def data(b, e, m, exponent=b""):
        return b.to_bytes(32, "big") + e.to_bytes(32, "big") + m.to_bytes(32, "big") + bytes(b) + exponent
    assert modexp_gas_eip7883(data(1, 1, 1, b"\x03")) == 500  # the floor
    # 64-byte operands: 2 * 8**2 = 128 per iteration; a 32-byte exponent of all ones: 255 iterations
    assert modexp_gas_eip7883(data(64, 32, 64, b"\xff" * 32)) == 128 * 255
    # exponents past 32 bytes count 16 iterations a byte
    # (the first 32 exponent bytes are 2**248: 248 more iterations)
    assert modexp_gas_eip7883(data(32, 40, 32, b"\x01" + bytes(39))) == 16 * (16 * 8 + 248)


def test_excess_blob_gas_has_an_execution_floor():
    class Parent:
        excess_blob_gas, blob_gas_used, base_fee_per_gas = 0, OSAKA_BLOBS.max_gas, 7
    # cheap blobs, cheap execution: plain EIP-4844 accounting
    assert calc_excess_blob_gas(Parent, OSAKA_BLOBS) == OSAKA_BLOBS.max_gas - OSAKA_BLOBS.target_gas
    Parent.base_fee_per_gas = 10**12  # execution far dearer than blobs: EIP-7918's branch
    expected = OSAKA_BLOBS.max_gas * (OSAKA_BLOBS.max - OSAKA_BLOBS.target) // OSAKA_BLOBS.max
    assert calc_excess_blob_gas(Parent, OSAKA_BLOBS) == expected


def test_fork_names_and_blob_schedules():
    assert list(FORKS)[-3:] == ["osaka", "bpo1", "bpo2"]
    assert vm_class("BPO1")._state_class.blob_schedule == BPO1_BLOBS
    assert vm_class("bpo2").blob_schedule == BPO2_BLOBS
    assert (BPO1_BLOBS.target, BPO1_BLOBS.max, BPO2_BLOBS.target, BPO2_BLOBS.max) == (10, 15, 14, 21)
    with pytest.raises(ValueError, match="unknown hardfork 'pectra'"):
        vm_class("pectra")
