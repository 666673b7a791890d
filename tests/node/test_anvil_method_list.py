"""Every method of anvil's EthRequest list is either answered or listed in the README with why."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from imochain.builder import build_node
from imochain.chain import NodeConfig
from imochain.rpc import server  # noqa: F401  (registers every namespace)
from imochain.rpc.dispatch import Context, handle_one
from imochain.rpc.filters import FilterManager

# anvil's method names and aliases (foundry-rs/foundry crates/anvil/core/src/eth/mod.rs,
# EthRequest and EthPubSub), plus the newer ones named in issue 20
ANVIL = """
web3_clientVersion web3_sha3 eth_chainId eth_networkId net_version net_listening eth_gasPrice
eth_maxPriorityFeePerGas eth_blobBaseFee eth_accounts eth_requestAccounts eth_blockNumber
eth_getBalance eth_getAccount eth_getStorageAt eth_getBlockByHash eth_getBlockByNumber
eth_getTransactionCount eth_getBlockTransactionCountByHash eth_getBlockTransactionCountByNumber
eth_getUncleCountByBlockHash eth_getUncleCountByBlockNumber eth_getCode eth_getProof eth_sign
personal_sign eth_signTransaction eth_signTypedData eth_signTypedData_v3 eth_signTypedData_v4
eth_sendTransaction eth_sendRawTransaction eth_call eth_createAccessList eth_estimateGas
eth_getTransactionByHash eth_getTransactionByBlockHashAndIndex
eth_getTransactionByBlockNumberAndIndex eth_getRawTransactionByHash
eth_getRawTransactionByBlockHashAndIndex eth_getRawTransactionByBlockNumberAndIndex
eth_getTransactionReceipt eth_getBlockReceipts eth_getUncleByBlockHashAndIndex
eth_getUncleByBlockNumberAndIndex eth_getLogs eth_newFilter eth_getFilterChanges
eth_newBlockFilter eth_newPendingTransactionFilter eth_getFilterLogs eth_uninstallFilter
eth_getWork eth_submitWork eth_submitHashrate eth_feeHistory eth_syncing
debug_getRawTransaction debug_traceTransaction debug_traceCall trace_transaction trace_block
trace_filter anvil_impersonateAccount hardhat_impersonateAccount anvil_stopImpersonatingAccount
hardhat_stopImpersonatingAccount anvil_autoImpersonateAccount hardhat_autoImpersonateAccount
anvil_getAutomine hardhat_getAutomine anvil_mine hardhat_mine anvil_setAutomine evm_setAutomine
anvil_setIntervalMining evm_setIntervalMining anvil_getIntervalMining anvil_dropTransaction
hardhat_dropTransaction anvil_dropAllTransactions hardhat_dropAllTransactions anvil_reset
hardhat_reset anvil_setRpcUrl anvil_setBalance hardhat_setBalance anvil_setCode hardhat_setCode
anvil_setNonce hardhat_setNonce evm_setAccountNonce anvil_setStorageAt hardhat_setStorageAt
anvil_setCoinbase hardhat_setCoinbase anvil_setChainId anvil_setLoggingEnabled
hardhat_setLoggingEnabled anvil_setMinGasPrice hardhat_setMinGasPrice
anvil_setNextBlockBaseFeePerGas hardhat_setNextBlockBaseFeePerGas anvil_setTime evm_setTime
anvil_dumpState hardhat_dumpState anvil_loadState hardhat_loadState anvil_nodeInfo
anvil_metadata hardhat_metadata anvil_snapshot evm_snapshot anvil_revert evm_revert
anvil_increaseTime evm_increaseTime anvil_setNextBlockTimestamp evm_setNextBlockTimestamp
anvil_setBlockGasLimit evm_setBlockGasLimit anvil_setBlockTimestampInterval
anvil_removeBlockTimestampInterval evm_mine anvil_mine_detailed evm_mine_detailed
eth_sendUnsignedTransaction anvil_enableTraces txpool_status txpool_inspect txpool_content
erigon_getHeaderByNumber ots_getApiLevel ots_getInternalOperations ots_hasCode
ots_traceTransaction ots_getTransactionError ots_getBlockDetails ots_getBlockDetailsByHash
ots_getBlockTransactions ots_searchTransactionsBefore ots_searchTransactionsAfter
ots_getTransactionBySenderAndNonce ots_getContractCreator anvil_removePoolTransactions
anvil_reorg anvil_rollback wallet_getCapabilities wallet_sendTransaction odyssey_sendTransaction
anvil_addCapability anvil_setExecutor eth_subscribe eth_unsubscribe eth_simulateV1
debug_getRawReceipts debug_getRawBlock debug_getRawHeader
""".split()

WEBSOCKET_ONLY = {"eth_subscribe", "eth_unsubscribe"}  # answered on the WebSocket (test_websocket.py)

# answered now (issue 20): these must never fall back to -32601
NEW = """trace_transaction trace_block trace_filter anvil_metadata hardhat_metadata eth_getAccount
anvil_setCoinbase anvil_autoImpersonateAccount anvil_setNextBlockBaseFeePerGas
anvil_setBlockTimestampInterval anvil_removeBlockTimestampInterval anvil_setLoggingEnabled
anvil_nodeInfo anvil_setMinGasPrice anvil_enableTraces evm_setBlockGasLimit anvil_setBlockGasLimit
eth_networkId eth_requestAccounts evm_setAccountNonce hardhat_dropAllTransactions
anvil_getIntervalMining""".split()


def unanswered_table() -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("Methods of anvil's `EthRequest` list that imochain does not answer")
    return readme[start:readme.index("\n\n", readme.index("| methods | why |", start))]


@pytest.fixture(scope="module")
def answered() -> set[str]:
    """anvil's methods this node answers: called with no parameters, anything but -32601
    (a registered stub that answers "does not exist" counts as unanswered)."""
    node = build_node(NodeConfig(genesis_contracts=False, default_text_model=False))
    ctx = Context(node, FilterManager(node))
    out = set()
    for name in ANVIL:
        resp = handle_one(ctx, {"jsonrpc": "2.0", "id": 1, "method": name, "params": []})
        if resp.get("error", {}).get("code") != -32601:
            out.add(name)
    return out


def test_new_methods_are_answered(answered):
    assert [m for m in NEW if m not in answered] == []


def test_readme_lists_every_unanswered_anvil_method_with_a_reason(answered):
    table = unanswered_table()
    first_column = "\n".join(row.split("|")[1] for row in table.splitlines()[2:])
    listed = set(re.findall(r"`([a-z0-9]+_[A-Za-z0-9_]+)`", first_column))
    missing = [m for m in ANVIL if m not in answered and m not in listed and m not in WEBSOCKET_ONLY
               and not (m.startswith("ots_") and "`ots_*`" in table)]
    assert missing == []
    assert not [m for m in listed if m in answered], "README lists answered methods"
    for row in table.splitlines()[2:]:
        assert row.count("|") == 3 and row.split("|")[2].strip(), row
    assert "planned, issue 13" in table
