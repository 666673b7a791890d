"""Helpers shared by the ERC-7641, IMO and ERC-7007 tests: deploy from artifacts, send and expect
reverts, time travel, gas accounting, and test-only helper contracts compiled once per session."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import pytest
from eth_utils import keccak
from web3.exceptions import ContractLogicError

ARTIFACTS = Path(__file__).resolve().parents[2] / "imochain" / "contracts" / "artifacts"
ORA_ORACLE = "0x0A0f4321214BB6C7811dD8a71cF587bdaF03f0A0"


@functools.cache
def artifact(name: str) -> dict:
    return json.loads((ARTIFACTS / f"{name}.json").read_text())


def selector(sig: str) -> bytes:
    return keccak(text=sig)[:4]


def deploy_raw(w3, abi, bytecode, *args, sender, value=0, gas=15_000_000):
    factory = w3.eth.contract(abi=abi, bytecode=bytecode)
    params = {"from": sender, "value": value, "gas": gas}
    h = factory.constructor(*args).transact(params)
    r = w3.eth.wait_for_transaction_receipt(h)
    assert r.status == 1, r
    return w3.eth.contract(address=r.contractAddress, abi=abi)


def deploy(w3, name, *args, sender, value=0):
    art = artifact(name)
    return deploy_raw(w3, art["abi"], art["bytecode"], *args, sender=sender, value=value)


def at(w3, name, address):
    return w3.eth.contract(address=address, abi=artifact(name)["abi"])


# An explicit gas limit skips eth_estimateGas (a binary search of ~15 executions in py-evm);
# tests predict reverts and check them with `reverts`, so a failing send shows as status 0.
DEFAULT_GAS = 6_000_000


def send(w3, fn, sender, value=0, gas=DEFAULT_GAS):
    """Transact a contract function; assert success; return the receipt."""
    params = {"from": sender, "value": value, "gas": gas}
    r = w3.eth.wait_for_transaction_receipt(fn.transact(params))
    assert r.status == 1, r
    return r


def send_eth(w3, sender, to, value, gas=100_000):
    tx = {"from": sender, "to": to, "value": value, "gas": gas}
    r = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(tx))
    assert r.status == 1, r
    return r


def gas_cost(receipt) -> int:
    return receipt.gasUsed * receipt.effectiveGasPrice


def reverts(fn, reason: str | None = None, *, sender, value=0, error: str | None = None):
    """Assert that calling `fn` reverts with `reason` (a require string) or custom `error`
    (its signature, e.g. 'ERC20InsufficientBalance(address,uint256,uint256)')."""
    with pytest.raises(ContractLogicError) as info:
        fn.call({"from": sender, "value": value})
    exc = info.value
    if reason is not None:
        assert reason in str(exc), f"expected {reason!r}, got {exc!r}"
    if error is not None:
        data = exc.data if isinstance(exc.data, str) else str(exc.data)
        assert data.startswith("0x" + selector(error).hex()), f"expected {error}, got {data}"
    return exc


def events(contract, receipt, name):
    return [e.args for e in getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD)]


try:  # web3 >= 6
    from web3.logs import DISCARD
except ImportError:  # pragma: no cover
    DISCARD = None


def rpc(w3, method, *params):
    resp = w3.provider.make_request(method, list(params))
    if "error" in resp:
        raise RuntimeError(f"{method}: {resp['error']}")
    return resp["result"]


def increase_time(w3, seconds: int) -> None:
    """The next block is exactly `seconds` after the latest one. (evm_increaseTime shifts the
    wall clock, but blocks mined faster than one a second run ahead of it, so the gap to the
    latest block could be shorter.)"""
    rpc(w3, "evm_setNextBlockTimestamp", latest_timestamp(w3) + seconds)


def latest_timestamp(w3) -> int:
    return w3.eth.get_block("latest").timestamp


def block_timestamp(w3, receipt) -> int:
    return w3.eth.get_block(receipt.blockNumber).timestamp


# --------------------------------------------------------------------------- helper contracts
# Test-only contracts (never shipped): compiled once per session with the repo's pinned solc.

HELPERS_SOL = r"""
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

interface IToken {
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
    function snapshot() external returns (uint256);
}

/// A contract account that forwards calls and can refuse ETH (to reach "ETH transfer failed").
contract Actor {
    bool public acceptETH = true;

    function setAccept(bool a) external { acceptETH = a; }

    function exec(address target, bytes calldata data) external payable returns (bytes memory ret) {
        bool ok;
        (ok, ret) = target.call{value: msg.value}(data);
        if (!ok) assembly { revert(add(ret, 32), mload(ret)) }
    }

    receive() external payable { require(acceptETH, "Actor: rejecting ETH"); }
}

/// Borrows tokens, takes a snapshot and returns them, all in one transaction.
contract FlashSnapshotter {
    function attack(address token, address lender, uint256 amount) external returns (uint256 id) {
        IToken(token).transferFrom(lender, address(this), amount);
        id = IToken(token).snapshot();
        IToken(token).transfer(lender, amount);
    }
}

/// An opML game stand-in: the test decides finality and corrections.
interface IOracleCorrect {
    function onResultCorrected(uint256 requestId, bytes calldata output, address challenger) external;
}

contract MockOpML {
    mapping(uint256 => bytes32) public getOutputHash;
    mapping(uint256 => bool) public isFinalized;
    mapping(uint256 => uint256) public resultVersion;

    function submitResults(uint256[] calldata requestIds, bytes32[] calldata, bytes32[] calldata outputHashes,
                           address, uint256) external {
        for (uint256 i = 0; i < requestIds.length; ++i) {
            getOutputHash[requestIds[i]] = outputHashes[i];
            resultVersion[requestIds[i]] = 1;
        }
    }

    function bondOf(address) external pure returns (uint256) { return type(uint256).max; }
    function resultBond() external pure returns (uint256) { return 0; }

    function setFinalized(uint256 requestId, bool f) external { isFinalized[requestId] = f; }

    function correct(address oracle, uint256 requestId, bytes calldata output) external {
        getOutputHash[requestId] = keccak256(output);
        resultVersion[requestId] += 1;
        isFinalized[requestId] = true;
        IOracleCorrect(oracle).onResultCorrected(requestId, output, msg.sender);
    }
}
"""


@functools.cache
def helper_artifacts() -> dict:
    import hashlib
    import tempfile

    from imochain.contracts import build

    # Compiling costs seconds; keep the result per source text (and compiler pin) on disk.
    key = hashlib.sha256((HELPERS_SOL + build.SOLC_VERSION).encode()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / f"imochain-test-helpers-{key}.json"
    if cache.exists():
        try:
            return json.loads(cache.read_text())
        except ValueError:
            pass
    why = build.toolchain_missing()
    if why:
        pytest.skip(f"helper contracts need the compiler: {why}")
    out = build._run_solc(
        {
            "language": "Solidity",
            "sources": {"Helpers.sol": {"content": HELPERS_SOL}},
            "settings": {
                "optimizer": {"enabled": True, "runs": 200},
                "evmVersion": "prague",
                "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
            },
        }
    )
    errs = [e for e in out.get("errors", []) if e["severity"] == "error"]
    assert not errs, errs
    arts = {
        n: {"abi": c["abi"], "bytecode": "0x" + c["evm"]["bytecode"]["object"]}
        for n, c in out["contracts"]["Helpers.sol"].items()
    }
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(arts))
    os.replace(tmp, cache)
    return arts


def deploy_helper(w3, name, *args, sender):
    art = helper_artifacts()[name]
    return deploy_raw(w3, art["abi"], art["bytecode"], *args, sender=sender)


# --------------------------------------------------------------------------- fixtures
# One in-process chain per test module; each test runs between evm_snapshot and evm_revert.


@pytest.fixture(scope="module")
def chain():
    from imochain.testing import in_process_web3

    w3, node = in_process_web3()
    yield w3
    close = getattr(node, "close", None)
    if close:
        close()


@pytest.fixture
def w3(chain):
    snap = rpc(chain, "evm_snapshot")
    yield chain
    rpc(chain, "evm_revert", snap)


@pytest.fixture
def accounts(chain):
    return chain.eth.accounts
