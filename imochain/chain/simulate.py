"""eth_simulateV1: calls run as blocks on top of a mined one, with block and state overrides;
nothing is kept. Blocks are built as a node builds them (system contracts, receipts, roots),
on an overlay of the chain's database that is thrown away afterwards."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import rlp
from eth import constants
from eth.consensus.context import ConsensusContext
from eth.db.atomic import AtomicDB
from eth.db.batch import BatchDB
from eth.db.chain import ChainDB
from eth.exceptions import OutOfGas, VMError
from eth.vm.chain_context import ChainContext
from eth.vm.spoof import SpoofTransaction
from eth_utils import ValidationError, keccak

from .errors import ChainError, decode_revert_reason
from .signing import py_evm_access_list
from .state import apply_state_overrides
from .validate import calldata_floor_gas

MAX_BLOCKS = 256  # geth's cap on simulated blocks (gaps included)
GAS_BUDGET = 50_000_000  # geth's RPC gas cap, shared by every call of one request
SLOT_TIME = 12
TRANSFER_LOG_ADDRESS = b"\xee" * 20  # ERC-7528: the pseudo-address of ether
TRANSFER_TOPIC = keccak(b"Transfer(address,address,uint256)")


class SimulationError(ChainError):
    """The whole request fails; `code` is the execution-apis error code (-38xxx, -32xxx)."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


@dataclass
class CallOutcome:
    tx: Any
    sender: bytes
    return_data: bytes
    logs: list  # (address, topics, data)
    gas_used: int
    max_used_gas: int
    status: int
    error: tuple | None = None  # (code, message, data)


@dataclass
class SimulatedBlock:
    header: Any
    calls: list[CallOutcome] = field(default_factory=list)
    size: int = 0


def simulate(storage, chain_id: int, base_header, block_calls: list[dict], validation: bool,
             trace_transfers: bool) -> list[SimulatedBlock]:
    """Each entry of `block_calls`: {"block": block overrides, "state": state overrides,
    "moves": {precompile address: new address}, "calls": [call parameters]}."""
    db = AtomicDB(BatchDB(storage.db))  # writes land in a batch that is never committed
    chaindb = ChainDB(db)
    parent = base_header.copy(state_root=storage.state_root_of(base_header))
    plan = _number_blocks(parent, block_calls)
    if len(plan) > MAX_BLOCKS:
        raise SimulationError(-38026, f"too many blocks: {len(plan)} > {MAX_BLOCKS}")
    out = []
    moved: dict[bytes, bytes] = {}
    budget = [GAS_BUDGET]  # what calls without a gas limit may still use, all blocks together
    for number, spec in plan:
        block = _simulate_block(storage, chaindb, chain_id, parent, number, spec or {}, validation,
                                trace_transfers, moved, budget)
        chaindb.db[block.header.hash] = rlp.encode(block.header)  # BLOCKHASH sees it
        out.append(block)
        parent = block.header
    return out


def _number_blocks(parent, block_calls: list[dict]) -> list[tuple[int, dict | None]]:
    """Block numbers for each entry, with empty blocks filling the gaps an override leaves."""
    plan, number = [], parent.block_number
    for spec in block_calls:
        wanted = (spec.get("block") or {}).get("number")
        if wanted is None:
            wanted = number + 1
        if wanted <= number:
            raise SimulationError(-38020, f"block numbers must be in order: {wanted} <= {number}")
        plan.extend((n, None) for n in range(number + 1, wanted))
        plan.append((wanted, spec))
        number = wanted
    return plan


def _simulate_block(storage, chaindb, chain_id, parent, number, spec, validation, trace_transfers, moved,
                    budget):
    chain = storage.chain
    vm_class = chain.get_vm_class_for_block_number(number)
    over = spec.get("block") or {}
    timestamp = over.get("time", parent.timestamp + SLOT_TIME)
    if timestamp <= parent.timestamp:
        raise SimulationError(-38021, f"block timestamps must be in order: {timestamp} <= {parent.timestamp}")
    header = vm_class.create_header_from_parent(
        parent, timestamp=timestamp, gas_limit=over.get("gasLimit", parent.gas_limit),
        coinbase=over.get("feeRecipient", constants.ZERO_ADDRESS),
        mix_hash=over.get("prevRandao", constants.ZERO_HASH32), nonce=b"\0" * 8)
    if hasattr(header, "parent_beacon_block_root"):
        header = header.copy(parent_beacon_block_root=constants.ZERO_HASH32)
    if "baseFeePerGas" in over:
        header = header.copy(base_fee_per_gas=over["baseFeePerGas"])
    elif not validation and hasattr(header, "base_fee_per_gas"):
        header = header.copy(base_fee_per_gas=0)  # without validation, gas is free (geth)
    header = header.copy(state_root=parent.state_root, gas_used=0)
    vm = vm_class(header=header, chaindb=chaindb, chain_context=ChainContext(chain_id),
                  consensus_context=ConsensusContext(chaindb.db))
    state = vm.state
    _move_precompiles(vm, spec.get("moves") or {}, moved)
    if spec.get("state"):
        apply_state_overrides(state, spec["state"])
    if trace_transfers:
        state.computation_class = _tracing_transfers(state.computation_class)
    vm.block_preprocessing(vm.get_block())
    result = SimulatedBlock(header)
    txs, receipts = [], []
    for index, params in enumerate(spec.get("calls") or []):
        tx, runs = _transaction(vm, state, header, chain_id, params, validation, budget[0])
        gas_left = header.gas_limit - header.gas_used
        if tx.gas > gas_left:
            raise SimulationError(-38015, f"block gas limit reached: {tx.gas} > {gas_left}")
        state.lock_changes()  # as VM.apply_transaction: SSTORE's "original" values start here
        try:
            if validation:
                vm.validate_transaction_against_header(header, runs)
            computation = state.apply_transaction(runs)
        except ValidationError as exc:
            raise _validation_error(str(exc)) from None
        except VMError as exc:
            raise SimulationError(-32015, str(exc)) from None
        receipt = vm.make_receipt(header, runs, computation, state)
        header = vm.add_receipt_to_header(header, receipt)
        if hasattr(vm, "increment_blob_gas_used"):
            header = vm.increment_blob_gas_used(header, runs)
        txs.append(tx)
        receipts.append(receipt)
        used = receipt.gas_used - sum(c.gas_used for c in result.calls)
        budget[0] = max(budget[0] - used, 0)
        logs = _call_logs(computation, trace_transfers)
        error = None
        if computation.is_error:
            error = _call_error(computation)
        result.calls.append(CallOutcome(tx, params["from"], b"" if error else bytes(computation.output),
                                        logs, used, _max_used_gas(state, tx, computation),
                                        0 if computation.is_error else 1, error))
    block = vm.set_block_transactions_and_withdrawals(vm.get_block(), header, txs, receipts, withdrawals=[])
    block = vm.block_postprocessing(block)
    state.persist()
    result.header = block.header.copy(state_root=state.state_root)
    result.size = len(rlp.encode(block.copy(header=result.header)))
    return result


def _transaction(vm, state, header, chain_id: int, params: dict, validation: bool, budget: int):
    """The call as geth's simulation builds it: an unsigned dynamic-fee transaction (zero
    signature) from `from`, with the sender's nonce and the remaining gas unless given."""
    sender = params.get("from") or constants.ZERO_ADDRESS
    params["from"] = sender
    nonce = params.get("nonce")
    current = state.get_nonce(sender)
    if nonce is None:
        nonce = current
    gas = params.get("gas")
    if gas is None:
        gas = min(budget, header.gas_limit - header.gas_used)
    base_fee = getattr(header, "base_fee_per_gas", 0)
    tip = params.get("maxPriorityFeePerGas")
    fee = params.get("maxFeePerGas")
    price = params.get("gasPrice")
    to = params.get("to") or constants.CREATE_CONTRACT_ADDRESS
    data, value = params.get("data", b""), params.get("value", 0)
    al = py_evm_access_list(params.get("accessList"))
    builder = vm.get_transaction_builder()
    if price is not None and fee is None and tip is None:
        tx = builder.new_transaction(nonce, price, gas, to, value, data, v=0, r=0, s=0) if not al else \
            builder.decode(builder.new_access_list_transaction(
                chain_id, nonce, price, gas, to, value, data, al, 0, 0, 0).encode())
        return tx, _runnable(tx, sender, nonce if validation else current)
    else:
        if fee is None:
            fee = (base_fee + (tip or 0)) if validation else 0
        if tip is None:
            tip = 0
        tx = builder.new_dynamic_fee_transaction(chain_id, nonce, tip, fee, gas, to, value, data, al, 0, 0, 0)
        tx = builder.decode(tx.encode())  # the builder gives London's class; the block needs its fork's
    # the block holds it with a zero signature, as geth hashes simulated calls
    return tx, _runnable(tx, sender, nonce if validation else current)


def _runnable(tx, sender: bytes, nonce: int):
    """What py-evm executes: the transaction from `sender`, with a stand-in s (py-evm refuses
    s = 0 before anything runs) and, without validation, the sender's own nonce (geth skips
    nonce checks then)."""
    return SpoofTransaction(tx, sender=sender, get_sender=lambda: sender, check_signature_validity=_unchecked,
                            validate=lambda: _check_intrinsic_gas(tx), s=1, nonce=nonce)


def _unchecked() -> None:
    return None


def _check_intrinsic_gas(tx) -> None:
    if tx.gas < tx.intrinsic_gas:
        raise ValidationError(f"intrinsic gas too low: gas {tx.gas}, minimum needed {tx.intrinsic_gas}")


def _max_used_gas(state, tx, computation) -> int:
    """Gas used before refunds, or EIP-7623's calldata floor when that is higher (Prague on)."""
    return max(tx.gas - computation.get_gas_remaining(), calldata_floor_gas(state, tx.data))


def _call_error(computation) -> tuple:
    """(code, message, data) as geth reports a failed call: reverts with their reason."""
    if computation.error.__class__.__name__ == "Revert":
        output = bytes(computation.output)
        reason = decode_revert_reason(output)
        return 3, "execution reverted" + (f": {reason}" if reason else ""), output
    if isinstance(computation.error, OutOfGas):
        return -32015, "out of gas", b""
    return -32015, str(computation.error) or computation.error.__class__.__name__, b""


_VALIDATION_CODES = (
    ("nonce too low", -38010), ("nonce too high", -38011), ("nonce", -38010),
    ("base fee", -38012), ("basefee", -38012), ("intrinsic", -38013),
    ("insufficient funds", -38014), ("balance", -38014), ("gas limit", -38015),
)


def _validation_error(message: str) -> SimulationError:
    lowered = message.lower()
    for words, code in _VALIDATION_CODES:
        if words in lowered:
            return SimulationError(code, message)
    return SimulationError(-32000, message)


def _move_precompiles(vm, moves: dict[bytes, bytes], moved: dict[bytes, bytes]) -> None:
    """movePrecompileToAddress: the precompile answers at its new address; the old one becomes
    an ordinary account (whose code a state override may set)."""
    if not moves:
        return
    computation_class = vm.state.computation_class
    table = dict(computation_class.get_precompiles())
    for source, target in moves.items():
        if source not in table:
            raise SimulationError(-32000, f"account 0x{source.hex()} is not a precompile")
        if target == source:
            raise SimulationError(-38022, f"account 0x{source.hex()} requested to move to itself")
        table[target] = table.pop(source)
        moved[source] = target
    vm.state.computation_class = computation_class.configure(_precompiles=table)


def _tracing_transfers(computation_class):
    """The computation class, recording each value-moving message's place among the logs."""

    class TransferTracing(computation_class):
        @classmethod
        def apply_message(cls, state, message, transaction_context, parent_computation=None):
            moves = message.value and message.should_transfer_value
            seq = transaction_context.get_next_log_counter() if moves else None
            comp = super().apply_message(state, message, transaction_context, parent_computation)
            if seq is not None:
                comp.imo_transfer = (seq, message.sender, message.storage_address, message.value)
            return comp

    return TransferTracing


def _transfers(comp) -> list:
    """(seq, ERC-7528 log) for every transfer of a call tree that did not fail."""
    if comp.is_error:
        return []
    out = []
    transfer = getattr(comp, "imo_transfer", None)
    if transfer is not None:
        seq, sender, to, value = transfer
        out.append((seq, TRANSFER_LOG_ADDRESS,
                    [TRANSFER_TOPIC, sender.rjust(32, b"\0"), to.rjust(32, b"\0")], value.to_bytes(32, "big")))
    for child in comp.children:
        out.extend(_transfers(child))
    return out


def _call_logs(computation, trace_transfers: bool) -> list:
    """The call's logs in execution order: (address, [topics as bytes], data)."""
    entries = [(seq, address, [t.to_bytes(32, "big") for t in topics], data)
               for seq, address, topics, data in computation.get_raw_log_entries()]
    if trace_transfers:
        entries.extend(_transfers(computation))
    return [(address, topics, data) for _, address, topics, data in sorted(entries, key=lambda e: e[0])]


@dataclass
class BuiltPayload:
    header: Any
    transactions: list
    value: int  # priority fees paid to the fee recipient
    requests: list = field(default_factory=list)


def payload_gas_limit(parent_limit: int, desired: int) -> int:
    """The next block's gas limit, moved toward `desired` by at most 1/1024 (geth's rule)."""
    delta = parent_limit // 1024 - 1
    if parent_limit < desired:
        return min(parent_limit + delta, desired)
    if parent_limit > desired:
        return max(parent_limit - delta, desired)
    return parent_limit


def build_payload(storage, chain_id: int, parent, txs: list, timestamp: int, prev_randao: bytes,
                  fee_recipient: bytes, beacon_root: bytes, extra_data: bytes,
                  desired_gas_limit: int) -> BuiltPayload:
    """testing_buildBlockV1: the block these signed transactions make on `parent`, built as a
    block producer would and not added to the chain. A transaction that cannot apply fails it."""
    db = AtomicDB(BatchDB(storage.db))
    chaindb = ChainDB(db)
    number = parent.block_number + 1
    vm_class = storage.chain.get_vm_class_for_block_number(number)
    header = vm_class.create_header_from_parent(
        parent, timestamp=timestamp, gas_limit=payload_gas_limit(parent.gas_limit, desired_gas_limit),
        coinbase=fee_recipient, mix_hash=prev_randao, extra_data=extra_data, nonce=b"\0" * 8)
    if hasattr(header, "parent_beacon_block_root"):
        header = header.copy(parent_beacon_block_root=beacon_root)
    header = header.copy(state_root=storage.state_root_of(parent), gas_used=0)
    vm = vm_class(header=header, chaindb=chaindb, chain_context=ChainContext(chain_id),
                  consensus_context=ConsensusContext(chaindb.db))
    state = vm.state
    vm.block_preprocessing(vm.get_block())
    receipts, value = [], 0
    for tx in txs:
        state.lock_changes()
        try:
            vm.validate_transaction_against_header(header, tx)
            computation = state.apply_transaction(tx)
        except (ValidationError, VMError) as exc:
            raise SimulationError(-32000, f"transaction 0x{tx.hash.hex()} cannot be applied: {exc}") from None
        receipt = vm.make_receipt(header, tx, computation, state)
        used = receipt.gas_used - header.gas_used
        header = vm.add_receipt_to_header(header, receipt)
        if hasattr(vm, "increment_blob_gas_used"):
            header = vm.increment_blob_gas_used(header, tx)
        base_fee = getattr(header, "base_fee_per_gas", 0)
        tip = min(tx.max_priority_fee_per_gas, tx.max_fee_per_gas - base_fee) \
            if hasattr(tx, "max_priority_fee_per_gas") else tx.gas_price - base_fee
        value += used * tip
        receipts.append(receipt)
    block = vm.set_block_transactions_and_withdrawals(vm.get_block(), header, txs, receipts, withdrawals=[])
    block = vm.block_postprocessing(block)
    state.persist()
    final = block.header.copy(state_root=state.state_root)
    return BuiltPayload(final, list(txs), value, [r for r in getattr(block, "block_requests", []) if len(r) > 1])
