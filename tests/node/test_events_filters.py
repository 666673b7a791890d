"""Events and logs over HTTP: receipt logs, eth_getLogs (address, topics, ranges, blockHash),
web3.py's get_logs, and polling filters (log, block and pending-transaction filters)."""

from __future__ import annotations

import pytest
from web3 import Web3

from node_support import call, deploy, rpc_error

SET_TOPIC = Web3.keccak(text="Set(address,uint256,string)").to_0x_hex()
PING_TOPIC = Web3.keccak(text="Ping(uint256)").to_0x_hex()


def topic_addr(a: str) -> str:
    return "0x" + "00" * 12 + a[2:].lower()


def topic_int(n: int) -> str:
    return "0x" + n.to_bytes(32, "big").hex()


@pytest.fixture(scope="module")
def logs_setup(w3, store_artifact):
    """Two contracts, each with events in known blocks (this module's chain only)."""
    a, b = w3.eth.accounts[0], w3.eth.accounts[1]
    s1 = deploy(w3, store_artifact, 0)
    s2 = deploy(w3, store_artifact, 0)
    blocks = {}
    for i, (contract, sender, value) in enumerate([(s1, a, 1), (s1, b, 2), (s2, a, 3), (s2, b, 4)]):
        h = contract.functions.set(value).transact({"from": sender})
        blocks[value] = w3.eth.wait_for_transaction_receipt(h).blockNumber
    h = s1.functions.ping(5).transact({"from": a})
    blocks["ping"] = w3.eth.wait_for_transaction_receipt(h).blockNumber
    return {"s1": s1, "s2": s2, "blocks": blocks, "a": a, "b": b}


def get_logs(url, **flt):
    return call(url, "eth_getLogs", [flt])


def test_receipt_logs(w3, logs_setup):
    s1 = logs_setup["s1"]
    block = logs_setup["blocks"][1]
    receipt = w3.eth.get_block_receipts(block)[0]
    assert len(receipt.logs) == 1
    entry = receipt.logs[0]
    assert entry.address == s1.address
    assert entry.topics[0].to_0x_hex() == SET_TOPIC
    assert entry.topics[1].to_0x_hex() == topic_addr(logs_setup["a"])
    assert entry.topics[2].to_0x_hex() == topic_int(1)
    assert entry.blockNumber == block and entry.logIndex == 0 and entry.transactionIndex == 0
    assert entry.removed is False
    assert entry.transactionHash == receipt.transactionHash
    # the bloom of the receipt and of the block mention the contract
    assert receipt.logsBloom != b"\0" * 256
    assert w3.eth.get_block(block).logsBloom == receipt.logsBloom


def test_get_logs_by_address_topics_and_range(node_url, logs_setup):
    s1, s2 = logs_setup["s1"].address, logs_setup["s2"].address
    blocks = logs_setup["blocks"]
    everything = get_logs(node_url, fromBlock="earliest", toBlock="latest")
    assert len(everything) == 5
    assert len(get_logs(node_url, fromBlock="0x0", address=s1)) == 3
    assert len(get_logs(node_url, fromBlock="0x0", address=[s1, s2])) == 5
    assert len(get_logs(node_url, fromBlock="0x0", address=s2.lower())) == 2
    only_set = get_logs(node_url, fromBlock="0x0", topics=[SET_TOPIC])
    assert len(only_set) == 4
    either = get_logs(node_url, fromBlock="0x0", topics=[[SET_TOPIC, PING_TOPIC]])
    assert len(either) == 5
    by_b = get_logs(node_url, fromBlock="0x0", topics=[SET_TOPIC, topic_addr(logs_setup["b"])])
    assert [int(e["topics"][2], 16) for e in by_b] == [2, 4]
    wildcard = get_logs(node_url, fromBlock="0x0", topics=[None, None, topic_int(3)])
    assert len(wildcard) == 1 and wildcard[0]["address"] == s2
    # block ranges are inclusive
    ranged = get_logs(node_url, fromBlock=hex(blocks[2]), toBlock=hex(blocks[3]))
    assert [int(e["blockNumber"], 16) for e in ranged] == [blocks[2], blocks[3]]
    assert get_logs(node_url, fromBlock=hex(blocks[4]), toBlock=hex(blocks[2])) == []
    # default range is latest only
    latest = get_logs(node_url)
    assert all(int(e["blockNumber"], 16) == int(call(node_url, "eth_blockNumber"), 16) for e in latest)
    assert get_logs(node_url, fromBlock="0x0", address="0x" + "42" * 20) == []
    # past the head: the range stops at the head; a range wholly in the future is empty
    head = int(call(node_url, "eth_blockNumber"), 16)
    assert len(get_logs(node_url, fromBlock="0x0", toBlock=hex(head + 1000))) == len(everything)
    assert get_logs(node_url, fromBlock=hex(head + 1), toBlock=hex(head + 1000)) == []


def test_get_logs_by_block_hash(w3, node_url, logs_setup):
    block = w3.eth.get_block(logs_setup["blocks"][3])
    logs = get_logs(node_url, blockHash=block.hash.to_0x_hex())
    assert len(logs) == 1 and logs[0]["blockHash"] == block.hash.to_0x_hex()
    err = rpc_error(node_url, "eth_getLogs", [{"blockHash": block.hash.to_0x_hex(), "fromBlock": "0x0"}])
    assert err["code"] == -32602
    err = rpc_error(node_url, "eth_getLogs", [{"blockHash": "0x" + "77" * 32}])
    assert err["code"] in (-32000, -32602)


def test_get_logs_bad_filters(node_url):
    for flt, word in [({"address": "0x1234"}, "address"), ({"topics": ["0x12"]}, "topics"),
                      ({"fromBlock": "yesterday"}, "fromBlock"), ({"topics": [None] * 5}, "topics")]:
        err = rpc_error(node_url, "eth_getLogs", [flt])
        assert err["code"] == -32602, (flt, err)
        assert word in err["message"], (flt, err)


def test_web3_contract_get_logs(w3, logs_setup):
    s1 = logs_setup["s1"]
    events = s1.events.Set.get_logs(from_block=0)
    assert [e.args.value for e in events] == [1, 2]
    assert events[1].args.who == logs_setup["b"]
    pings = s1.events.Ping.get_logs(from_block=0, to_block="latest")
    assert [e.args.n for e in pings] == [5]
    filtered = s1.events.Set.get_logs(from_block=0, argument_filters={"who": logs_setup["a"]})
    assert [e.args.value for e in filtered] == [1]


def test_log_filter_changes_and_logs(w3, node_url, logs_setup):
    s1 = logs_setup["s1"]
    fid = call(node_url, "eth_newFilter", [{"address": s1.address, "topics": [SET_TOPIC], "fromBlock": "0x0"}])
    assert call(node_url, "eth_getFilterChanges", [fid]) == []
    h = s1.functions.set(11).transact({"from": logs_setup["a"]})
    w3.eth.wait_for_transaction_receipt(h)
    s1.functions.ping(12).transact({"from": logs_setup["a"]})  # does not match
    logs_setup["s2"].functions.set(13 + 1).transact({"from": logs_setup["a"]})  # other address
    changes = call(node_url, "eth_getFilterChanges", [fid])
    assert len(changes) == 1 and int(changes[0]["topics"][2], 16) == 11
    assert changes[0]["transactionHash"] == h.to_0x_hex()
    assert call(node_url, "eth_getFilterChanges", [fid]) == []
    all_logs = call(node_url, "eth_getFilterLogs", [fid])
    assert [int(e["topics"][2], 16) for e in all_logs] == [1, 2, 11]
    assert call(node_url, "eth_uninstallFilter", [fid]) is True
    assert call(node_url, "eth_uninstallFilter", [fid]) is False
    err = rpc_error(node_url, "eth_getFilterChanges", [fid])
    assert err["code"] == -32000 and "filter not found" in err["message"]


def test_log_filter_respects_its_block_range(w3, node_url, logs_setup):
    s1 = logs_setup["s1"]
    head = w3.eth.block_number
    ended = call(node_url, "eth_newFilter", [{"address": s1.address, "fromBlock": "0x0", "toBlock": hex(head)}])
    later = call(node_url, "eth_newFilter", [{"address": s1.address, "fromBlock": hex(head + 2)}])
    h1 = s1.functions.ping(1).transact({"from": logs_setup["a"]})  # block head + 1
    h2 = s1.functions.ping(2).transact({"from": logs_setup["a"]})  # block head + 2
    assert w3.eth.wait_for_transaction_receipt(h2).blockNumber == head + 2
    assert call(node_url, "eth_getFilterChanges", [ended]) == []
    assert [e["transactionHash"] for e in call(node_url, "eth_getFilterChanges", [later])] == [h2.to_0x_hex()]
    assert h1 != h2
    for fid in (ended, later):
        assert call(node_url, "eth_uninstallFilter", [fid]) is True


def test_block_filter(w3, node_url):
    fid = call(node_url, "eth_newBlockFilter")
    assert call(node_url, "eth_getFilterChanges", [fid]) == []
    call(node_url, "anvil_mine", ["0x3"])
    changes = call(node_url, "eth_getFilterChanges", [fid])
    assert len(changes) == 3
    assert changes[-1] == w3.eth.get_block("latest").hash.to_0x_hex()
    assert call(node_url, "eth_getFilterChanges", [fid]) == []
    err = rpc_error(node_url, "eth_getFilterLogs", [fid])
    assert err["code"] == -32000
    assert call(node_url, "eth_uninstallFilter", [fid]) is True


def test_pending_transaction_filter(w3, node_url):
    fid = call(node_url, "eth_newPendingTransactionFilter")
    h1 = w3.eth.send_transaction({"from": w3.eth.accounts[3], "to": w3.eth.accounts[4], "value": 1})
    h2 = w3.eth.send_transaction({"from": w3.eth.accounts[3], "to": w3.eth.accounts[4], "value": 2})
    assert call(node_url, "eth_getFilterChanges", [fid]) == [h1.to_0x_hex(), h2.to_0x_hex()]
    assert call(node_url, "eth_getFilterChanges", [fid]) == []
    assert call(node_url, "eth_uninstallFilter", [fid]) is True


def test_web3_filter_objects(w3, logs_setup):
    s2 = logs_setup["s2"]
    event_filter = s2.events.Set.create_filter(from_block="latest")
    block_filter = w3.eth.filter("latest")
    h = s2.functions.set(21).transact({"from": logs_setup["b"]})
    receipt = w3.eth.wait_for_transaction_receipt(h)
    entries = event_filter.get_new_entries()
    assert [e.args.value for e in entries] == [21]
    assert receipt.blockHash in block_filter.get_new_entries()
    assert w3.eth.uninstall_filter(event_filter.filter_id)


def test_filter_id_errors(node_url):
    assert rpc_error(node_url, "eth_getFilterChanges", [123])["code"] == -32602
    assert rpc_error(node_url, "eth_getFilterChanges", [])["code"] == -32602
    assert rpc_error(node_url, "eth_getFilterLogs", ["0xdeadbeef"])["code"] == -32000
    assert call(node_url, "eth_uninstallFilter", ["0xdeadbeef"]) is False
