"""SLOAD, SSTORE, KECCAK256, LOGn and RETURN for evm_loop: py-evm's rules and order, fewer layers.

In py-evm one SLOAD of an ERC-20 transfer goes through `sload_eip2929` → `_mark_storage_warm` →
`state.is_storage_warm` → AccountDB → `key in JournalDB` → `BaseDB.__contains__` → `_exists` →
`Journal.__getitem__`, then `consume_gas` (two frames), then `state.get_storage` → AccountDB
(two validators) → `_get_address_store` → `AccountStorageDB.get` → two `JournalDB`s and their
`Journal`s → `CacheDB` → `rlp.decode`; SSTORE reads twice that way, formats a gas "reason"
with the address in hex whether or not anyone reads it, and writes through as many layers.
Here the same steps run on the same objects (the journals, the storage cache, the access
list), with the journal layers walked in one loop and the RLP of a word done in place; the
cache below the journals and the trie below it are asked as py-evm asks them.

Each function here replaces one of py-evm's own logic functions (`FAST`, keyed by py-evm's
function, so a fork or tracer that brings its own keeps it), and is only used by evm_loop when
it charges gas itself on py-evm's meter. Anything unusual takes py-evm's function before any
step is taken: a static call (its WriteProtection), the EIP-2200 sentry (its OutOfGas), too few
stack items or items of another type, a state, account database, storage or journal of another
class (a forked chain's lazy state, eth_createAccessList's recording state), memory of another
class. Gas that runs out raises py-evm's OutOfGas with its message; memory that has to grow is
grown and charged by py-evm's `extend_memory`.
"""

from __future__ import annotations

from eth.db.account import IS_PRESENT_VALUE, AccountDB
from eth.db.cache import CacheDB
from eth.db.journal import DELETE_WRAPPED, REVERT_TO_WRAPPED, Journal, JournalDB
from eth.db.storage import AccountStorageDB
from eth.exceptions import Halt
from eth.vm.computation import BaseComputation
from eth.vm.forks.berlin import opcodes as berlin_opcodes
from eth.vm.forks.berlin.logic import GAS_SCHEDULE_EIP2929, sload_eip2929
from eth.vm.forks.byzantium import opcodes as byzantium_opcodes
from eth.vm.forks.london import opcodes as london_opcodes
from eth.vm.forks.london.storage import GAS_SCHEDULE_EIP3529
from eth.vm.interrupt import MissingStorageTrieNode
from eth.vm.logic import sha3 as sha3_logic
from eth.vm.logic import system
from eth.vm.memory import Memory
from eth.vm.state import BaseState
from eth_hash.auto import keccak
from eth_utils import encode_hex

SLOAD, SSTORE, SHA3, RETURN, LOG0 = 0x54, 0x55, 0x20, 0xF3, 0xA0
COLD_SLOAD_COST, WARM_STORAGE_READ_COST = 2100, 100
SSTORE_SENTRY = 2300  # EIP-2200: SSTORE fails with this much gas left or less
GAS_SHA3WORD, GAS_LOGDATA, GAS_LOGTOPIC = 6, 8, 375
_MISSING = object()
_STATE_METHODS = ("get_storage", "set_storage", "is_storage_warm", "mark_storage_warm")
_stock_extend_memory = BaseComputation.extend_memory
_plain_state_types: dict[type, bool] = {}


def _account_db(state):
    """The state's AccountDB when every storage and access-list method between the opcode and
    it is py-evm's own (on the class and not replaced on the instance); else None."""
    kind = type(state)
    plain = _plain_state_types.get(kind)
    if plain is None:
        plain = _plain_state_types[kind] = all(getattr(kind, name) is getattr(BaseState, name)
                                               for name in _STATE_METHODS)
    if not plain or type(state._account_db) is not AccountDB:
        return None
    instance = state.__dict__
    for name in _STATE_METHODS:
        if name in instance:
            return None
    return state._account_db


def _lookup(db, key: bytes):
    """`db[key]` down a stack of py-evm JournalDBs (as JournalDB.__getitem__ walks it), or
    _MISSING where it raises KeyError; the first other layer is asked the ordinary way (a
    CacheDB's hit is read in place)."""
    while type(db) is JournalDB and type(db._journal) is Journal:
        journal = db._journal
        value = journal._current_values.get(key, REVERT_TO_WRAPPED if journal._ignore_wrapped_db else None)
        if value is None:
            db = db._wrapped_db
        elif value is DELETE_WRAPPED or value is REVERT_TO_WRAPPED:
            return _MISSING
        else:
            return value
    if type(db) is CacheDB:  # CacheDB.__getitem__'s hit, in place
        cached = db._cached_values
        if key in cached:
            return cached[key]
    try:
        return db[key]
    except MissingStorageTrieNode:  # a KeyError too: it goes on up, as in py-evm
        raise
    except KeyError:
        return _MISSING


def _word_key(slot: int) -> bytes:
    return slot.to_bytes((slot.bit_length() + 7) // 8 or 1, "big")  # eth_utils.int_to_big_endian


def _store(account_db, address: bytes) -> AccountStorageDB:
    """AccountDB._get_address_store (which makes py-evm's AccountStorageDB)."""
    store = account_db._account_stores.get(address)
    return store if store is not None else account_db._get_address_store(address)


def _read(store, slot: int, from_journal: bool) -> int:
    """AccountStorageDB.get."""
    store._accessed_slots.add(slot)
    encoded = _lookup(store._journal_storage if from_journal else store._locked_changes, _word_key(slot))
    if encoded is _MISSING or encoded == b"":
        return 0
    size = len(encoded)
    first = encoded[0]
    if size == 1 and 0 < first < 0x80:
        return first
    if 1 < size <= 33 and first == 0x7F + size and encoded[1]:  # canonical RLP of a number
        return int.from_bytes(encoded[1:], "big")
    return store.get(slot, from_journal)  # anything else: pyrlp's decoding, and its error


def _encode_word(value: int) -> bytes:
    """rlp.encode(value) for 0 < value < 2**256."""
    if value < 0x80:
        return bytes((value,))
    data = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return bytes((0x80 + len(data),)) + data


def _is_warm(account_db, key: bytes) -> bool:
    return _lookup(account_db._journal_accessed_state, key) is not _MISSING


def _charge(computation, meter, amount: int, reason) -> None:
    """GasMeter.consume_gas for a meter evm_loop has checked is py-evm's own; `reason` is only
    built (a callable) when the charge fails, for py-evm's OutOfGas message."""
    if amount <= meter.gas_remaining:
        meter.gas_remaining -= amount
    else:
        computation.consume_gas(amount, reason() if callable(reason) else reason)


def _ints(values: list, count: int):
    """The top `count` stack items as ints, top first (Stack.pop_ints), or None when there are
    too few or one is of another type (then py-evm's function pops and raises)."""
    if len(values) < count:
        return None
    items = values[-count:]
    for item in items:
        if type(item) is not int and type(item) is not bytes:
            return None
    del values[-count:]
    items.reverse()
    return [x if type(x) is int else int.from_bytes(x, "big") for x in items]


def _plain_memory(computation):
    memory = computation._memory
    if type(memory) is Memory and type(computation).extend_memory is _stock_extend_memory:
        return memory
    return None


def _read_memory(computation, memory, start: int, size: int) -> bytes:
    """extend_memory + memory_read_bytes: growth through py-evm (gas, errors), the rest here."""
    if not size:
        return b""
    if start + size > len(memory._bytes):
        computation.extend_memory(start, size)
    return bytes(memory._bytes[start:start + size])


def sload(computation) -> None:
    """sload_eip2929."""
    values = computation._stack.values
    account_db = _account_db(computation.state)
    if account_db is None or not values or (type(values[-1]) is not int and type(values[-1]) is not bytes):
        return sload_eip2929(computation)
    slot = values.pop()
    if type(slot) is bytes:
        slot = int.from_bytes(slot, "big")
    address = computation.msg.storage_address
    key = address + _word_key(slot)
    if _is_warm(account_db, key):
        cost = WARM_STORAGE_READ_COST
    else:
        account_db._journal_accessed_state[key] = IS_PRESENT_VALUE
        cost = COLD_SLOAD_COST
    _charge(computation, computation._gas_meter, cost, "SLOAD")
    values.append(_read(_store(account_db, address), slot, True))


def _make_sstore(schedule, stock):
    """sstore_eip2929_generic(schedule) under ensure_no_static: net_sstore (EIP-2200 gas and
    refunds, EIP-3529's schedule from London), then EIP-2929's cold-slot charge."""
    sload_gas, set_gas, reset_gas, clears = schedule

    def sstore(computation) -> None:
        msg = computation.msg
        meter = computation._gas_meter
        values = computation._stack.values
        account_db = _account_db(computation.state)
        if msg.is_static or meter.gas_remaining <= SSTORE_SENTRY or account_db is None or len(values) < 2:
            return stock(computation)
        popped = _ints(values, 2)
        if popped is None:
            return stock(computation)
        slot, value = popped
        address = msg.storage_address
        store = _store(account_db, address)
        current = _read(store, slot, True)
        original = _read(store, slot, False)
        refund = 0
        if current == value:
            cost = sload_gas
        elif original == current:
            if original == 0:
                cost = set_gas
            else:
                cost = reset_gas
                if value == 0:
                    refund += clears
        else:
            cost = sload_gas
            if original != 0:
                if current == 0:
                    refund -= clears
                if value == 0:
                    refund += clears
            if original == value:
                refund += (set_gas if original == 0 else reset_gas) - sload_gas
        _charge(computation, meter, cost, lambda: f"SSTORE: {encode_hex(address)}[{slot}] -> {value} "
                                                  f"(current: {current} / original: {original})")
        if refund:
            computation.refund_gas(refund)
        account_db._dirty_accounts.add(address)  # AccountDB.set_storage
        if value:
            store._journal_storage[_word_key(slot)] = _encode_word(value)
        else:
            store.set(slot, 0)
        key = address + _word_key(slot)
        if not _is_warm(account_db, key):
            account_db._journal_accessed_state[key] = IS_PRESENT_VALUE
            _charge(computation, meter, COLD_SLOAD_COST, "Implicit SLOAD during SSTORE")

    return sstore


def sha3(computation) -> None:
    values = computation._stack.values
    memory = _plain_memory(computation)
    popped = _ints(values, 2) if memory is not None else None
    if popped is None:
        return sha3_logic.sha3(computation)
    start, size = popped
    data = _read_memory(computation, memory, start, size)
    _charge(computation, computation._gas_meter, GAS_SHA3WORD * ((size + 31) // 32), "SHA3: word gas cost")
    values.append(keccak(data))


def _make_log(topic_count: int, stock):
    def log(computation) -> None:
        values = computation._stack.values
        memory = _plain_memory(computation)
        if computation.msg.is_static or memory is None:
            return stock(computation)
        popped = _ints(values, 2 + topic_count)
        if popped is None:
            return stock(computation)
        start, size = popped[0], popped[1]
        _charge(computation, computation._gas_meter, GAS_LOGDATA * size + GAS_LOGTOPIC * topic_count,
                "Log topic and data gas cost")
        data = _read_memory(computation, memory, start, size)
        computation.add_log_entry(account=computation.msg.storage_address, topics=tuple(popped[2:]), data=data)

    return log


def return_op(computation) -> None:
    memory = _plain_memory(computation)
    popped = _ints(computation._stack.values, 2) if memory is not None else None
    if popped is None:
        return system.return_op(computation)
    start, size = popped
    computation.output = _read_memory(computation, memory, start, size)
    raise Halt("RETURN")


def _fast_ops() -> dict:
    """{py-evm's logic function: its replacement here}."""
    table = {sload_eip2929: sload, sha3_logic.sha3: sha3, system.return_op: return_op}
    for opcodes, schedule in ((berlin_opcodes.UPDATED_OPCODES, GAS_SCHEDULE_EIP2929),
                              (london_opcodes.UPDATED_OPCODES, GAS_SCHEDULE_EIP3529)):
        stock = opcodes[SSTORE].logic_fn
        table[stock] = _make_sstore(schedule, stock)
    for n in range(5):
        stock = byzantium_opcodes.UPDATED_OPCODES[LOG0 + n].logic_fn
        table[stock] = _make_log(n, stock)
    return table


FAST = _fast_ops()
