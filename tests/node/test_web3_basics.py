"""web3.py against the live HTTP server: transfers, deploys, contract calls, block and
transaction shapes, EIP-1559 fields, raw legacy (type 0) and access-list (type 1) transactions."""

from __future__ import annotations

from eth_account import Account
from web3 import Web3

from node_support import ACCTS, KEYS, call, deploy, signed


def test_chain_basics(w3):
    assert w3.eth.chain_id == 31337
    assert w3.net.version == "31337"
    accounts = w3.eth.accounts
    assert len(accounts) == 10
    assert accounts[0] == ACCTS[0].address
    assert w3.eth.get_balance(accounts[9]) == 10_000 * 10**18
    assert w3.client_version.startswith("imochain")
    assert w3.eth.syncing is False
    assert w3.eth.gas_price > 0
    assert w3.eth.max_priority_fee > 0


def test_transfer_and_receipt(w3, isolated):
    a, b = w3.eth.accounts[0], w3.eth.accounts[1]
    before_a, before_b = w3.eth.get_balance(a), w3.eth.get_balance(b)
    nonce = w3.eth.get_transaction_count(a)
    tx_hash = w3.eth.send_transaction({"from": a, "to": b, "value": 12345})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
    assert receipt.status == 1
    assert receipt.gasUsed == 21000
    assert receipt["from"] == a and receipt.to == b
    assert receipt.type == 2
    assert receipt.effectiveGasPrice > 0
    assert w3.eth.get_balance(b) == before_b + 12345
    assert w3.eth.get_balance(a) == before_a - 12345 - 21000 * receipt.effectiveGasPrice
    assert w3.eth.get_transaction_count(a) == nonce + 1
    tx = w3.eth.get_transaction(tx_hash)
    assert tx.hash == tx_hash and tx.blockNumber == receipt.blockNumber
    assert tx.nonce == nonce and tx.value == 12345
    assert tx.maxFeePerGas >= tx.maxPriorityFeePerGas > 0
    assert tx.gasPrice == receipt.effectiveGasPrice


def test_latest_block_full_transactions_parse(w3, isolated):
    tx_hash = w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": w3.eth.accounts[2], "value": 1})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    block = w3.eth.get_block("latest", full_transactions=True)
    assert block.number == receipt.blockNumber
    assert block.hash == receipt.blockHash
    assert len(block.transactions) == 1
    tx = block.transactions[0]
    assert tx.hash == tx_hash and tx.blockHash == block.hash and tx.transactionIndex == 0
    assert block.baseFeePerGas > 0
    assert block.gasLimit == 30_000_000
    assert block.gasUsed == 21000
    for field in ("parentHash", "stateRoot", "transactionsRoot", "receiptsRoot", "logsBloom",
                  "miner", "timestamp", "extraData", "size", "difficulty", "mixHash", "nonce"):
        assert field in block, field
    parent = w3.eth.get_block(block.number - 1)
    assert block.parentHash == parent.hash
    assert block.timestamp > parent.timestamp
    by_hash = w3.eth.get_block(block.hash)
    assert by_hash.number == block.number
    # A block is paid for at the base fee plus the tip, no more than maxFeePerGas
    assert tx.gasPrice == min(tx.maxFeePerGas, block.baseFeePerGas + tx.maxPriorityFeePerGas)


def test_block_lookups_by_index_and_count(w3, node_url, isolated):
    call(node_url, "evm_setAutomine", [False])
    hashes = [w3.eth.send_transaction({"from": w3.eth.accounts[i], "to": w3.eth.accounts[5], "value": i + 1})
              for i in range(3)]
    call(node_url, "evm_mine")
    call(node_url, "evm_setAutomine", [True])
    block = w3.eth.get_block("latest")
    assert sorted(block.transactions) == sorted(hashes)
    assert w3.eth.get_block_transaction_count(block.number) == 3
    assert w3.eth.get_block_transaction_count(block.hash) == 3
    assert call(node_url, "eth_getBlockTransactionCountByNumber", ["latest"]) == "0x3"
    for i in range(3):
        by_num = w3.eth.get_transaction_by_block(block.number, i)
        by_hash = w3.eth.get_transaction_by_block(block.hash, i)
        assert by_num.hash == by_hash.hash == block.transactions[i]
        assert by_num.transactionIndex == i
    assert call(node_url, "eth_getTransactionByBlockNumberAndIndex", [hex(block.number), "0x3"]) is None
    assert call(node_url, "eth_getTransactionByBlockHashAndIndex", ["0x" + "ab" * 32, "0x0"]) is None
    assert call(node_url, "eth_getBlockTransactionCountByHash", ["0x" + "ab" * 32]) is None
    receipts = w3.eth.get_block_receipts(block.number)
    assert [r.transactionHash for r in receipts] == list(block.transactions)
    assert [r.transactionIndex for r in receipts] == [0, 1, 2]
    assert receipts[-1].cumulativeGasUsed == 3 * 21000
    assert all(r.gasUsed == 21000 for r in receipts)
    assert [r["transactionHash"] for r in call(node_url, "eth_getBlockReceipts", [block.hash.to_0x_hex()])] \
        == [h.to_0x_hex() for h in block.transactions]
    assert call(node_url, "eth_getBlockByNumber", [hex(block.number + 100), False]) is None
    assert call(node_url, "eth_getBlockByHash", ["0x" + "cd" * 32, False]) is None


def test_deploy_call_transact(w3, store_artifact, isolated):
    store = deploy(w3, store_artifact, 7)
    assert w3.eth.get_code(store.address) == bytes.fromhex(store_artifact["runtime"][2:])
    assert store.functions.value().call() == 7
    tx_hash = store.functions.set(99).transact({"from": w3.eth.accounts[1]})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt.status == 1 and receipt.to == store.address
    assert store.functions.value().call() == 99
    events = store.events.Set().process_receipt(receipt)
    assert len(events) == 1
    assert events[0].args.who == w3.eth.accounts[1]
    assert events[0].args.value == 99 and events[0].args.note == "set"
    # call at an older block sees the old value
    assert store.functions.value().call(block_identifier=receipt.blockNumber - 1) == 7
    # the receipt of a contract creation names the contract
    creation = w3.eth.get_transaction_receipt(w3.eth.get_block(receipt.blockNumber - 1).transactions[0])
    assert creation.contractAddress == store.address and creation.to is None


def test_failed_transaction_mined_with_status_zero(w3, store_artifact, isolated):
    store = deploy(w3, store_artifact, 1)
    tx_hash = store.functions.set(13).transact({"from": w3.eth.accounts[0], "gas": 100_000})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt.status == 0
    assert 21000 < receipt.gasUsed < 100_000
    assert store.functions.value().call() == 1


def test_raw_legacy_type0(w3, isolated):
    key = KEYS[1]
    sender = ACCTS[1].address
    to = w3.eth.accounts[3]
    nonce = w3.eth.get_transaction_count(sender)
    before = w3.eth.get_balance(to)
    raw = signed(key, nonce, to, 777, gasPrice=3 * 10**9)
    tx_hash = w3.eth.send_raw_transaction(raw)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt.status == 1 and receipt.type == 0
    assert receipt.effectiveGasPrice == 3 * 10**9
    tx = w3.eth.get_transaction(tx_hash)
    assert tx.type == 0 and tx.gasPrice == 3 * 10**9 and tx.v in (27 + 0, 28, 31337 * 2 + 35, 31337 * 2 + 36)
    assert "maxFeePerGas" not in tx
    assert w3.eth.get_balance(to) == before + 777


def test_raw_pre_eip155_legacy(w3, isolated):
    # a legacy transaction with no chain id in its signature (as anvil, accepted)
    acct = ACCTS[2]
    nonce = w3.eth.get_transaction_count(acct.address)
    tx = {"to": w3.eth.accounts[4], "value": 5, "gas": 21000, "gasPrice": 2 * 10**9, "nonce": nonce}
    raw = Account.sign_transaction(tx, acct.key).raw_transaction
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw))
    assert receipt.status == 1 and receipt.type == 0
    assert w3.eth.get_transaction(receipt.transactionHash).v in (27, 28)


def test_raw_access_list_type1(w3, store_artifact, isolated):
    store = deploy(w3, store_artifact, 1)
    acct = ACCTS[1]
    nonce = w3.eth.get_transaction_count(acct.address)
    data = store.encode_abi("set", [5])
    access_list = [{"address": store.address, "storageKeys": ["0x" + "00" * 32]}]
    tx = {"type": 1, "to": store.address, "value": 0, "gas": 100_000, "gasPrice": 2 * 10**9,
          "nonce": nonce, "chainId": 31337, "data": data, "accessList": access_list}
    raw = Account.sign_transaction(tx, acct.key).raw_transaction
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw))
    assert receipt.status == 1 and receipt.type == 1
    got = w3.eth.get_transaction(receipt.transactionHash)
    assert got.type == 1 and got.chainId == 31337
    assert len(got.accessList) == 1 and got.accessList[0]["address"] == store.address
    assert [bytes.fromhex(k[2:]) if isinstance(k, str) else bytes(k) for k in got.accessList[0]["storageKeys"]] == [b"\0" * 32]
    assert store.functions.value().call() == 5


def test_raw_dynamic_fee_type2(w3, isolated):
    acct = ACCTS[2]
    nonce = w3.eth.get_transaction_count(acct.address)
    raw = signed(acct.key, nonce, w3.eth.accounts[6], 10, maxFeePerGas=50 * 10**9, maxPriorityFeePerGas=2 * 10**9)
    tx_hash = w3.eth.send_raw_transaction(raw)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    block = w3.eth.get_block(receipt.blockNumber)
    assert receipt.type == 2
    assert receipt.effectiveGasPrice == block.baseFeePerGas + 2 * 10**9
    tx = w3.eth.get_transaction(tx_hash)
    assert tx.maxFeePerGas == 50 * 10**9 and tx.maxPriorityFeePerGas == 2 * 10**9
    assert tx.gasPrice == receipt.effectiveGasPrice
    assert tx.yParity in (0, 1)


def test_unknown_hashes_are_null(w3, node_url):
    h = "0x" + "11" * 32
    assert call(node_url, "eth_getTransactionByHash", [h]) is None
    assert call(node_url, "eth_getTransactionReceipt", [h]) is None


def test_misc_methods(w3, node_url):
    assert call(node_url, "web3_sha3", ["0x68656c6c6f"]) == Web3.keccak(b"hello").to_0x_hex()
    assert call(node_url, "net_listening") is True
    assert call(node_url, "eth_coinbase").startswith("0x")
    assert call(node_url, "eth_chainId") == "0x7a69"
    assert int(call(node_url, "eth_blockNumber"), 16) == w3.eth.block_number


def test_raw_set_code_type4(w3, node_url, isolated):
    """EIP-7702: an account delegates to code; calls to it run that code."""
    delegate = "0x" + "de" * 20
    call(node_url, "anvil_setCode", [delegate, "0x600160005260206000f3"])  # returns uint256(1)
    eoa = ACCTS[2]
    nonce = w3.eth.get_transaction_count(eoa.address)
    auth = Account.sign_authorization({"chainId": 31337, "address": delegate, "nonce": nonce + 1}, eoa.key)
    tx = {"type": 4, "chainId": 31337, "nonce": nonce, "to": eoa.address, "value": 0, "gas": 100_000,
          "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "data": "0x", "accessList": [],
          "authorizationList": [auth]}
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(Account.sign_transaction(tx, eoa.key).raw_transaction))
    assert receipt.status == 1 and receipt.type == 4
    assert w3.eth.get_code(eoa.address) == bytes.fromhex("ef0100" + "de" * 20)
    assert int(call(node_url, "eth_call", [{"to": eoa.address}]), 16) == 1
    got = call(node_url, "eth_getTransactionByHash", [receipt.transactionHash.to_0x_hex()])
    assert got["type"] == "0x4" and got["authorizationList"][0]["address"].lower() == delegate
