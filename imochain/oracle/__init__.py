"""Node-side services that act on blocks: the AI-oracle worker, the opML challenger, their sender.

Both services run after a block's listeners have all seen it (`Node.defer`), so subscribers see
blocks in order; with automine their transactions go into one block rather than one block each.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

from .challenger import Challenger
from .offlock import OffLockRunner
from .recovery import recover
from .sender import BlockService, Sender
from .requests import RequestBook
from .worker import TEXT_ANSWER_TOKENS, BatchRecord, OracleWorker, corrupt

log = logging.getLogger("imochain.oracle")

__all__ = ["BatchRecord", "BlockService", "Challenger", "OracleWorker", "Sender", "corrupt", "start_services",
           "oracle_worker"]


def start_services(node, oracle: bool = True, challenger: bool = True, fault_rate: float = 0.0,
                   seed: int = 7, max_tokens: int = TEXT_ANSWER_TOKENS, offlock: bool = True) -> list:
    """Start the worker and challenger on a node whose genesis has the IMO contracts. `offlock`:
    slow inference (text answers, big batches) runs off the node's lock and is answered in a
    later block (oracle.offlock); False runs it inside the block that saw the request."""
    if node.inference is None:
        return []
    try:
        from imochain.contracts import GENESIS_ADDRESSES
        from imochain.contracts.genesis import CHALLENGE_BOND, OPERATOR_PRIVATE_KEY
    except ImportError:
        return []
    oracle_addr = bytes.fromhex(GENESIS_ADDRESSES["AIOracle"][2:])
    if not node.get_code(oracle_addr):
        return []
    services = []
    book = RequestBook()  # each request's state, shared by both services (imo_getRequest)
    if oracle:
        services.append(OracleWorker(node, bytes.fromhex(OPERATOR_PRIVATE_KEY[2:]), oracle_addr, fault_rate, seed))
        services[-1].book = book
        services[-1].text_tokens = max_tokens
        if offlock:
            worker = services[-1]
            worker.offlock = OffLockRunner(worker)
            worker.offlock.submit_call(lambda: recover(worker), first=True)  # a restarted node's pending requests
    runner = services[0].offlock if services else None
    _warm_up_inference(node, runner=runner)
    if challenger:
        # dev account 8 plays the independent watcher; its bond comes from its own balance
        key = node.accounts[8].key if len(node.accounts) > 8 else node.accounts[-1].key
        services.append(Challenger(node, key, oracle_addr, bytes.fromhex(GENESIS_ADDRESSES["OpML"][2:]),
                                   CHALLENGE_BOND, book))
    # the bisection players ride along in node.services (callers unpack the first two)
    node.services = services + _bisection_players(node, oracle, challenger, oracle_addr)
    return services


def _bisection_players(node, oracle: bool, challenger: bool, oracle_addr: bytes) -> list:
    """The operator's and the challenger's sides of the bisection game over int8 text answers."""
    from imochain.contracts import GENESIS_ADDRESSES
    from imochain.contracts.genesis import CHALLENGE_BOND, OPERATOR_PRIVATE_KEY
    from .bisection import BisectionChallenger, BisectionOperator
    addrs = [bytes.fromhex(GENESIS_ADDRESSES[n][2:]) for n in ("OpML", "OpMLBisection")]
    if not node.get_code(addrs[1]):
        return []
    players = []
    if oracle:
        players.append(BisectionOperator(node, bytes.fromhex(OPERATOR_PRIVATE_KEY[2:]), oracle_addr, *addrs))
    if challenger:
        key = node.accounts[8].key if len(node.accounts) > 8 else node.accounts[-1].key
        players.append(BisectionChallenger(node, key, oracle_addr, *addrs, CHALLENGE_BOND))
    return players


def _warm_up_inference(node, delay: float = 2.0, runner=None) -> None:
    """Import torch and build the models' runtimes in the background, after start-up, so the
    first oracle request does not pay for them (seconds on a small CPU). On the off-lock
    runner's thread when there is one: the process's exit then waits for it rather than cut a
    thread off inside torch (which aborts the process)."""

    def warm(deferred: bool = False):
        if runner is not None:
            if not deferred and not runner.quiet_for(delay):  # let the server come up and answer first
                if not runner.stopping.is_set():
                    runner.submit_call(lambda: warm(True))  # requests came first: warm up after them
                return
        else:
            time.sleep(delay)
        try:
            node.inference.warm_up()
        except Exception:  # warming is an optimisation only
            log.debug("warm-up failed", exc_info=True)
        _freeze_start_up()

    if runner is not None:
        runner.submit_call(warm)
    else:
        threading.Thread(target=warm, name="imochain-warmup", daemon=True).start()


_frozen = False


def _freeze_start_up() -> None:
    """Once per process, after torch and the models are in: what start-up built (~400 000
    objects) lives as long as the process, so it leaves the collector's scans (gc.freeze).
    A full collection then walks what the chain made since, not torch: ~0.3 s → ms each."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()  # start-up's garbage first: frozen objects are never freed
        gc.freeze()


def oracle_worker(node) -> OracleWorker | None:
    """The node's running oracle worker, if any."""
    return next((s for s in node.services if isinstance(s, OracleWorker)), None)
