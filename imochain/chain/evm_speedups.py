"""py-evm work that changes nothing, skipped: system-contract rewrites, logger look-ups.

Cancun's and Prague's states run `set_system_contracts()` whenever one is built (per block,
per call, per read-only view). Its test is inverted (`if not code != CONTRACT_CODE`): it
writes the contract's code again exactly when the account already holds it, and does nothing
otherwise. Writing identical code leaves the account's RLP, so every root, unchanged; but the
account joins the block's changed accounts and its trie path is rebuilt at every state root.
The replacement reads the code as before (same accesses, same errors) and writes nothing.

`BaseState.logger` builds its logger (a `logging.getLogger` under a lock, with a temporary
logger class) on every access, several times per transaction; `getLogger` returns the same
object for the same name, so it is looked up once per state class.
"""

from __future__ import annotations

import functools

from eth.vm.forks.cancun.constants import BEACON_ROOTS_ADDRESS
from eth.vm.forks.cancun.state import CancunState
from eth.vm.forks.prague.constants import HISTORY_STORAGE_ADDRESS
from eth.vm.forks.prague.state import PragueState
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


def patches() -> list:
    return [
        (BaseState, "logger", property(lambda self: _state_logger(type(self)))),
        (CancunState, "set_system_contracts", _cancun_system_contracts),
        (PragueState, "set_system_contracts", _prague_system_contracts),
    ]
