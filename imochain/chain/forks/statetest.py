"""A runner for Ethereum's `state_test` fixtures (execution-spec-tests): one transaction on a
given pre-state under a fork's rules, checked by post-state root and logs hash.

    python -m imochain.chain.forks.statetest FIXTURE.json|DIR [--fork Osaka]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import rlp
from eth.chains.base import ChainContext
from eth.consensus.context import ConsensusContext
from eth.constants import BLANK_ROOT_HASH, EMPTY_UNCLE_HASH, ZERO_HASH32
from eth.db.atomic import AtomicDB
from eth.db.chain import ChainDB
from eth_utils import keccak

from . import vm_class


@dataclass
class CaseResult:
    name: str
    fork: str
    index: int
    passed: bool
    detail: str = ""


def _int(value: str) -> int:
    return int(value, 16)


def _bytes(value: str) -> bytes:
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


def _header(vmc, env: dict, state_root: bytes):
    fields = dict(
        parent_hash=ZERO_HASH32, uncles_hash=EMPTY_UNCLE_HASH, coinbase=_bytes(env["currentCoinbase"]),
        state_root=state_root, difficulty=_int(env.get("currentDifficulty", "0x0")),
        block_number=_int(env["currentNumber"]), gas_limit=_int(env["currentGasLimit"]),
        timestamp=_int(env["currentTimestamp"]), mix_hash=_bytes(env.get("currentRandom", "0x" + "00" * 32)),
        base_fee_per_gas=_int(env.get("currentBaseFee", "0x0")), withdrawals_root=BLANK_ROOT_HASH,
        blob_gas_used=0, excess_blob_gas=_int(env.get("currentExcessBlobGas", "0x0")),
        parent_beacon_block_root=ZERO_HASH32, requests_hash=ZERO_HASH32,
    )
    header_class = dict(vmc.block_class._meta.fields)["header"]
    accepted = {name for name, _ in header_class._meta.fields}
    return header_class(**{k: v for k, v in fields.items() if k in accepted})


def run_case(test: dict, fork: str, index: int, post: dict, name: str = "") -> CaseResult:
    vmc = vm_class(fork)
    chain_context = ChainContext(_int(test.get("config", {}).get("chainid", "0x1")))
    chaindb = ChainDB(AtomicDB())
    state = vmc.build_state(chaindb.db, _header(vmc, test["env"], BLANK_ROOT_HASH), chain_context)
    for address, account in test["pre"].items():
        a = _bytes(address)
        state.set_balance(a, _int(account["balance"]))
        state.set_nonce(a, _int(account["nonce"]))
        state.set_code(a, _bytes(account["code"]))
        for slot, value in account.get("storage", {}).items():
            state.set_storage(a, _int(slot), _int(value))
    state.persist()
    header = _header(vmc, test["env"], state.state_root)
    vm = vmc(header=header, chaindb=chaindb, chain_context=chain_context,
             consensus_context=ConsensusContext(chaindb.db))
    expected_error = post.get("expectException")
    logs = []
    try:
        tx = vmc.get_transaction_builder().decode(_bytes(post["txbytes"]))
        tx.validate()
        receipt, _ = vm.apply_transaction(header, tx)
        logs = receipt.logs
    except Exception as exc:  # any invalid transaction: the fixture must expect one
        if not expected_error:
            return CaseResult(name, fork, index, False, f"unexpected rejection: {exc!r}")
    else:
        if expected_error:
            return CaseResult(name, fork, index, False, f"accepted, expected {expected_error}")
    vm.state.persist()
    root, logs_hash = vm.state.state_root, keccak(rlp.encode(logs))
    if root != _bytes(post["hash"]):
        return CaseResult(name, fork, index, False, f"state root 0x{root.hex()} != {post['hash']}")
    if logs_hash != _bytes(post["logs"]):
        return CaseResult(name, fork, index, False, f"logs hash 0x{logs_hash.hex()} != {post['logs']}")
    return CaseResult(name, fork, index, True)


def cases(path: Path, fork: str | None = None) -> Iterator[tuple[str, dict, str, int, dict]]:
    """(name, test, fork, index, post) for every post entry of every fixture under `path`."""
    files = sorted(path.rglob("*.json")) if path.is_dir() else [path]
    for file in files:
        for name, test in json.loads(file.read_text()).items():
            for fork_name, posts in test["post"].items():
                if fork is None or fork_name.lower() == fork.lower():
                    for i, post in enumerate(posts):
                        yield name, test, fork_name, i, post


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="statetest", description=__doc__.splitlines()[0])
    ap.add_argument("path", type=Path, help="a state_test fixture file or a folder of them")
    ap.add_argument("--fork", help="only this fork's post states (default: all)")
    args = ap.parse_args(argv)
    if not args.path.exists():
        print(f"statetest: no such file or folder: {args.path}", file=sys.stderr)
        return 2
    total = failed = 0
    for name, test, fork, i, post in cases(args.path, args.fork):
        result = run_case(test, fork, i, post, name)
        total += 1
        if not result.passed:
            failed += 1
            print(f"FAIL {name} [{fork} #{i}]: {result.detail}")
    print(f"{total - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
