"""Helpers for the oracle / opML tests (fixtures are in conftest.py)."""

from __future__ import annotations

import functools

import pytest
from eth_utils import keccak


def tensor(dtype: int, shape: list[int], data: bytes) -> bytes:
    from eth_abi import encode

    return encode(["uint8", "uint32[]", "bytes"], [dtype, shape, data])


# ---------------------------------------------------------------- transactions


# A fixed gas allowance skips eth_estimateGas's binary search (many re-executions per send).
DEFAULT_GAS = 10_000_000


def send(fn, sender, value=0, gas=DEFAULT_GAS):
    """Transact; assert success; return the receipt."""
    params = {"from": sender, "value": value}
    if gas is not None:
        params["gas"] = gas
    w3 = fn.w3
    r = w3.eth.wait_for_transaction_receipt(fn.transact(params))
    assert r.status == 1, r
    return r


def reverts(fn, reason: str, sender, value=0, gas=None):
    """Assert that `fn` reverts with `reason` (substring of the revert message) in eth_call."""
    from web3.exceptions import ContractLogicError

    params = {"from": sender, "value": value}
    if gas is not None:
        params["gas"] = gas
    with pytest.raises(ContractLogicError) as info:
        fn.call(params)
    assert reason in str(info.value), f"expected {reason!r}, got {info.value!r}"
    return info.value


def mine(w3, n=1):
    for _ in range(n):
        w3.provider.make_request("evm_mine", [])


def _event_abis(contract):
    out = {}
    for e in contract.abi:
        if e["type"] == "event":
            sig = f"{e['name']}({','.join(i['type'] for i in e['inputs'])})"
            out[keccak(text=sig)] = e
    return out


def events(contract, name, receipt):
    """Decoded logs of event `name` emitted by `contract` (overloaded events included)."""
    from web3._utils.events import get_event_data

    abis = _event_abis(contract)
    out = []
    for log in receipt.logs:
        if log.address != contract.address or not log.topics:
            continue
        e = abis.get(bytes(log.topics[0]))
        if e is not None and e["name"] == name:
            out.append(get_event_data(contract.w3.codec, e, log))
    return out


def reverts_custom(fn, error_signature: str, sender, value=0):
    """Assert that `fn` reverts with the custom error `error_signature`; return its data (hex)."""
    from web3.exceptions import ContractCustomError, ContractLogicError

    with pytest.raises((ContractCustomError, ContractLogicError)) as info:
        fn.call({"from": sender, "value": value})
    data = info.value.data if isinstance(info.value.data, str) else str(info.value.data)
    sel = "0x" + keccak(text=error_signature)[:4].hex()
    assert data.startswith(sel), f"expected {error_signature}, got {data}"
    return data


# ---------------------------------------------------------------- a test-only consumer

TEST_CONSUMER_SOURCE = r"""
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

interface IOracleLike {
    function requestCallback(uint256, bytes calldata, address, uint64, bytes calldata) external payable returns (uint256);
    function estimateFee(uint256, uint256) external view returns (uint256);
}

/// Test consumer: counts deliveries, can revert, reject ETH, or chain a request from its callback.
contract TestConsumer {
    address public oracle;
    uint256 public deliveries;
    mapping(uint256 => uint256) public deliveriesOf;
    mapping(uint256 => bytes) public outputOf;
    uint256 public lastGasLeft;
    uint256 public errors;
    bool public revertOnCallback;
    bool public acceptEth;
    uint256 public chainModelId;
    uint256 public chainedRequestId;

    constructor(address oracle_) { oracle = oracle_; }

    function configure(bool revertOnCallback_, bool acceptEth_) external {
        revertOnCallback = revertOnCallback_;
        acceptEth = acceptEth_;
    }

    function setChain(uint256 modelId) external { chainModelId = modelId; }

    function request(uint256 modelId, bytes calldata input, uint64 gasLimit, bytes calldata data)
        external payable returns (uint256)
    {
        return IOracleLike(oracle).requestCallback{value: msg.value}(modelId, input, address(this), gasLimit, data);
    }

    function aiOracleCallback(uint256 id, bytes calldata output, bytes calldata) external {
        lastGasLeft = gasleft();
        require(msg.sender == oracle, "not oracle");
        require(!revertOnCallback, "consumer says no");
        deliveries++;
        deliveriesOf[id]++;
        outputOf[id] = output;
        uint256 m = chainModelId;
        if (m != 0) {
            chainModelId = 0;
            uint256 fee = IOracleLike(oracle).estimateFee(m, 0);
            chainedRequestId = IOracleLike(oracle).requestCallback{value: fee}(m, output, address(0), 0, "");
        }
    }

    function aiOracleCallbackError(uint256, uint8, bytes calldata, bytes calldata) external { errors++; }

    function claimRefund() external {
        (bool ok, bytes memory ret) = oracle.call(abi.encodeWithSignature("claimRefund()"));
        if (!ok) assembly { revert(add(ret, 32), mload(ret)) }
    }

    receive() external payable { require(acceptEth, "no eth"); }
}
"""


# Written the way ORA's consumer examples are (string prompts, the whole msg.value forwarded,
# ORA's base contract and interface names), against the repo's interface and base contract.
ORA_STYLE_SOURCE = r"""
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.9;

import "interfaces/IAIOracle.sol";
import "AIOracleCallbackReceiver.sol";

contract OraStylePrompt is AIOracleCallbackReceiver {
    mapping(uint256 => mapping(string => string)) public prompts;
    mapping(uint256 => string) public inputOf;
    mapping(uint256 => uint256) public modelOf;
    uint64 public constant GAS = 500000;

    constructor(IAIOracle _aiOracle) AIOracleCallbackReceiver(_aiOracle) {}

    function estimateFee(uint256 modelId) public view returns (uint256) {
        return aiOracle.estimateFee(modelId, GAS);
    }

    function calculateAIResult(uint256 modelId, string calldata prompt) external payable {
        uint256 requestId = aiOracle.requestCallback{value: msg.value}(modelId, bytes(prompt), address(this), GAS, "");
        inputOf[requestId] = prompt;
        modelOf[requestId] = modelId;
    }

    function aiOracleCallback(uint256 requestId, bytes calldata output, bytes calldata)
        external override onlyAIOracleCallback()
    {
        prompts[modelOf[requestId]][inputOf[requestId]] = string(output);
    }
}
"""


@functools.lru_cache(maxsize=None)
def _compiled_test_consumer():
    from imochain.contracts import build

    why = build.toolchain_missing()
    if why:
        return None, why
    out = build._run_solc(
        {
            "language": "Solidity",
            "sources": {
                "TestConsumer.sol": {"content": TEST_CONSUMER_SOURCE},
                "OraStylePrompt.sol": {"content": ORA_STYLE_SOURCE},
            },
            "settings": {
                "optimizer": {"enabled": True, "runs": 200},
                "evmVersion": build.EVM_VERSION,
                "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
            },
        }
    )
    errs = [e for e in out.get("errors", []) if e["severity"] == "error"]
    assert not errs, errs
    c = out["contracts"]["TestConsumer.sol"]["TestConsumer"]
    o = out["contracts"]["OraStylePrompt.sol"]["OraStylePrompt"]
    return (c["abi"], "0x" + c["evm"]["bytecode"]["object"], o["abi"], "0x" + o["evm"]["bytecode"]["object"]), None
