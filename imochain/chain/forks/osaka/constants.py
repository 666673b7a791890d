"""Osaka's consensus constants (EIPs 7594, 7823, 7825, 7883, 7918, 7934, 7939, 7951)."""

from dataclasses import dataclass

GAS_PER_BLOB = 2**17

TX_GAS_LIMIT_CAP = 2**24  # EIP-7825
MAX_BLOBS_PER_TX = 6  # EIP-7594
MAX_RLP_BLOCK_SIZE = 10_485_760 - 2_097_152  # EIP-7934: 10 MiB minus a 2 MiB safety margin
BLOB_BASE_COST = 2**13  # EIP-7918: blobs never cost less than this much execution gas

MODEXP_MAX_INPUT_FIELD = 1024  # EIP-7823: bytes, for each of base, exponent, modulus
MODEXP_MIN_GAS = 500  # EIP-7883

P256VERIFY_ADDRESS = 0x100  # EIP-7951
P256VERIFY_GAS = 6900

CLZ = 0x1E  # EIP-7939
CLZ_GAS = 5


@dataclass(frozen=True)
class BlobSchedule:
    """A fork's blob parameters, as geth genesis files name them (blobSchedule)."""

    target: int
    max: int
    base_fee_update_fraction: int

    @property
    def target_gas(self) -> int:
        return self.target * GAS_PER_BLOB

    @property
    def max_gas(self) -> int:
        return self.max * GAS_PER_BLOB


OSAKA_BLOBS = BlobSchedule(target=6, max=9, base_fee_update_fraction=5_007_716)
