"""Dev-chain cheats that shape the next blocks and who may send: gas limit, base fee, impersonation."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Cheats:
    impersonated: set = field(default_factory=set)  # anvil_impersonateAccount
    auto_impersonate: bool = False  # anvil_autoImpersonateAccount: any sender may send
    block_gas_limit: int | None = None  # anvil_setBlockGasLimit: the next blocks' limit
    next_base_fee: int | None = None  # anvil_setNextBlockBaseFeePerGas: one block only

    def may_send_as(self, sender: bytes) -> bool:
        return self.auto_impersonate or sender in self.impersonated

    def reset_block_knobs(self) -> None:
        """anvil_reset forgets the block knobs (impersonation stays, as before the knobs came)."""
        self.block_gas_limit = self.next_base_fee = None

    def take_base_fee(self) -> int | None:
        """The next block's base fee when one was set: it applies to that block only."""
        fee, self.next_base_fee = self.next_base_fee, None
        return fee
