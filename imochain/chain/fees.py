"""Fee policy in one place: base fee of the next block, default tips and caps, effective price."""

from __future__ import annotations

from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas

DEFAULT_PRIORITY_FEE = 1_000_000_000  # 1 gwei, as anvil suggests


def next_base_fee(parent) -> int:
    """EIP-1559 base fee of the block after `parent`."""
    return calculate_expected_base_fee_per_gas(parent)


def suggested_gas_price(base_fee: int) -> int:
    """eth_gasPrice, and the price of a legacy transaction the node fills in."""
    return base_fee + DEFAULT_PRIORITY_FEE


def default_max_fee(base_fee: int, tip: int = DEFAULT_PRIORITY_FEE) -> int:
    """maxFeePerGas when a request gives none: room for the base fee to double."""
    return 2 * base_fee + tip


def tx_type(tx) -> int:
    t = getattr(tx, "type_id", None)
    return 0 if t is None else t


def fee_caps(tx) -> tuple[int, int]:
    """(max fee, priority fee) per gas; a legacy price is both."""
    if tx_type(tx) >= 2:
        return tx.max_fee_per_gas, tx.max_priority_fee_per_gas
    return tx.gas_price, tx.gas_price


def effective_gas_price(tx, base_fee: int | None) -> int:
    if tx_type(tx) >= 2:
        return min(tx.max_fee_per_gas, base_fee + tx.max_priority_fee_per_gas)
    return tx.gas_price
