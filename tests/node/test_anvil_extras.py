"""anvil methods that users hit first: Parity traces, metadata, block knobs (gas limit, base fee,
coinbase, timestamp interval), auto-impersonation, eth_getAccount, blockTimestamp, and the two
timings of anvil_mine and hardhat_mine."""

from __future__ import annotations

import logging

from eth_utils import keccak

from node_support import call, deploy, rpc_error


def head(url) -> dict:
    return call(url, "eth_getBlockByNumber", ["latest", False])


def test_trace_transaction_and_block_in_parity_format(w3, node_url, store_artifact, isolated):
    store = deploy(w3, store_artifact, 7)
    tx = store.functions.set(5).transact({"from": w3.eth.accounts[0]})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    (trace,) = call(node_url, "trace_transaction", [tx.to_0x_hex()])
    assert trace["type"] == "call" and trace["traceAddress"] == [] and trace["subtraces"] == 0
    assert trace["action"]["callType"] == "call" and trace["action"]["to"] == store.address
    assert trace["action"]["input"] == store.functions.set(5)._encode_transaction_data()
    assert trace["transactionHash"] == tx.to_0x_hex() and trace["blockNumber"] == receipt.blockNumber
    assert int(trace["result"]["gasUsed"], 16) > 0 and trace["result"]["output"] == "0x"
    assert call(node_url, "trace_block", [hex(receipt.blockNumber)]) == [trace]
    # a reverted transaction: error "Reverted", no result, as anvil answers
    bad = store.functions.set(13).transact({"from": w3.eth.accounts[0], "gas": 100_000})
    w3.eth.wait_for_transaction_receipt(bad)
    (failed,) = call(node_url, "trace_transaction", [bad.to_0x_hex()])
    assert failed["error"] == "Reverted" and failed["result"] is None
    assert rpc_error(node_url, "trace_transaction", ["0x" + "11" * 32])["message"] == "transaction not found"
    assert rpc_error(node_url, "trace_block", ["0x" + "11" * 32])["code"] == -32602


def test_trace_of_a_deployment_is_a_create(w3, node_url, store_artifact, isolated):
    factory = w3.eth.contract(abi=store_artifact["abi"], bytecode=store_artifact["bytecode"])
    tx = factory.constructor(1).transact({"from": w3.eth.accounts[0]})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    (trace,) = call(node_url, "trace_transaction", [tx.to_0x_hex()])
    assert trace["type"] == "create" and trace["action"]["creationMethod"] == "create"
    assert trace["result"]["address"] == receipt.contractAddress
    assert trace["result"]["code"] == store_artifact["runtime"]


def test_receipts_and_logs_carry_block_timestamp(w3, node_url, store_artifact, isolated):
    store = deploy(w3, store_artifact, 7)
    tx = store.functions.set(9).transact({"from": w3.eth.accounts[0]})
    receipt = call(node_url, "eth_getTransactionReceipt", [tx.to_0x_hex()])
    stamp = hex(w3.eth.get_block(int(receipt["blockNumber"], 16)).timestamp)
    assert receipt["blockTimestamp"] == stamp
    assert receipt["logs"] and all(entry["blockTimestamp"] == stamp for entry in receipt["logs"])
    logs = call(node_url, "eth_getLogs", [{"fromBlock": receipt["blockNumber"], "toBlock": receipt["blockNumber"]}])
    assert logs and logs[0]["blockTimestamp"] == stamp


def test_anvil_mine_and_hardhat_mine_space_blocks_as_each_tool_does(w3, node_url, isolated):
    start = head(node_url)
    assert call(node_url, "anvil_mine", ["0x3", "0xc"]) is None
    n = int(start["number"], 16)
    stamps = [int(start["timestamp"], 16)] + [w3.eth.get_block(n + i).timestamp for i in (1, 2, 3)]
    # anvil: the clock jumps 12 s before every block, the first one included (+36 s in all)
    assert [b - a for a, b in zip(stamps, stamps[1:])][1:] == [12, 12] and stamps[1] - stamps[0] >= 12
    assert call(node_url, "hardhat_mine", ["0x3", "0xc"]) is True
    later = [w3.eth.get_block(n + i).timestamp for i in (3, 4, 5, 6)]
    # Hardhat: the first block comes as usual (the next second), later ones 12 s apart
    assert later[2] - later[1] == 12 and later[3] - later[2] == 12 and 1 <= later[1] - later[0] < 12


def test_block_gas_limit_base_fee_coinbase_and_timestamp_interval(w3, node_url, isolated):
    assert call(node_url, "evm_setBlockGasLimit", [hex(25_000_000)]) is True
    call(node_url, "anvil_setNextBlockBaseFeePerGas", [hex(7 * 10**9)])
    coinbase = "0x" + "ab" * 20
    call(node_url, "anvil_setCoinbase", [coinbase])
    call(node_url, "anvil_setBlockTimestampInterval", [100])
    call(node_url, "evm_mine")
    call(node_url, "evm_mine")
    one, two = w3.eth.get_block(w3.eth.block_number - 1), w3.eth.get_block("latest")
    assert one.gasLimit == two.gasLimit == 25_000_000
    assert one.baseFeePerGas == 7 * 10**9 and two.baseFeePerGas != 7 * 10**9  # the next block only
    assert one.miner.lower() == coinbase
    assert two.timestamp - one.timestamp == 100
    assert call(node_url, "anvil_removeBlockTimestampInterval") is True
    assert call(node_url, "anvil_removeBlockTimestampInterval") is False
    assert call(node_url, "anvil_setBlockGasLimit", [hex(30_000_000)]) is True
    call(node_url, "anvil_setCoinbase", ["0x" + "00" * 20])
    assert rpc_error(node_url, "evm_setBlockGasLimit", ["0x10"])["code"] == -32602


def test_auto_impersonation_lets_any_address_send(w3, node_url, isolated):
    stranger = "0x" + "5e" * 20
    call(node_url, "anvil_setBalance", [stranger, hex(10**18)])
    tx = {"from": stranger, "to": w3.eth.accounts[0], "value": hex(1)}
    assert rpc_error(node_url, "eth_sendTransaction", [tx])["code"] in (-32000, -32602)
    call(node_url, "anvil_autoImpersonateAccount", [True])
    try:
        h = call(node_url, "eth_sendTransaction", [tx])
        assert w3.eth.wait_for_transaction_receipt(h).status == 1
    finally:
        call(node_url, "anvil_autoImpersonateAccount", [False])
    assert rpc_error(node_url, "eth_sendTransaction", [tx])["code"] in (-32000, -32602)


def test_eth_get_account(w3, node_url, store_artifact, isolated):
    store = deploy(w3, store_artifact, 7)
    acct = call(node_url, "eth_getAccount", [store.address, "latest"])
    assert acct["codeHash"] == "0x" + keccak(bytes.fromhex(store_artifact["runtime"][2:])).hex()
    assert acct["storageRoot"] != "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
    assert acct["nonce"] == "0x1"
    eoa = call(node_url, "eth_getAccount", [w3.eth.accounts[3]])
    assert eoa["codeHash"] == "0x" + keccak(b"").hex() and int(eoa["balance"], 16) > 0
    assert rpc_error(node_url, "eth_getAccount", ["0x1234"])["code"] == -32602


def test_metadata_node_info_and_switches(node_url):
    meta = call(node_url, "hardhat_metadata")
    assert meta == call(node_url, "anvil_metadata")
    assert meta["chainId"] == 31337 and meta["forkedNetwork"] is None and len(meta["instanceId"]) == 66
    assert meta["latestBlockHash"] == head(node_url)["hash"]
    sid = call(node_url, "evm_snapshot")
    assert call(node_url, "anvil_metadata")["snapshots"][str(int(sid, 16))] == [meta["latestBlockNumber"],
                                                                              meta["latestBlockHash"]]
    call(node_url, "evm_revert", [sid])
    info = call(node_url, "anvil_nodeInfo")
    assert info["currentBlockHash"] == meta["latestBlockHash"] and info["environment"]["chainId"] == 31337
    assert call(node_url, "anvil_enableTraces") is None
    err = rpc_error(node_url, "anvil_setMinGasPrice", ["0x1"])
    assert err["code"] == -32602 and "EIP-1559" in err["message"]
    try:
        call(node_url, "anvil_setLoggingEnabled", [False])
        assert not logging.getLogger("imochain.chain").isEnabledFor(logging.ERROR)
    finally:
        call(node_url, "anvil_setLoggingEnabled", [True])
    assert logging.getLogger("imochain.chain").isEnabledFor(logging.WARNING)


def test_trace_filter_by_range_and_address(w3, node_url, store_artifact, isolated):
    store = deploy(w3, store_artifact, 7)
    first = w3.eth.block_number
    sender = w3.eth.accounts[2]
    tx = store.functions.set(3).transact({"from": sender})
    w3.eth.wait_for_transaction_receipt(tx)
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": w3.eth.accounts[1], "value": 1})
    last = w3.eth.block_number
    everything = call(node_url, "trace_filter", [{"fromBlock": hex(first), "toBlock": hex(last)}])
    assert len(everything) == 3  # the deployment, the call, the transfer
    mine = call(node_url, "trace_filter", [{"fromBlock": hex(first), "toBlock": hex(last), "fromAddress": [sender]}])
    assert [t["transactionHash"] for t in mine] == [tx.to_0x_hex()]
    to_store = call(node_url, "trace_filter", [{"fromBlock": hex(first), "toBlock": hex(last),
                                                "toAddress": [store.address]}])
    assert {t["transactionHash"] for t in to_store} >= {tx.to_0x_hex()}
    page = call(node_url, "trace_filter", [{"fromBlock": hex(first), "toBlock": hex(last), "after": 1, "count": 1}])
    assert page == everything[1:2]
    assert rpc_error(node_url, "trace_filter", [{"fromBlock": "0x0", "toBlock": hex(10**6)}])["code"] in (-32000, -32602)
    assert rpc_error(node_url, "trace_filter", ["nope"])["code"] == -32602


def test_anvil_aliases(w3, node_url, isolated):
    assert call(node_url, "eth_networkId") == call(node_url, "net_version")
    assert call(node_url, "eth_requestAccounts") == call(node_url, "eth_accounts")
    stranger = "0x" + "77" * 20
    call(node_url, "evm_setAccountNonce", [stranger, "0x5"])
    assert call(node_url, "eth_getTransactionCount", [stranger]) == "0x5"
    assert call(node_url, "anvil_getIntervalMining") is None
    call(node_url, "hardhat_dropAllTransactions")
