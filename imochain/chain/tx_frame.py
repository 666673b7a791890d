"""A transaction's frame around the interpreter loop (validation, message, refund, fee, sweep), fewer layers.

Per automined ERC-20 transfer py-evm spent ~680 Python calls around the interpreter (~750 for an
ETH transfer): five fork layers of `validate_transaction` reading the sender's account four times,
each balance or nonce change as get + set through `BaseState` and `AccountDB` (two address
validators, a uint validator, the account cache) with the sender's fee and nonce written one after
the other, `Message`'s dozen validators for values already checked, `apply_message`'s value
transfer and touch, a second transaction context in `finalize_computation` for the gas price, and
the EIP-161 sweep walking the computation tree through a decorated generator.

Here the same steps run in py-evm's order on the same journals and account cache: accounts are
read and written through `AccountDB._get_account` / `_set_account` (the layers the public methods
end in); the sender's fee and nonce, written into the same checkpoint one after the other, are
one write of the final account (the journal keeps only the last value of a key per checkpoint).
Validation answers "plainly valid" from one read of the sender, else runs py-evm's own, which
raises its error. Anything unusual takes py-evm's function before any step is taken: a state or
account database not py-evm's own (a forked chain's lazy state, eth_createAccessList's recording
state, a method replaced on the instance), a computation class with its own `apply_message`
(tracers, simulations), debug logging, another executor, a create, a blob or set-code
transaction in validation, a frame with children or self-destructs in the sweep, a value out of
range (py-evm's own call raises its error). Calls' and impersonated sends' spoofed transactions
take the same path (Osaka's gas cap does not bind them, as in py-evm's).
"""

from __future__ import annotations

from eth._utils.address import generate_contract_address
from eth._utils.state import code_is_delegation_designation
from eth.constants import CREATE_CONTRACT_ADDRESS, EMPTY_SHA3, SECPK1_N, UINT_256_MAX
from eth.db.account import AccountDB
from eth.exceptions import InsufficientFunds
from eth.vm.forks.berlin.state import BerlinTransactionExecutor
from eth.vm.forks.berlin.transactions import AccountAccesses, TypedTransaction
from eth.vm.forks.cancun.constants import BLOB_TX_TYPE
from eth.vm.forks.cancun.state import CancunState, CancunTransactionExecutor
from eth.vm.forks.frontier.computation import FrontierComputation
from eth.vm.forks.frontier.state import FrontierTransactionExecutor
from eth.vm.forks.london.transactions import DynamicFeeTransaction
from eth.vm.forks.prague.state import PragueTransactionExecutor
from eth.vm.forks.spurious_dragon.state import SpuriousDragonTransactionExecutor
from eth.vm.message import Message
from eth.vm.spoof import SpoofTransaction

from .evm_state_ops import _MISSING, _lookup
from .forks.osaka.state import OsakaState

UINT_64_MAX = 2**64 - 1
THREE = b"\x00" * 19 + b"\x03"  # RIPEMD160: EIP-716's special case in the sweep
_EXECUTORS = (CancunTransactionExecutor, PragueTransactionExecutor)  # exact types: Cancun, Prague, Osaka, BPO
_PLAIN_TYPES = (None, 1, 2)  # legacy, access-list and dynamic-fee transactions
# what the frame calls on the state, as py-evm's Cancun state defines it (state classes up to Osaka inherit them)
_STATE_METHODS = {name: getattr(CancunState, name) for name in (
    "get_balance", "set_balance", "delta_balance", "get_nonce", "increment_nonce", "get_code", "touch_account",
    "account_exists", "account_is_empty", "delete_account", "mark_address_warm", "mark_storage_warm", "snapshot",
    "commit", "revert", "get_gas_price", "get_tip", "get_transaction_context", "clear_transient_storage")}
_STATE_NAMES = frozenset(_STATE_METHODS) | {"computation_class", "validate_transaction", "execution_context"}
# each validate_transaction whose rules _plainly_valid knows: does it hold Osaka's gas cap and intrinsic check?
_VALIDATORS = {OsakaState.validate_transaction: True, CancunState.validate_transaction: False}
_stock_apply_message = FrontierComputation.apply_message.__func__
_stock_validate_transaction = FrontierTransactionExecutor.validate_transaction
_stock_build_evm_message = CancunTransactionExecutor.build_evm_message
_stock_build_computation = BerlinTransactionExecutor.build_computation
_stock_frontier_finalize = FrontierTransactionExecutor.finalize_computation
_stock_finalize = SpuriousDragonTransactionExecutor.finalize_computation
_typed_validate = TypedTransaction.validate
_SEQUENCES = (tuple, list)
_ENTRIES = (tuple, list, AccountAccesses)  # an access list's entries, as decoded or as built
_plain_states: dict[type, bool] = {}
taken = {"validate": 0, "message": 0, "computation": 0, "finalize": 0}  # short paths run (the tests read it)
enabled = True  # False: every step py-evm's way (the benchmark's and tests' before/after on one node)


def _frame_db(state):
    """The state's AccountDB when every state method the frame uses is py-evm's own (on the class,
    none replaced on the instance) and debug logging is off; else None."""
    if not enabled:
        return None
    kind = type(state)
    plain = _plain_states.get(kind)
    if plain is None:
        plain = _plain_states[kind] = all(getattr(kind, name, None) is fn for name, fn in _STATE_METHODS.items())
    if not plain or type(state._account_db) is not AccountDB or not _STATE_NAMES.isdisjoint(vars(state)) \
            or state.logger.show_debug2:
        return None
    return state._account_db


def _is_address(value) -> bool:
    return type(value) is bytes and len(value) == 20  # what validate_canonical_address accepts


def _delta_balance(state, db, address, delta: int) -> None:
    """BaseState.delta_balance: get_balance, then set_balance of the sum."""
    if _is_address(address):
        account = db._get_account(address)
        balance = account.balance + delta
        if 0 <= balance <= UINT_256_MAX:
            db._set_account(address, account.copy(balance=balance))
            return
    state.delta_balance(address, delta)  # py-evm's ValidationError


def _gas_price(state, transaction) -> int:
    """LondonState.get_gas_price, which its transaction context's gas price equals."""
    return min(transaction.max_fee_per_gas,
               transaction.max_priority_fee_per_gas + state.execution_context.base_fee_per_gas)


def validate_transaction(self, transaction) -> None:
    """FrontierTransactionExecutor.validate_transaction: the transaction's own checks, then the
    state's (Osaka's cap, which calls' spoofed transactions skip, and intrinsic gas, London's base
    fee, Homestead's s, Frontier's balance and nonce, Cancun's balance for the fee cap) answered
    from one read of the sender when they all pass; otherwise, or for anything else, py-evm's own,
    which raises its error."""
    state = self.vm_state
    osaka = _VALIDATORS.get(type(state).validate_transaction)
    db = _frame_db(state) if osaka is not None else None
    if db is None:
        return _stock_validate_transaction(self, transaction)
    if not _plain_dynamic_fee_fields(transaction):
        transaction.validate()
    capped = osaka and not isinstance(transaction, SpoofTransaction)
    if not _plainly_valid(state, db, transaction, osaka, capped, self):
        state.validate_transaction(transaction)
        return
    taken["validate"] += 1


def _plain_dynamic_fee_fields(tx) -> bool:
    """Whether a dynamic-fee transaction's own validate() (London's validate_dynamic_fee_tx: each
    number an int in range, the recipient empty or an address, the data bytes, the access list
    well formed) would pass: then it need not run."""
    if getattr(type(tx), "validate", None) is not _typed_validate:  # (a spoof answers from its overrides)
        return False
    inner = tx._inner
    if not isinstance(inner, DynamicFeeTransaction) or type(inner).validate is not DynamicFeeTransaction.validate:
        return False
    to, access_list = inner.to, inner.access_list
    return (_uint(inner.chain_id) and _uint(inner.max_fee_per_gas) and _uint(inner.max_priority_fee_per_gas)
            and _uint(inner.gas) and _uint(inner.value) and _uint(inner.r) and _uint(inner.s)
            and type(inner.nonce) is int and 0 <= inner.nonce < UINT_64_MAX
            and type(inner.y_parity) is int and 0 <= inner.y_parity <= 255
            and (to == CREATE_CONTRACT_ADDRESS or _is_address(to)) and type(inner.data) is bytes
            and type(access_list) in _SEQUENCES and all(
                type(entry) in _ENTRIES and len(entry) == 2 and _is_address(entry[0])
                and type(entry[1]) in _SEQUENCES and all(type(key) is int for key in entry[1])
                for entry in access_list))


def _uint(value) -> bool:
    return type(value) is int and 0 <= value <= UINT_256_MAX  # validate_uint256


def _plainly_valid(state, db, tx, osaka: bool, capped: bool, executor) -> bool:
    if tx.type_id not in _PLAIN_TYPES:
        return False
    gas = tx.gas
    if (capped and gas > state.tx_gas_limit_cap) or (osaka and gas < _intrinsic_gas(executor, tx)):
        return False
    base_fee = state.execution_context.base_fee_per_gas
    max_fee = tx.max_fee_per_gas
    s = tx.s
    sender = tx.sender
    if max_fee < base_fee or s > SECPK1_N // 2 or s == 0 or not _is_address(sender):
        return False
    account = db._get_account(sender)
    balance = account.balance
    price = min(max_fee, tx.max_priority_fee_per_gas + base_fee)
    return balance >= gas * price + tx.value and account.nonce == tx.nonce and balance >= gas * max_fee


def _intrinsic_gas(executor, transaction) -> int:
    """transaction.intrinsic_gas (a pure function of the transaction, ~20 calls), computed once per
    executor, which py-evm makes for each transaction: validation and the message share it."""
    known = executor.__dict__.get("_frame_intrinsic_gas")
    if known is not None and known[0] is transaction:
        return known[1]
    gas = transaction.intrinsic_gas
    executor._frame_intrinsic_gas = (transaction, gas)
    return gas


def _code_at(self, state, db, address):
    """get_code_at_address (Cancun's, and Prague's for code that delegates nowhere): AccountDB.get_code
    with the code journal walked in one loop; a delegation or a missing code takes py-evm's way."""
    if db is None or type(self) not in _EXECUTORS or not _is_address(address):
        return self.get_code_at_address(address)
    code_hash = db._get_account(address).code_hash
    if code_hash == EMPTY_SHA3:
        return b"", None
    code = _lookup(db._journaldb, code_hash)
    if code is _MISSING or code_is_delegation_designation(code):
        return self.get_code_at_address(address)  # MissingBytecode, or Prague's delegation
    if code_hash in db._get_accessed_node_hashes():
        db._accessed_bytecodes.add(address)
    return code, None


def build_evm_message(self, transaction):
    """CancunTransactionExecutor.build_evm_message (Prague and Osaka use it): the gas bought and
    the nonce raised in one write of the sender, the code read, the message made; py-evm's
    debug line only when debug logging is on (it formats the whole code in hex)."""
    state = self.vm_state
    if state.logger.show_debug2:
        return _stock_build_evm_message(self, transaction)
    db = _frame_db(state)
    sender = transaction.sender
    if db is not None and _is_address(sender):
        fee = transaction.gas * _gas_price(state, transaction)
        if transaction.type_id == BLOB_TX_TYPE:
            fee += self.calc_data_fee(transaction)
        account = db._get_account(sender)
        balance, nonce = account.balance - fee, account.nonce + 1
        if 0 <= balance <= UINT_256_MAX and nonce <= UINT_64_MAX:
            db._set_account(sender, account.copy(balance=balance, nonce=nonce))
            taken["message"] += 1
        else:
            _delta_balance(state, db, sender, -fee)  # py-evm's steps, which raise its error
            state.increment_nonce(sender)
    else:
        blob_fee = self.calc_data_fee(transaction) if transaction.type_id == BLOB_TX_TYPE else 0
        state.delta_balance(sender, -1 * (transaction.gas * state.get_gas_price(transaction) + blob_fee))
        state.increment_nonce(sender)
    msg_refund = self.calc_message_refund(transaction)
    message_gas = transaction.gas - (_intrinsic_gas(self, transaction) if db is not None else transaction.intrinsic_gas)
    to, value = transaction.to, transaction.value
    if to == CREATE_CONTRACT_ADDRESS:
        contract_address = generate_contract_address(sender, state.get_nonce(sender) - 1)
        data, code, is_delegation = b"", transaction.data, False
    else:
        contract_address = None
        data = transaction.data
        code, delegation_address = _code_at(self, state, db, to)
        is_delegation = delegation_address is not None
        if _is_address(to) and _is_address(sender) and 0 <= message_gas <= UINT_256_MAX \
                and 0 <= value <= UINT_256_MAX and type(data) is bytes and type(code) is bytes:
            return _checked_message(message_gas, to, sender, value, data, code, msg_refund, is_delegation)
    return Message(gas=message_gas, to=to, sender=sender, value=value, data=data, code=code,
                   create_address=contract_address, refund=msg_refund, is_delegation=is_delegation)


def _checked_message(gas, to, sender, value, data, code, refund, is_delegation) -> Message:
    """Message(...) of a call with values its validators would pass (the caller checked them)."""
    message = Message.__new__(Message)
    message.gas, message.to, message.sender, message.value, message.data = gas, to, sender, value, data
    message.depth, message.code, message._storage_address, message._code_address = 0, code, None, None
    message.should_transfer_value, message.is_static, message._is_delegation = True, False, is_delegation
    message.refund = refund
    return message


def build_computation(self, message, transaction):
    """BerlinTransactionExecutor.build_computation with Frontier's and `apply_message` under it, for
    a call: sender and recipient warm, the access list warm, the transaction context, then the
    snapshot, the value moved, the recipient touched, the frame run, the snapshot committed or
    reverted."""
    state = self.vm_state
    db = _frame_db(state)
    computation_class = state.computation_class
    if db is None or type(self) not in _EXECUTORS or message.to == CREATE_CONTRACT_ADDRESS \
            or computation_class.apply_message.__func__ is not _stock_apply_message or message.depth:
        return _stock_build_computation(self, message, transaction)
    taken["computation"] += 1
    db.mark_address_warm(transaction.sender)
    db.mark_address_warm(message.storage_address)
    for address, slots in transaction.access_list:
        db.mark_address_warm(address)
        for slot in slots:
            db.mark_storage_warm(address, slot)
    transaction_context = state.get_transaction_context(transaction)
    snapshot = state.snapshot()
    recipient = message.storage_address
    if message.should_transfer_value and message.value:
        sender = message.sender
        sender_balance = db._get_account(sender).balance if _is_address(sender) else state.get_balance(sender)
        if sender_balance < message.value:
            raise InsufficientFunds(f"Insufficient funds: {sender_balance} < {message.value}")
        _delta_balance(state, db, sender, -1 * message.value)
        _delta_balance(state, db, recipient, message.value)
    if _is_address(recipient):
        db._set_account(recipient, db._get_account(recipient))  # BaseState.touch_account
    else:
        state.touch_account(recipient)
    computation = computation_class.apply_computation(state, message, transaction_context)
    if computation.is_error:
        state.revert(snapshot)
    else:
        state.commit(snapshot)
    return computation


def finalize_computation(self, transaction, computation):
    """SpuriousDragonTransactionExecutor.finalize_computation with Frontier's under it, for a call
    frame without children or self-destructs: the refund (capped), the sender's refund, the
    coinbase's tip, then EIP-161's sweep of the touched accounts (the coinbase, the recipient)."""
    state = self.vm_state
    db = _frame_db(state)
    message = computation.msg
    if db is None or type(self) not in _EXECUTORS or computation.children or computation.accounts_to_delete \
            or computation.beneficiaries or message.to == CREATE_CONTRACT_ADDRESS:
        return _stock_finalize(self, transaction, computation)
    taken["finalize"] += 1
    gas_remaining = computation.get_gas_remaining()
    gas_used = transaction.gas - gas_remaining
    gas_refund = self.calculate_gas_refund(computation, gas_used)
    computation.data_floor_gas = self.calc_data_floor_gas(transaction, gas_used, gas_refund)
    refund_amount = (gas_refund + gas_remaining - computation.data_floor_gas) * _gas_price(state, transaction)
    if refund_amount:
        _delta_balance(state, db, message.sender, refund_amount)
    gas_used = transaction.gas - gas_remaining - gas_refund + computation.data_floor_gas
    tip = min(transaction.max_fee_per_gas - state.execution_context.base_fee_per_gas,
              transaction.max_priority_fee_per_gas)  # LondonState.get_tip
    coinbase = state.execution_context.coinbase
    _delta_balance(state, db, coinbase, gas_used * tip)
    # collect_touched_accounts of a frame without children or self-destructs, as the same set
    touched = (coinbase, message.to) if computation.is_success or message.to == THREE else (coinbase,)
    for account in set(touched):
        if _is_address(account):
            if db._get_encoded_account(account, from_journal=True) == b"":  # AccountDB.account_exists
                continue
            found = db._get_account(account)
            empty = found.nonce == 0 and found.code_hash == EMPTY_SHA3 and found.balance == 0
        else:
            empty = state.account_exists(account) and state.account_is_empty(account)
        if empty:
            state.delete_account(account)
    return computation


def frontier_finalize_computation(self, transaction, computation):
    """Frontier's last step (refund, the coinbase's fee, self-destructs; every later fork's
    through Spurious Dragon's), which formats two debug lines with addresses in hex before
    asking whether debug logging is on: the same steps, the lines only when it is."""
    state = self.vm_state
    if state.logger.show_debug2:
        return _stock_frontier_finalize(self, transaction, computation)
    transaction_context = state.get_transaction_context(transaction)
    gas_remaining = computation.get_gas_remaining()
    gas_used = transaction.gas - gas_remaining
    gas_refund = self.calculate_gas_refund(computation, gas_used)
    computation.data_floor_gas = self.calc_data_floor_gas(transaction, gas_used, gas_refund)
    gas_refund_amount = (gas_refund + gas_remaining - computation.data_floor_gas) * transaction_context.gas_price
    if gas_refund_amount:
        state.delta_balance(computation.msg.sender, gas_refund_amount)
    gas_used = transaction.gas - gas_remaining - gas_refund + computation.data_floor_gas
    transaction_fee = gas_used * state.get_tip(transaction)
    state.delta_balance(state.coinbase, transaction_fee)
    for account in computation.get_accounts_for_deletion():
        state.delete_account(account)
    return computation


PATCHES = [
    (FrontierTransactionExecutor, "validate_transaction", validate_transaction),
    (CancunTransactionExecutor, "build_evm_message", build_evm_message),
    (BerlinTransactionExecutor, "build_computation", build_computation),
    (FrontierTransactionExecutor, "finalize_computation", frontier_finalize_computation),
    (SpuriousDragonTransactionExecutor, "finalize_computation", finalize_computation),
]
