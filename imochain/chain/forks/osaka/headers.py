"""Osaka's header rules: excess blob gas with the execution-cost floor of EIP-7918, and the
new block's header built from its parent in one step."""

from __future__ import annotations

from typing import Any

from eth._utils.headers import compute_gas_limit
from eth.abc import BlockHeaderAPI
from eth.constants import (
    BLANK_ROOT_HASH, EMPTY_SHA256, GENESIS_GAS_LIMIT, POST_MERGE_DIFFICULTY, POST_MERGE_MIX_HASH,
    POST_MERGE_NONCE, ZERO_ADDRESS,
)
from eth.vm.forks.cancun.constants import MIN_BLOB_BASE_FEE
from eth.vm.forks.cancun.state import fake_exponential
from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas
from eth.vm.forks.prague.blocks import PragueBlockHeader
from eth.vm.forks.prague.headers import create_prague_header_from_parent

from .constants import BLOB_BASE_COST, GAS_PER_BLOB, BlobSchedule

# What py-evm's chain of fork rules (Prague → Cancun → … → London) defaults, for the fields
# a caller may set; parameters outside these (or None) take that chain itself.
_DEFAULTS = {
    "coinbase": ZERO_ADDRESS, "transaction_root": BLANK_ROOT_HASH, "receipt_root": BLANK_ROOT_HASH,
    "extra_data": b"", "mix_hash": POST_MERGE_MIX_HASH, "withdrawals_root": BLANK_ROOT_HASH,
    "blob_gas_used": 0, "parent_beacon_block_root": BLANK_ROOT_HASH, "requests_hash": EMPTY_SHA256,
}
_MERGE_CONSTANTS = {"difficulty": POST_MERGE_DIFFICULTY, "nonce": POST_MERGE_NONCE}  # Paris refuses others
_DIRECT = frozenset(_DEFAULTS) | frozenset(_MERGE_CONSTANTS) | {"timestamp", "gas_limit", "state_root"}


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


def through_every_fork(parent: BlockHeaderAPI | None, schedule: BlobSchedule, **params: Any) -> BlockHeaderAPI:
    """py-evm's way: Prague's rule over Cancun's over … London's, each building a header, then
    Osaka's excess blob gas. The reference `direct_header` matches, and the path for genesis,
    pre-London parents and unusual parameters."""
    header = create_prague_header_from_parent(parent, **params)
    if parent is not None and "excess_blob_gas" not in params:
        header = header.copy(excess_blob_gas=calc_excess_blob_gas(parent, schedule))
    return header


def direct_header(parent: BlockHeaderAPI, schedule: BlobSchedule, params: dict) -> BlockHeaderAPI | None:
    """The same header as `through_every_fork`, built once (py-evm built and copied ten); None
    where that path must decide (no timestamp, other parameters, a parent before London)."""
    if "timestamp" not in params or not params.keys() <= _DIRECT or None in params.values():
        return None
    for name, value in _MERGE_CONSTANTS.items():
        if params.get(name, value) != value:
            return None  # Paris raises for these: let it
    try:
        parent.base_fee_per_gas
    except AttributeError:
        return None
    fields = {name: params.get(name, default) for name, default in _DEFAULTS.items()}
    gas_limit = params.get("gas_limit")
    if gas_limit is None:
        gas_limit = compute_gas_limit(parent, genesis_gas_limit=GENESIS_GAS_LIMIT)
    return PragueBlockHeader(
        parent_hash=parent.hash, state_root=params.get("state_root", parent.state_root),
        difficulty=POST_MERGE_DIFFICULTY, nonce=POST_MERGE_NONCE, block_number=parent.block_number + 1,
        gas_limit=gas_limit, timestamp=params["timestamp"],
        base_fee_per_gas=calculate_expected_base_fee_per_gas(parent),
        excess_blob_gas=calc_excess_blob_gas(parent, schedule), **fields)


def header_factory(schedule: BlobSchedule):
    """`create_header_from_parent` for a fork with this blob schedule."""

    def create_header_from_parent(parent: BlockHeaderAPI | None, **params: Any) -> BlockHeaderAPI:
        header = None if parent is None else direct_header(parent, schedule, params)
        return header if header is not None else through_every_fork(parent, schedule, **params)

    return create_header_from_parent
