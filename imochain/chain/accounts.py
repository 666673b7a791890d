"""Dev accounts from a BIP-39 mnemonic (the keys anvil and Hardhat hand out), CREATE addresses."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account

DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"

Account.enable_unaudited_hdwallet_features()


@dataclass(frozen=True)
class DevAccount:
    address: bytes  # 20 bytes
    key: bytes  # 32-byte private key

    @property
    def checksum(self) -> str:
        from eth_utils import to_checksum_address
        return to_checksum_address(self.address)


def derive_accounts(mnemonic: str, count: int) -> list[DevAccount]:
    # The BIP-39 seed (2048 PBKDF2 rounds) is the slow part: compute it once, not per account.
    from eth_account.hdaccount import seed_from_mnemonic, key_from_seed
    from eth_keys import keys
    try:
        seed = seed_from_mnemonic(mnemonic, "")
    except Exception as exc:
        raise ValueError(f"invalid mnemonic: {exc}") from None
    out = []
    for i in range(count):
        key = key_from_seed(seed, f"m/44'/60'/0'/0/{i}")
        out.append(DevAccount(keys.PrivateKey(key).public_key.to_canonical_address(), key))
    return out


def create_address(sender: bytes, nonce: int) -> bytes:
    """The address a CREATE from `sender` at `nonce` deploys to (keccak(rlp([sender, nonce])))."""
    import rlp
    from eth_utils import keccak
    return keccak(rlp.encode([sender, nonce]))[12:]
