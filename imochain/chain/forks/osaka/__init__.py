"""The Osaka fork as a small delta over py-evm's Prague: opcodes, precompiles, limits, blob fees."""

from __future__ import annotations

import rlp
from eth._utils.db import get_block_header_by_hash
from eth.abc import BlockAPI
from eth.vm.forks.cancun import get_total_blob_gas
from ..prague import PragueVM
from eth_utils import ValidationError

from .constants import MAX_RLP_BLOCK_SIZE, OSAKA_BLOBS, BlobSchedule
from .headers import calc_excess_blob_gas, header_factory
from .state import OsakaState


class OsakaVM(PragueVM):
    fork = "osaka"
    _state_class = OsakaState
    blob_schedule: BlobSchedule = OSAKA_BLOBS
    create_header_from_parent = staticmethod(header_factory(OSAKA_BLOBS))  # type: ignore

    def validate_block(self, block: BlockAPI) -> None:
        size = len(rlp.encode(block))
        if size > MAX_RLP_BLOCK_SIZE:
            raise ValidationError(f"block RLP is {size} bytes, over {MAX_RLP_BLOCK_SIZE} (EIP-7934)")
        super().validate_block(block)

    def validate_block_blobs(self, block: BlockAPI) -> None:
        parent = get_block_header_by_hash(block.header.parent_hash, self.chaindb)
        if block.header.excess_blob_gas != calc_excess_blob_gas(parent, self.blob_schedule):
            raise ValidationError("Block excess blob gas was not updated correctly.")
        used = sum(get_total_blob_gas(tx) for tx in block.transactions)
        if used > self.blob_schedule.max_gas:
            raise ValidationError("Block exceeded maximum blob gas limit.")
        if block.header.blob_gas_used != used:
            raise ValidationError(
                f"Block blob gas used ({block.header.blob_gas_used}) does not match "
                f"total blob gas used ({used}).")


def osaka_with_blobs(name: str, schedule: BlobSchedule) -> type[OsakaVM]:
    """A blob-parameter-only fork (EIP-7892): Osaka's rules with another blob schedule."""
    state = OsakaState.configure(__name__=f"{name.capitalize()}State", blob_schedule=schedule)
    return OsakaVM.configure(
        __name__=f"{name.capitalize()}VM", fork=name, _state_class=state, blob_schedule=schedule,
        create_header_from_parent=staticmethod(header_factory(schedule)))
