"""A fork's configuration as EIP-7910 (eth_config) describes it, and EIP-2124 fork ids."""

from __future__ import annotations

import zlib

from eth.vm.forks.cancun.constants import BEACON_ROOTS_ADDRESS
from eth.vm.forks.prague.constants import (
    CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS, DEPOSIT_CONTRACT_ADDRESS, HISTORY_STORAGE_ADDRESS,
    WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
)

from . import FORKS

# EIP-7910's names for Ethereum's precompiles, by address
PRECOMPILE_NAMES = {
    0x01: "ECREC", 0x02: "SHA256", 0x03: "RIPEMD160", 0x04: "ID", 0x05: "MODEXP", 0x06: "BN254_ADD",
    0x07: "BN254_MUL", 0x08: "BN254_PAIRING", 0x09: "BLAKE2F", 0x0A: "KZG_POINT_EVALUATION",
    0x0B: "BLS12_G1ADD", 0x0C: "BLS12_G1MSM", 0x0D: "BLS12_G2ADD", 0x0E: "BLS12_G2MSM",
    0x0F: "BLS12_PAIRING_CHECK", 0x10: "BLS12_MAP_FP_TO_G1", 0x11: "BLS12_MAP_FP2_TO_G2",
    0x100: "P256VERIFY",
}


def fork_id(genesis_hash: bytes, activations: list[int] = ()) -> bytes:
    """EIP-2124: CRC32 over the genesis hash, then each past fork's block or time (not 0)."""
    crc = zlib.crc32(genesis_hash)
    for point in sorted(set(a for a in activations if a > 0)):
        crc = zlib.crc32(point.to_bytes(8, "big"), crc)
    return crc.to_bytes(4, "big")


def system_contracts(fork: str, deposit_contract: bytes = DEPOSIT_CONTRACT_ADDRESS) -> dict[str, bytes]:
    order = list(FORKS)
    out = {}
    if order.index(fork) >= order.index("cancun"):
        out["BEACON_ROOTS_ADDRESS"] = BEACON_ROOTS_ADDRESS
    if order.index(fork) >= order.index("prague"):
        out.update(CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS=CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
                   DEPOSIT_CONTRACT_ADDRESS=deposit_contract,
                   HISTORY_STORAGE_ADDRESS=HISTORY_STORAGE_ADDRESS,
                   WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS=WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS)
    return out


def describe(vm, fork: str, chain_id: int, genesis_hash: bytes, activation_time: int,
             extra_names: dict[bytes, str], past_forks: list[int] = (),
             deposit_contract: bytes = DEPOSIT_CONTRACT_ADDRESS) -> dict:
    """One entry of eth_config (`current`): blob schedule, chain id, fork id (over the blocks
    and times of `past_forks`), precompiles by name (the chain's own extras named by
    `extra_names`), system contracts."""
    precompiles = {}
    for address in vm._state_class.computation_class.get_precompiles():
        number = int.from_bytes(address, "big")
        name = PRECOMPILE_NAMES.get(number) or extra_names.get(address) or f"PRECOMPILE_{number:#x}"
        precompiles[name] = address
    schedule = getattr(vm._state_class, "blob_schedule", None)
    blobs = None
    if schedule is not None:
        blobs = {"target": schedule.target, "max": schedule.max,
                 "baseFeeUpdateFraction": schedule.base_fee_update_fraction}
    elif list(FORKS).index(fork) >= list(FORKS).index("cancun"):
        blobs = ({"target": 3, "max": 6, "baseFeeUpdateFraction": 3338477} if fork == "cancun"
                 else {"target": 6, "max": 9, "baseFeeUpdateFraction": 5007716})
    return {"activationTime": activation_time, "blobSchedule": blobs, "chainId": chain_id,
            "forkId": fork_id(genesis_hash, past_forks),
            "precompiles": dict(sorted(precompiles.items())),
            "systemContracts": dict(sorted(system_contracts(fork, deposit_contract).items()))}
