"""py-evm work that changes nothing, skipped: system-contract rewrites, logger look-ups, jump
analysis, decoding the same account again, two calls per opcode for its gas.

Cancun's and Prague's states run `set_system_contracts()` whenever one is built (per block,
per call, per read-only view). Its test is inverted (`if not code != CONTRACT_CODE`): it
writes the contract's code again exactly when the account already holds it, and does nothing
otherwise. Writing identical code leaves the account's RLP, so every root, unchanged; but on
a chain that holds these contracts (a fork of mainnet, a geth genesis file) the account joins
every block's changed accounts and its trie path is rebuilt at every state root.
The replacement reads the code as before (same accesses, same errors) and writes nothing.

`BaseState.logger` builds its logger (a `logging.getLogger` under a lock, with a temporary
logger class) on every access, several times per transaction; `getLogger` returns the same
object for the same name, so it is looked up once per state class.

Which positions of a contract's code are valid jump targets (not inside PUSH data) depends on
the code alone; py-evm works it out again for every call frame. The sets it fills are shared
by every frame running the same code.

An account's RLP decodes to an immutable `Account`; each state decodes the accounts it reads
afresh (its cache dies with it, once per block). Decoded accounts are shared by their bytes.

Each opcode charges its fixed gas through computation.consume_gas → GasMeter.consume_gas; when
the charge fits, the meter is py-evm's own and nothing overrides the method, the subtraction is
done in place (an ERC-20 transfer runs ~750 opcodes). Anything else takes py-evm's path, with
its OutOfGas and its debug log.
"""

from __future__ import annotations

import functools

from eth.vm.forks.cancun.constants import BEACON_ROOTS_ADDRESS
from eth.vm.forks.cancun.state import CancunState
from eth.vm.forks.prague.constants import HISTORY_STORAGE_ADDRESS
from eth.vm.forks.prague.state import PragueState
import rlp
from eth.db.account import AccountDB
from eth.rlp.accounts import Account
from eth.vm.code_stream import CodeStream
from eth.vm.computation import BaseComputation
from eth.vm.gas_meter import GasMeter
from eth.vm.opcode import _FastOpcode
from eth.vm.state import BaseState
from eth_utils import get_extended_debug_logger


def _cancun_system_contracts(self) -> None:
    BaseState.set_system_contracts(self)
    self.get_code(BEACON_ROOTS_ADDRESS)


def _prague_system_contracts(self) -> None:
    _cancun_system_contracts(self)
    self.get_code(HISTORY_STORAGE_ADDRESS)


@functools.lru_cache(maxsize=None)
def _state_logger(state_class):
    return get_extended_debug_logger(f"eth.vm.state.{state_class.__name__}")


MAX_CODES = 256  # codes whose jump analysis is kept (keys up to 24 KiB each); cleared when full
_jump_analysis: dict[bytes, tuple[set, set]] = {}
_stock_code_stream_init = CodeStream.__init__


def _code_stream_init(self, code_bytes: bytes) -> None:
    _stock_code_stream_init(self, code_bytes)
    if type(code_bytes) is not bytes:
        return
    shared = _jump_analysis.get(code_bytes)
    if shared is None:
        if len(_jump_analysis) >= MAX_CODES:
            _jump_analysis.clear()
        shared = _jump_analysis[code_bytes] = (self.invalid_positions, self.valid_positions)
    self.invalid_positions, self.valid_positions = shared


MAX_ACCOUNTS = 16384  # decoded accounts kept by their RLP; cleared when full
_accounts: dict[bytes, Account] = {}


def _decode_account(encoded: bytes) -> Account:
    account = _accounts.get(encoded)
    if account is None:
        account = rlp.decode(encoded, sedes=Account)
        remember_account(encoded, account)
    return account


def remember_account(encoded: bytes, account: Account) -> None:
    """`encoded` is `account`'s RLP (an account just written: the next block reads it back)."""
    if len(_accounts) >= MAX_ACCOUNTS:
        _accounts.clear()
    _accounts[encoded] = account


def _get_account(self, address, from_journal: bool = True) -> Account:
    """AccountDB._get_account, with decoded accounts shared (py-evm's own steps otherwise)."""
    if from_journal and address in self._account_cache:
        return self._account_cache[address]
    encoded = self._get_encoded_account(address, from_journal)
    account = (_decode_account(encoded) if type(encoded) is bytes else rlp.decode(encoded, sedes=Account)) \
        if encoded else Account()
    if from_journal:
        self._account_cache[address] = account
    return account


_stock_consume_gas = BaseComputation.consume_gas


def _opcode_call(self, computation):
    meter = computation._gas_meter
    amount = self.gas_cost
    if type(meter) is GasMeter and 0 <= amount <= meter.gas_remaining \
            and type(computation).consume_gas is _stock_consume_gas and not GasMeter.logger.show_debug2:
        meter.gas_remaining -= amount
    else:
        computation.consume_gas(amount, self.mnemonic)
    return self.logic_fn(computation)


def clear() -> None:
    _accounts.clear()
    _jump_analysis.clear()


def patches() -> list:
    return [
        (BaseState, "logger", property(lambda self: _state_logger(type(self)))),
        (CodeStream, "__init__", _code_stream_init),
        (AccountDB, "_get_account", _get_account),
        (_FastOpcode, "__call__", _opcode_call),
        (CancunState, "set_system_contracts", _cancun_system_contracts),
        (PragueState, "set_system_contracts", _prague_system_contracts),
    ]
