"""Dev accounts from a BIP-39 mnemonic (the same keys anvil and Hardhat hand out)."""

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
    out = []
    for i in range(count):
        acct = Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}")
        out.append(DevAccount(bytes.fromhex(acct.address[2:]), bytes(acct.key)))
    return out
