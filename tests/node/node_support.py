"""Helpers for the node suite: raw JSON-RPC calls, the test contract, signed transfers."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from web3 import Web3

from imochain.chain import NodeConfig
from imochain.testing import rpc


# Keys of the standard test mnemonic (anvil / Hardhat): accounts 0..2.
KEYS = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
]
ACCTS = [Account.from_key(k) for k in KEYS]

TEST_SOURCE = r"""
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

contract Store {
    uint256 public value;                      // slot 0
    mapping(address => uint256) public credit; // slot 1
    event Set(address indexed who, uint256 indexed value, string note);
    event Ping(uint256 n);
    error Unauthorized(address caller, uint256 code);

    constructor(uint256 v) payable { value = v; }

    function set(uint256 v) external {
        require(v != 13, "unlucky number");
        value = v;
        emit Set(msg.sender, v, "set");
    }
    function ping(uint256 n) external { emit Ping(n); }
    function fail(string calldata reason) external pure { revert(reason); }
    function failCustom() external view { revert Unauthorized(msg.sender, 42); }
    function failEmpty() external pure { revert(); }
    function divide(uint256 a, uint256 b) external pure returns (uint256) { return a / b; }
    function invalid() external pure { assembly { invalid() } }
    function stamp() external view returns (uint256) { return block.timestamp; }
    function number() external view returns (uint256) { return block.number; }
    function balanceOf(address a) external view returns (uint256) { return a.balance; }
    function burn(uint256 n) external { for (uint256 i = 0; i < n; i++) { credit[address(uint160(i))] = i + 1; } }
}
"""



def compile_sources(sources: dict[str, str]) -> dict:
    from imochain.contracts import solc
    why = solc.toolchain_missing()
    if why:
        pytest.skip(f"the pinned solc is needed to compile test contracts: {why}")
    std = {"language": "Solidity",
           "sources": {name: {"content": src} for name, src in sources.items()},
           "settings": {"optimizer": {"enabled": True, "runs": 200}, "evmVersion": "cancun",
                        "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object",
                                                        "evm.deployedBytecode.object"]}}}}
    out = solc.compile_standard_json(std, timeout=120)
    errors = [e for e in out.get("errors", []) if e["severity"] == "error"]
    assert not errors, errors
    contracts = {}
    for file_out in out["contracts"].values():
        for name, c in file_out.items():
            contracts[name] = {"abi": c["abi"], "bytecode": "0x" + c["evm"]["bytecode"]["object"],
                               "runtime": "0x" + c["evm"]["deployedBytecode"]["object"]}
    return contracts


def node_config(**kw) -> NodeConfig:
    kw.setdefault("genesis_contracts", False)
    return NodeConfig(**kw)


def call(url: str, method: str, params: list | None = None):
    """A JSON-RPC call that must succeed; returns its result."""
    resp = rpc(url, method, params or [])
    assert "error" not in resp, (method, params, resp)
    return resp["result"]


def rpc_error(url: str, method: str, params: list | None = None) -> dict:
    """A JSON-RPC call that must fail; returns its error object."""
    resp = rpc(url, method, params or [])
    assert "error" in resp, (method, params, resp)
    assert "result" not in resp
    return resp["error"]


def raw_post(url: str, body: bytes, timeout: float = 60):
    """POST raw bytes; returns (HTTP status, parsed JSON or None)."""
    import urllib.error
    import urllib.request
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            data = resp.read()
            return resp.status, (json.loads(data) if data else None)
    except urllib.error.HTTPError as exc:
        data = exc.read()
        return exc.code, (json.loads(data) if data else None)


def deploy(w3: Web3, artifact: dict, *args, sender=None):
    """Deploy with web3.py from a dev account; returns the bound contract."""
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx_hash = factory.constructor(*args).transact({"from": sender or w3.eth.accounts[0]})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt.status == 1
    return w3.eth.contract(address=receipt.contractAddress, abi=artifact["abi"])


def chain_state(url: str, addresses) -> dict:
    """What a failed request must leave alone: head, balances, nonces and the pool."""
    out = {"block": call(url, "eth_blockNumber"),
           "head": call(url, "eth_getBlockByNumber", ["latest", False])["hash"],
           "pool": call(url, "txpool_status")}
    for a in addresses:
        out[a] = (call(url, "eth_getBalance", [a, "latest"]),
                  call(url, "eth_getTransactionCount", [a, "latest"]))
    return out


def signed(key: str, nonce: int, to: str | None = None, value: int = 1, **fields) -> bytes:
    """A signed transaction (EIP-1559 unless gasPrice is given), raw bytes."""
    tx = {"value": value, "gas": 21000, "nonce": nonce, "chainId": 31337,
          "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}
    if to is not None:
        tx["to"] = to
    tx.update(fields)
    if "gasPrice" in fields:
        tx.pop("maxFeePerGas", None)
        tx.pop("maxPriorityFeePerGas", None)
    return bytes(Account.sign_transaction(tx, key).raw_transaction)


def hexraw(raw: bytes) -> str:
    return "0x" + raw.hex()
