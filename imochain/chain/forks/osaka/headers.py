"""Osaka's header rules: excess blob gas with the execution-cost floor of EIP-7918."""

from __future__ import annotations

from typing import Any

from eth.abc import BlockHeaderAPI
from eth.vm.forks.cancun.constants import MIN_BLOB_BASE_FEE
from eth.vm.forks.cancun.state import fake_exponential
from eth.vm.forks.prague.headers import create_prague_header_from_parent

from .constants import BLOB_BASE_COST, GAS_PER_BLOB, BlobSchedule


def calc_excess_blob_gas(parent: BlockHeaderAPI, schedule: BlobSchedule) -> int:
    excess = getattr(parent, "excess_blob_gas", 0)
    used = getattr(parent, "blob_gas_used", 0)
    if excess + used < schedule.target_gas:
        return 0
    blob_base_fee = fake_exponential(MIN_BLOB_BASE_FEE, excess, schedule.base_fee_update_fraction)
    if BLOB_BASE_COST * parent.base_fee_per_gas > GAS_PER_BLOB * blob_base_fee:
        # execution gas dominates: blobs pay their floor, so excess only grows (EIP-7918)
        return excess + used * (schedule.max - schedule.target) // schedule.max
    return excess + used - schedule.target_gas


def header_factory(schedule: BlobSchedule):
    """`create_header_from_parent` for a fork with this blob schedule."""

    def create_header_from_parent(parent: BlockHeaderAPI | None, **params: Any) -> BlockHeaderAPI:
        header = create_prague_header_from_parent(parent, **params)
        if parent is not None and "excess_blob_gas" not in params:
            header = header.copy(excess_blob_gas=calc_excess_blob_gas(parent, schedule))
        return header

    return create_header_from_parent
