"""Osaka's transaction rules: the gas cap (EIP-7825), blobs per transaction (EIP-7594), blob fees."""

from __future__ import annotations

from eth.abc import SignedTransactionAPI
from eth.vm.spoof import SpoofTransaction
from eth.vm.forks.cancun.constants import BLOB_TX_TYPE, MIN_BLOB_BASE_FEE
from eth.vm.forks.cancun.state import fake_exponential
from ..prague import PragueState
from eth_utils import ValidationError

from .computation import OsakaComputation
from .constants import MAX_BLOBS_PER_TX, OSAKA_BLOBS, TX_GAS_LIMIT_CAP, BlobSchedule


class OsakaState(PragueState):
    computation_class = OsakaComputation
    blob_schedule: BlobSchedule = OSAKA_BLOBS
    tx_gas_limit_cap: int | None = TX_GAS_LIMIT_CAP

    @property
    def blob_base_fee(self) -> int:
        return fake_exponential(MIN_BLOB_BASE_FEE, self.execution_context.excess_blob_gas,
                                self.blob_schedule.base_fee_update_fraction)

    def validate_transaction(self, transaction: SignedTransactionAPI) -> None:
        # calls (eth_call's unsigned SpoofTransaction) are not bound by the cap, as in geth
        if transaction.gas > self.tx_gas_limit_cap and not isinstance(transaction, SpoofTransaction):
            raise ValidationError(
                f"transaction gas limit {transaction.gas} exceeds the cap of {self.tx_gas_limit_cap} (EIP-7825)")
        if transaction.gas < transaction.intrinsic_gas:  # py-evm skips this for set-code transactions
            raise ValidationError(
                f"intrinsic gas too low: {transaction.gas} < {transaction.intrinsic_gas}")
        if transaction.type_id == BLOB_TX_TYPE:
            blobs = len(transaction.blob_versioned_hashes)
            limit = min(MAX_BLOBS_PER_TX, self.blob_schedule.max)
            if blobs > limit:
                raise ValidationError(f"transaction has {blobs} blobs, more than {limit} (EIP-7594)")
        super().validate_transaction(transaction)
