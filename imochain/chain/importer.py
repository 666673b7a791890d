"""Importing RLP-encoded blocks as a full node does: every header, transaction, state root,
receipts root, bloom and gas figure validated by py-evm; the first bad block stops the import.

Pre-merge blocks' ethash seals are not checked (NoProofConsensus): everything else is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterator

import rlp
from eth.chains.base import Chain
from eth.consensus.noproof import NoProofConsensus
from eth.db.atomic import AtomicDB
from rlp.codec import consume_length_prefix

from .errors import ChainError
from .geth_genesis import GethGenesis


class ImportFailed(ChainError):
    def __init__(self, number: int, reason: str):
        super().__init__(f"block {number}: {reason}" if number >= 0 else reason)
        self.number, self.reason = number, reason


@dataclass
class ImportResult:
    imported: int
    head_number: int
    head_hash: bytes
    seconds: float
    gas: int

    @property
    def blocks_per_second(self) -> float:
        return self.imported / self.seconds if self.seconds else float("inf")


def split_blocks(data: bytes) -> Iterator[bytes]:
    """Each block's RLP from a file of concatenated blocks (geth's `export` format)."""
    pos = 0
    while pos < len(data):
        try:
            _, kind, length, start = consume_length_prefix(data, pos)
        except rlp.DecodingError as exc:
            raise ImportFailed(-1, f"malformed RLP at byte {pos}: {exc}") from None
        if kind is not list or start + length > len(data):
            raise ImportFailed(-1, f"malformed RLP at byte {pos}: not a complete block")
        yield data[pos:start + length]
        pos = start + length


def _number_and_time(block: bytes) -> tuple[int, int]:
    header = rlp.decode(block, strict=False)[0]
    return int.from_bytes(header[8], "big"), int.from_bytes(header[11], "big")


def fork_schedule(genesis: GethGenesis, blocks: list[bytes]) -> list[tuple[int, type]]:
    """(first block number, VM) for each fork the chain passes: time-activated forks are placed
    at the first block (genesis included) whose timestamp reaches their time; forks whose time
    no block reaches start at the next block. Ethash seals are not checked (NoProofConsensus)."""
    points = [(0, genesis.header["timestamp"])] + [_number_and_time(b) for b in blocks]
    configuration: list[tuple[int, type]] = []
    current = None
    for number, timestamp in points:
        fork = genesis.fork_at(number, timestamp)
        if fork != current:
            vm = genesis.vm_for(fork).configure(consensus_class=NoProofConsensus)
            if hasattr(vm, "support_dao_fork"):  # Homestead's descendants ask about the DAO fork
                vm = vm.configure(support_dao_fork=genesis.dao_fork_block is not None,
                                  _dao_fork_block_number=genesis.dao_fork_block or 0)
            configuration.append((number, vm))
            current = fork
    last = genesis.schedule[-1].fork
    if current != last:  # forks scheduled after the last block: from the next block on
        vm = genesis.vm_for(last).configure(consensus_class=NoProofConsensus)
        configuration.append((points[-1][0] + 1, vm))
    return configuration


def chain_class(genesis: GethGenesis, blocks: list[bytes]) -> type[Chain]:
    """A py-evm Chain over the genesis file's fork schedule."""
    return Chain.configure(__name__="ImportedChain", vm_configuration=tuple(fork_schedule(genesis, blocks)),
                           chain_id=genesis.chain_id)


def genesis_chain(genesis: GethGenesis, blocks: list[bytes], db=None) -> Chain:
    cls = chain_class(genesis, blocks)
    return cls.from_genesis(db if db is not None else AtomicDB(), genesis.header, genesis.alloc)


def _reason(exc: Exception) -> str:
    """One line: py-evm's block mismatch lists each field with both values as bytes reprs."""
    text = str(exc) or exc.__class__.__name__
    fields = [line.strip()[2:].rstrip(":") for line in text.splitlines() if line.startswith(" - ")]
    if fields:
        return f"{', '.join(fields)} differ(s) from the locally executed block"
    return text.splitlines()[0]


def import_one(chain: Chain, raw: bytes, expected_number: int):
    """Validate and apply one block; ImportFailed says why it is refused."""
    try:
        number, _ = _number_and_time(raw)
    except (rlp.DecodingError, IndexError, TypeError):
        raise ImportFailed(expected_number, "not a block header") from None
    if number != expected_number:
        raise ImportFailed(number, f"expected block {expected_number}")
    block_class = chain.get_vm_class_for_block_number(number).get_block_class()
    try:
        block = rlp.decode(raw, sedes=block_class)
        chain.import_block(block, perform_validation=True)
    except Exception as exc:  # py-evm raises many types; the reason is in the message
        raise ImportFailed(number, _reason(exc)) from None
    return block


def import_blocks(chain: Chain, blocks: list[bytes],
                  progress: Callable[[int, int], None] | None = None) -> ImportResult:
    """Validate and apply each block in order; ImportFailed names the first bad one."""
    started, gas = time.perf_counter(), 0
    head = chain.get_canonical_head()
    for i, raw in enumerate(blocks):
        block = import_one(chain, raw, head.block_number + 1)
        head, gas = block.header, gas + block.header.gas_used
        if progress:
            progress(i + 1, len(blocks))
    return ImportResult(len(blocks), head.block_number, head.hash, time.perf_counter() - started, gas)
