"""Dev-chain controls with anvil's names: snapshots, time travel, mining modes, the mempool,
impersonation, state edits (anvil_ and hardhat_ aliases), dump/reset/load of state."""

from __future__ import annotations

import time

import pytest

from imochain.testing import running_node
from node_support import ACCTS, KEYS, call, deploy, hexraw, node_config, rpc_error, signed

Z = "0x" + "00" * 32
HUNG = 60  # seconds: a bound on a hung test, not a speed requirement (a paused CI machine misses 4 s)


def head(url) -> dict:
    return call(url, "eth_getBlockByNumber", ["latest", False])


def balance(url, a, block="latest") -> int:
    return int(call(url, "eth_getBalance", [a, block]), 16)


def nonce(url, a, block="latest") -> int:
    return int(call(url, "eth_getTransactionCount", [a, block]), 16)


@pytest.fixture
def manual(node_url):
    """Automine off for one test, back on (and the pool empty) afterwards."""
    sid = call(node_url, "evm_snapshot")
    call(node_url, "evm_setAutomine", [False])
    yield
    call(node_url, "anvil_dropAllTransactions")
    call(node_url, "evm_setAutomine", [True])
    call(node_url, "evm_revert", [sid])


# ------------------------------------------------------------------ snapshots

def test_snapshot_revert_restores_balances_nonces_head(w3, node_url):
    a, b = w3.eth.accounts[0], w3.eth.accounts[1]
    before = (head(node_url)["hash"], balance(node_url, a), balance(node_url, b), nonce(node_url, a))
    start_number = w3.eth.block_number
    sid = call(node_url, "evm_snapshot")
    h = w3.eth.send_transaction({"from": a, "to": b, "value": 10**18})
    mined_in = w3.eth.wait_for_transaction_receipt(h).blockHash.to_0x_hex()
    call(node_url, "anvil_mine", ["0x3"])
    call(node_url, "anvil_setBalance", [b, "0x1"])
    assert balance(node_url, b) == 1
    assert call(node_url, "evm_revert", [sid]) is True
    assert (head(node_url)["hash"], balance(node_url, a), balance(node_url, b), nonce(node_url, a)) == before
    # the reverted transaction is gone: no receipt, no transaction
    assert call(node_url, "eth_getTransactionReceipt", [h.to_0x_hex()]) is None
    assert call(node_url, "eth_getTransactionByHash", [h.to_0x_hex()]) is None
    assert call(node_url, "eth_getBlockByHash", [mined_in, False]) is None
    assert rpc_error(node_url, "eth_getLogs", [{"blockHash": mined_in}])["code"] in (-32000, -32602)
    # a snapshot can be used once; later ids are gone too
    assert call(node_url, "evm_revert", [sid]) is False
    # new blocks after a revert reuse the numbers, with new hashes
    h2 = w3.eth.send_transaction({"from": a, "to": b, "value": 1})
    r2 = w3.eth.wait_for_transaction_receipt(h2)
    assert r2.blockNumber == start_number + 1 and r2.blockHash.to_0x_hex() != mined_in
    assert w3.eth.get_transaction_count(a) == before[3] + 1


def test_nested_snapshots(w3, node_url):
    a = w3.eth.accounts[7]
    base = balance(node_url, a)
    s1 = call(node_url, "evm_snapshot")
    call(node_url, "anvil_setBalance", [a, hex(111)])
    s2 = call(node_url, "evm_snapshot")
    call(node_url, "anvil_setBalance", [a, hex(222)])
    assert call(node_url, "evm_revert", [s2]) is True
    assert balance(node_url, a) == 111
    assert call(node_url, "evm_revert", [s1]) is True
    assert balance(node_url, a) == base
    assert call(node_url, "evm_revert", ["0x999"]) is False


# ------------------------------------------------------------------ time travel

def test_increase_time_and_next_timestamp(w3, node_url, isolated):
    t0 = int(head(node_url)["timestamp"], 16)
    call(node_url, "evm_increaseTime", [3600])
    call(node_url, "evm_mine")
    t1 = int(head(node_url)["timestamp"], 16)
    assert t1 >= t0 + 3600
    target = t1 + 10_000
    assert call(node_url, "evm_setNextBlockTimestamp", [target]) is None
    h = w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": w3.eth.accounts[1], "value": 1})
    assert w3.eth.get_block(w3.eth.wait_for_transaction_receipt(h).blockNumber).timestamp == target
    call(node_url, "evm_mine")
    assert int(head(node_url)["timestamp"], 16) > target
    # evm_mine with an explicit timestamp
    call(node_url, "evm_mine", [target + 500])
    assert int(head(node_url)["timestamp"], 16) == target + 500
    # a timestamp not after the head is refused and mines nothing
    number = head(node_url)["number"]
    err = rpc_error(node_url, "evm_setNextBlockTimestamp", [target])
    assert err["code"] in (-32602, -32000)
    err = rpc_error(node_url, "evm_mine", [target])
    assert err["code"] in (-32602, -32000)
    assert head(node_url)["number"] == number
    assert rpc_error(node_url, "evm_increaseTime", ["later"])["code"] == -32602


def test_block_timestamp_visible_to_contracts(w3, node_url, store_artifact, isolated):
    store = deploy(w3, store_artifact, 0)
    future = w3.eth.get_block("latest").timestamp + 7 * 86400
    call(node_url, "evm_setNextBlockTimestamp", [hex(future)])
    call(node_url, "evm_mine")
    assert store.functions.stamp().call(block_identifier="latest") >= future


def test_timestamps_strictly_increase(w3, node_url, isolated):
    call(node_url, "anvil_mine", ["0x5"])
    n = w3.eth.block_number
    stamps = [w3.eth.get_block(i).timestamp for i in range(n - 5, n + 1)]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))
    call(node_url, "anvil_mine", ["0x3", "0x64"])  # 3 blocks 100 s apart
    stamps = [w3.eth.get_block(i).timestamp for i in range(n + 1, n + 4)]
    assert stamps[1] - stamps[0] == 100 and stamps[2] - stamps[1] == 100


# ------------------------------------------------------------------ mining modes

def test_manual_mining_txpool(w3, node_url, manual):
    a, b = w3.eth.accounts[0], w3.eth.accounts[1]
    assert call(node_url, "anvil_getAutomine") is False
    number = w3.eth.block_number
    h = w3.eth.send_transaction({"from": a, "to": b, "value": 5})
    assert w3.eth.block_number == number
    assert call(node_url, "eth_getTransactionReceipt", [h.to_0x_hex()]) is None
    pending_tx = call(node_url, "eth_getTransactionByHash", [h.to_0x_hex()])
    assert pending_tx["blockHash"] is None and pending_tx["blockNumber"] is None
    assert call(node_url, "txpool_status") == {"pending": "0x1", "queued": "0x0"}
    content = call(node_url, "txpool_content")
    n = nonce(node_url, a)
    assert content["pending"][a][str(n)]["hash"] == h.to_0x_hex()
    assert nonce(node_url, a, "pending") == n + 1
    assert call(node_url, "evm_mine") == "0x0"
    receipt = w3.eth.get_transaction_receipt(h)
    assert receipt.blockNumber == number + 1
    assert call(node_url, "txpool_status") == {"pending": "0x0", "queued": "0x0"}


def test_anvil_mine_many(w3, node_url, isolated):
    number = w3.eth.block_number
    call(node_url, "anvil_mine", ["0x64"])
    assert w3.eth.block_number == number + 100
    call(node_url, "hardhat_mine", ["0x2"])
    assert w3.eth.block_number == number + 102
    call(node_url, "anvil_mine")
    assert w3.eth.block_number == number + 103
    call(node_url, "evm_mine", [{"blocks": 2}])
    assert w3.eth.block_number == number + 105


def test_interval_mining():
    with running_node(node_config(block_time=1)) as url:
        assert call(url, "anvil_getAutomine") is False
        start = int(call(url, "eth_blockNumber"), 16)
        h = call(url, "eth_sendTransaction", [{"from": ACCTS[0].address, "to": ACCTS[1].address, "value": "0x1"}])
        deadline = time.time() + HUNG
        receipt = None
        while time.time() < deadline and receipt is None:
            time.sleep(0.2)
            receipt = call(url, "eth_getTransactionReceipt", [h])
        assert receipt is not None and receipt["status"] == "0x1"
        while time.time() < deadline and int(call(url, "eth_blockNumber"), 16) < start + 2:
            time.sleep(0.2)
        assert int(call(url, "eth_blockNumber"), 16) >= start + 2
        # switching interval mining off stops it
        call(url, "evm_setIntervalMining", [0])
        n = int(call(url, "eth_blockNumber"), 16)
        time.sleep(1.5)
        assert int(call(url, "eth_blockNumber"), 16) == n
        # back to automine: a transaction is mined at once
        call(url, "evm_setAutomine", [True])
        h = call(url, "eth_sendTransaction", [{"from": ACCTS[0].address, "to": ACCTS[1].address, "value": "0x1"}])
        assert call(url, "eth_getTransactionReceipt", [h])["blockNumber"] == hex(n + 1)
        # and interval mining switched on over RPC
        call(url, "evm_setIntervalMining", [1])
        assert call(url, "anvil_getAutomine") is False
        deadline = time.time() + HUNG
        while time.time() < deadline and int(call(url, "eth_blockNumber"), 16) < n + 2:
            time.sleep(0.2)
        assert int(call(url, "eth_blockNumber"), 16) >= n + 2
        # anvil_reset goes back to genesis but keeps mining at the interval
        call(url, "anvil_reset")
        assert int(call(url, "eth_blockNumber"), 16) <= 1
        deadline = time.time() + HUNG
        while time.time() < deadline and int(call(url, "eth_blockNumber"), 16) < 2:
            time.sleep(0.2)
        assert int(call(url, "eth_blockNumber"), 16) >= 2
        assert call(url, "anvil_getAutomine") is False
        call(url, "evm_setIntervalMining", [0])


# ------------------------------------------------------------------ mempool

def test_future_nonce_queued_then_promoted(w3, node_url, isolated):
    acct = ACCTS[1]
    n = nonce(node_url, acct.address)
    number = w3.eth.block_number
    later = call(node_url, "eth_sendRawTransaction", [hexraw(signed(acct.key, n + 1, ACCTS[2].address, 2))])
    assert w3.eth.block_number == number  # nothing mined: the gap is open
    assert call(node_url, "txpool_status") == {"pending": "0x0", "queued": "0x1"}
    assert str(n + 1) in call(node_url, "txpool_content")["queued"][acct.address]
    first = call(node_url, "eth_sendRawTransaction", [hexraw(signed(acct.key, n, ACCTS[2].address, 1))])
    r1 = call(node_url, "eth_getTransactionReceipt", [first])
    r2 = call(node_url, "eth_getTransactionReceipt", [later])
    assert r1 is not None and r2 is not None
    assert nonce(node_url, acct.address) == n + 2
    assert call(node_url, "txpool_status") == {"pending": "0x0", "queued": "0x0"}


def test_replacement_needs_higher_fee(w3, node_url, manual):
    acct = ACCTS[2]
    n = nonce(node_url, acct.address)
    to = ACCTS[0].address
    first = call(node_url, "eth_sendRawTransaction", [hexraw(signed(acct.key, n, to, 1))])
    same_fee = signed(acct.key, n, to, 2)
    err = rpc_error(node_url, "eth_sendRawTransaction", [hexraw(same_fee)])
    assert err["code"] == -32000 and "replacement transaction underpriced" in err["message"]
    # resending the very same bytes: already known
    err = rpc_error(node_url, "eth_sendRawTransaction", [hexraw(signed(acct.key, n, to, 1))])
    assert err["code"] == -32000 and "already known" in err["message"]
    better = call(node_url, "eth_sendRawTransaction", [hexraw(
        signed(acct.key, n, to, 3, maxFeePerGas=2 * 10**10, maxPriorityFeePerGas=2 * 10**9))])
    content = call(node_url, "txpool_content")["pending"][acct.address]
    assert content[str(n)]["hash"] == better
    assert call(node_url, "eth_getTransactionByHash", [first]) is None
    call(node_url, "evm_mine")
    assert call(node_url, "eth_getTransactionReceipt", [better])["status"] == "0x1"
    assert call(node_url, "eth_getTransactionReceipt", [first]) is None


def test_drop_transaction(w3, node_url, manual):
    a = w3.eth.accounts[3]
    h = w3.eth.send_transaction({"from": a, "to": a, "value": 1}).to_0x_hex()
    assert call(node_url, "txpool_status")["pending"] == "0x1"
    assert call(node_url, "anvil_dropTransaction", [h]) == h
    assert call(node_url, "txpool_status")["pending"] == "0x0"
    assert call(node_url, "eth_getTransactionByHash", [h]) is None
    assert call(node_url, "anvil_dropTransaction", [h]) is None
    call(node_url, "evm_mine")
    assert call(node_url, "eth_getTransactionReceipt", [h]) is None


def test_block_orders_by_nonce_and_fee(w3, node_url, manual):
    a, b = ACCTS[0], ACCTS[1]
    na, nb = nonce(node_url, a.address), nonce(node_url, b.address)
    hashes = [call(node_url, "eth_sendRawTransaction", [hexraw(signed(a.key, na + 1, b.address))]),
              call(node_url, "eth_sendRawTransaction", [hexraw(signed(a.key, na, b.address))]),
              call(node_url, "eth_sendRawTransaction", [hexraw(
                  signed(b.key, nb, a.address, maxPriorityFeePerGas=5 * 10**9))])]
    call(node_url, "evm_mine")
    block = head(node_url)
    assert block["transactions"] == [hashes[2], hashes[1], hashes[0]]


# ------------------------------------------------------------------ impersonation

def test_impersonation(w3, node_url, isolated):
    whale = "0x" + "be" * 20
    whale_cs = w3.to_checksum_address(whale)
    call(node_url, "anvil_setBalance", [whale, hex(10**20)])
    tx = {"from": whale_cs, "to": ACCTS[0].address, "value": hex(10**18)}
    err = rpc_error(node_url, "eth_sendTransaction", [tx])
    assert err["code"] in (-32000, -32602)
    assert call(node_url, "anvil_impersonateAccount", [whale]) is None
    before = balance(node_url, ACCTS[0].address)
    h = call(node_url, "eth_sendTransaction", [tx])
    receipt = call(node_url, "eth_getTransactionReceipt", [h])
    assert receipt["status"] == "0x1" and receipt["from"] == whale_cs
    assert call(node_url, "eth_getTransactionByHash", [h])["from"] == whale_cs
    assert balance(node_url, ACCTS[0].address) == before + 10**18
    assert nonce(node_url, whale) == 1
    # hardhat alias, and a contract call from the impersonated account
    call(node_url, "hardhat_stopImpersonatingAccount", [whale])
    err = rpc_error(node_url, "eth_sendTransaction", [tx])
    assert err["code"] in (-32000, -32602)
    call(node_url, "hardhat_impersonateAccount", [whale])
    h2 = call(node_url, "eth_sendTransaction", [dict(tx, value="0x1")])
    assert call(node_url, "eth_getTransactionReceipt", [h2])["from"] == whale_cs
    call(node_url, "anvil_stopImpersonatingAccount", [whale])
    assert nonce(node_url, whale) == 2


def test_impersonated_contract_call(w3, node_url, store_artifact, isolated):
    store = deploy(w3, store_artifact, 0)
    someone = w3.to_checksum_address("0x" + "5a" * 20)
    call(node_url, "anvil_setBalance", [someone, hex(10**18)])
    call(node_url, "anvil_impersonateAccount", [someone])
    try:
        h = store.functions.set(8).transact({"from": someone})
        receipt = w3.eth.wait_for_transaction_receipt(h)
        assert receipt.status == 1
        assert store.events.Set().process_receipt(receipt)[0].args.who == someone
    finally:
        call(node_url, "anvil_stopImpersonatingAccount", [someone])


# ------------------------------------------------------------------ state edits

@pytest.mark.parametrize("prefix", ["anvil", "hardhat"])
def test_set_balance_code_nonce_storage(w3, node_url, store_artifact, prefix, isolated):
    target = "0x" + "c0" * 20
    number = w3.eth.block_number
    assert call(node_url, f"{prefix}_setBalance", [target, hex(12345)]) is None
    assert balance(node_url, target) == 12345
    call(node_url, f"{prefix}_setNonce", [target, "0x7"])
    assert nonce(node_url, target) == 7
    call(node_url, f"{prefix}_setCode", [target, store_artifact["runtime"]])
    assert call(node_url, "eth_getCode", [target, "latest"]) == store_artifact["runtime"]
    call(node_url, f"{prefix}_setStorageAt", [target, "0x0", "0x" + (42).to_bytes(32, "big").hex()])
    assert int(call(node_url, "eth_getStorageAt", [target, "0x0", "latest"]), 16) == 42
    store = w3.eth.contract(address=w3.to_checksum_address(target), abi=store_artifact["abi"])
    assert store.functions.value().call() == 42
    # the code runs in transactions too
    h = store.functions.set(43).transact({"from": w3.eth.accounts[0]})
    assert w3.eth.wait_for_transaction_receipt(h).status == 1
    assert store.functions.value().call() == 43
    assert w3.eth.block_number == number + 1  # edits mine nothing


def test_state_edit_bad_params(node_url):
    assert rpc_error(node_url, "anvil_setBalance", ["0x1234", "0x1"])["code"] == -32602
    assert rpc_error(node_url, "anvil_setBalance", ["0x" + "11" * 20, "lots"])["code"] == -32602
    assert rpc_error(node_url, "anvil_setBalance", ["0x" + "11" * 20])["code"] == -32602
    assert rpc_error(node_url, "anvil_setCode", ["0x" + "11" * 20, "0xzz"])["code"] == -32602
    assert rpc_error(node_url, "anvil_setStorageAt", ["0x" + "11" * 20, "0x0", "0x01"])["code"] == -32602


def test_dump_reset_load_round_trip(w3, node_url, store_artifact):
    sid = call(node_url, "evm_snapshot")
    store = deploy(w3, store_artifact, 77)
    w3.eth.wait_for_transaction_receipt(store.functions.burn(3).transact({"from": ACCTS[0].address}))
    target = "0x" + "d0" * 20
    call(node_url, "anvil_setBalance", [target, hex(999)])
    call(node_url, "anvil_setNonce", [target, "0x3"])
    a0 = ACCTS[0].address
    a0_state = (balance(node_url, a0), nonce(node_url, a0))
    dump = call(node_url, "anvil_dumpState")
    assert isinstance(dump, str) and dump.startswith("0x")
    assert call(node_url, "anvil_reset") is None
    assert w3.eth.block_number == 0
    assert call(node_url, "eth_getCode", [store.address, "latest"]) == "0x"
    assert balance(node_url, target) == 0
    assert balance(node_url, a0) == 10_000 * 10**18
    assert call(node_url, "anvil_loadState", [dump]) is True
    assert call(node_url, "eth_getCode", [store.address, "latest"]) == store_artifact["runtime"]
    assert store.functions.value().call() == 77
    assert [store.functions.credit(w3.to_checksum_address(i.to_bytes(20, "big"))).call() for i in range(4)] \
        == [1, 2, 3, 0]  # mapping slots (hashed keys) survive too
    assert balance(node_url, target) == 999 and nonce(node_url, target) == 3
    assert (balance(node_url, a0), nonce(node_url, a0)) == a0_state
    # the chain keeps working after a load
    h = store.functions.set(78).transact({"from": a0})
    assert w3.eth.wait_for_transaction_receipt(h).status == 1
    assert store.functions.value().call() == 78
    assert rpc_error(node_url, "anvil_loadState", ["0x1234"])["code"] == -32602
    call(node_url, "evm_revert", [sid])  # snapshots are gone after a reset: harmless


def test_pending_tx_that_became_invalid_is_dropped(w3, node_url, manual):
    """A pooled transaction that can no longer run (its sender lost the money) is dropped at
    mining time; the block is still mined with the others and later blocks are unaffected."""
    acct = ACCTS[2]
    n = nonce(node_url, acct.address)
    doomed = call(node_url, "eth_sendRawTransaction", [hexraw(signed(acct.key, n, ACCTS[0].address, 10**18))])
    fine = call(node_url, "eth_sendRawTransaction", [hexraw(signed(KEYS[1], nonce(node_url, ACCTS[1].address),
                                                                       ACCTS[0].address, 5))])
    call(node_url, "anvil_setBalance", [acct.address, "0x1"])
    number = w3.eth.block_number
    assert call(node_url, "evm_mine") == "0x0"
    assert w3.eth.block_number == number + 1
    assert call(node_url, "eth_getTransactionReceipt", [doomed]) is None
    assert call(node_url, "eth_getTransactionReceipt", [fine])["status"] == "0x1"
    assert call(node_url, "txpool_status") == {"pending": "0x0", "queued": "0x0"}
    assert nonce(node_url, acct.address) == n and balance(node_url, acct.address) == 1
    call(node_url, "evm_mine")
    assert w3.eth.block_number == number + 2


def test_oversized_initcode_rejected_and_chain_keeps_mining(w3, node_url, isolated):
    acct = ACCTS[0]
    n = nonce(node_url, acct.address)
    raw = signed(acct.key, n, None, 0, data="0x" + "00" * 49153, gas=5_000_000)
    err = rpc_error(node_url, "eth_sendRawTransaction", [hexraw(raw)])
    assert err["code"] == -32000 and "initcode" in err["message"]
    err = rpc_error(node_url, "eth_call", [{"from": acct.address, "data": "0x" + "00" * 49153}])
    assert err["code"] == -32000 and "49152" in err["message"]
    assert call(node_url, "txpool_status") == {"pending": "0x0", "queued": "0x0"}
    h = w3.eth.send_transaction({"from": acct.address, "to": ACCTS[1].address, "value": 1})
    assert w3.eth.wait_for_transaction_receipt(h).status == 1


def test_impersonated_legacy_transaction(w3, node_url, isolated):
    """A gasPrice (type 0) transaction from an impersonated account is mined, not dropped."""
    for who in ("0x" + "be" * 20, "0x" + "a1" * 20, "0x" + "07" * 20):
        call(node_url, "anvil_setBalance", [who, hex(10**20)])
        call(node_url, "anvil_impersonateAccount", [who])
        h = call(node_url, "eth_sendTransaction", [{"from": who, "to": ACCTS[0].address, "value": "0x1",
                                                    "gasPrice": hex(3 * 10**9)}])
        receipt = call(node_url, "eth_getTransactionReceipt", [h])
        assert receipt is not None and receipt["status"] == "0x1" and receipt["type"] == "0x0", who
        assert receipt["from"].lower() == who
        call(node_url, "anvil_stopImpersonatingAccount", [who])


def test_send_transaction_types(w3, node_url, isolated):
    a, b = ACCTS[0].address, ACCTS[1].address

    def sent_type(**fields):
        h = call(node_url, "eth_sendTransaction", [dict({"from": a, "to": b, "value": "0x1"}, **fields)])
        return call(node_url, "eth_getTransactionByHash", [h])["type"]
    assert sent_type() == "0x2"
    assert sent_type(gasPrice=hex(3 * 10**9)) == "0x0"
    assert sent_type(type="0x0") == "0x0"
    assert sent_type(gasPrice=hex(3 * 10**9), accessList=[{"address": b, "storageKeys": []}]) == "0x1"
    assert sent_type(maxFeePerGas=hex(5 * 10**9), maxPriorityFeePerGas=hex(10**9)) == "0x2"
