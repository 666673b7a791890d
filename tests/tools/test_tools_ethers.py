"""ethers v6 against a running imochain node: tests/tools/ethers_flow.mjs runs under node and
prints a JSON summary that this test checks.

It covers JsonRpcProvider network detection, a JsonRpcSigner (eth_sendTransaction) and a Wallet
(eth_sendRawTransaction), ContractFactory.deploy with constructor args, tx.wait(), queryFilter
(eth_getLogs), a contract.on listener (eth_newFilter + eth_getFilterChanges), a pending-tx
listener (eth_newPendingTransactionFilter), reverts as CALL_EXCEPTION with their reason or
decoded custom error, signMessage and signTypedData, fee data, and a WebSocketProvider on the
same port: newHeads and a contract event (logs) subscription.
"""

from __future__ import annotations

import json

import pytest

from tools_support import DEV_ADDRS, HERE, ROOT

REASON = "Counter: value too large"


@pytest.fixture(scope="module")
def summary(node_js, counter_artifact, run_tool, imochain_url):
    if not (ROOT / "node_modules" / "ethers" / "package.json").exists():
        pytest.skip("the npm package ethers is not installed (run `npm ci` in the repo root)")
    proc = run_tool([node_js, HERE / "ethers_flow.mjs", imochain_url, counter_artifact],
                    cwd=ROOT, timeout=90)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_network_and_signers(summary):
    assert summary["chainId"] == 31337
    assert summary["signerAddress"] == DEV_ADDRS[0]
    assert summary["walletAddress"] == DEV_ADDRS[1]
    assert summary["wsChainId"] == 31337


def test_deploy_with_constructor_args(summary):
    assert summary["deployStatus"] == 1
    assert summary["deployContractAddress"] == summary["contractAddress"]
    assert summary["initialNumber"] == "5"
    assert summary["label"] == "ethers"
    assert summary["owner"] == DEV_ADDRS[1]


def test_transactions_receipts_and_events(summary):
    inc = summary["incrementTx"]
    assert inc["status"] == 1 and inc["from"] == DEV_ADDRS[0] and inc["logs"] == 1 and inc["type"] == 2
    assert summary["incrementEvent"] == {"name": "Incremented", "by": DEV_ADDRS[0], "newValue": "6"}
    assert summary["numberAfterIncrement"] == "6"
    assert summary["queryFilter"] == [{"by": DEV_ADDRS[0], "newValue": "6", "blockNumber": inc["blockNumber"]}]
    assert summary["setNumber"] == {"status": 1, "number": "99"}
    assert summary["numberSetEvents"] == [["6", "99"]]


def test_polling_listener_heard_the_event(summary):
    heard = summary["listener"]
    assert heard["by"] == DEV_ADDRS[0] and heard["value"] == "6"
    assert heard["txHash"] == summary["incrementTx"]["hash"]
    assert heard["blockNumber"] == summary["incrementTx"]["blockNumber"]


def test_reverts_are_call_exceptions_with_reasons(summary):
    for key in ("revertSend", "revertCall"):  # estimateGas, then eth_call
        err = summary[key]
        assert err["isCallException"] and err["code"] == "CALL_EXCEPTION", err
        assert err["reason"] == REASON
        assert err["revertName"] == "Error" and err["revertArgs"] == [REASON]
        assert err["data"].startswith("0x08c379a0")
    custom = summary["customError"]
    assert custom["isCallException"] and custom["revertName"] == "NotOwner"
    assert custom["revertArgs"] == [DEV_ADDRS[0]]
    mined = summary["revertMined"]
    assert mined["isCallException"] and mined["receiptStatus"] == 0


def test_transfer_signature_blocks_and_fees(summary):
    assert summary["transfer"]["status"] == 1
    assert summary["pendingHeard"]["hash"] == summary["pendingHeard"]["expected"]
    assert summary["transfer"]["delta"] == str(5 * 10**17)
    assert summary["signMessageRecovered"] == DEV_ADDRS[0]
    assert summary["signTypedDataRecovered"] == DEV_ADDRS[0]
    assert summary["latestBlock"]["txs"] == 1 and int(summary["latestBlock"]["baseFeePerGas"]) > 0
    assert int(summary["feeData"]["gasPrice"]) > 0 and int(summary["feeData"]["maxFeePerGas"]) > 0


def test_websocket_new_block_subscription(summary):
    ws = summary["wsBlock"]
    assert ws["heard"] == ws["mined"]
    assert summary["endBlock"] >= ws["mined"] > summary["startBlock"]


def test_websocket_contract_event_subscription(summary):
    event = summary["wsEvent"]
    assert event["txHash"] == event["expectedTx"]
    assert event["by"] == DEV_ADDRS[1] and event["value"] == "100"  # 99, then +1 from the wallet
