"""Foundry's `cast` against a running imochain node: every command a tutorial uses.

Each test runs the real binary (node_modules/.bin/cast) with --rpc-url and checks what it prints;
the module shares one node, so checks are relative to what the chain held before.
"""

from __future__ import annotations

import json

import pytest

from tools_support import DEV_ADDRS, DEV_KEYS

SINK = "0x1111111111111111111111111111111111111111"
ETHER = 10**18


@pytest.fixture(scope="module")
def c(cast, run_tool, imochain_url):
    """c(cmd, *args) -> stdout of `cast cmd --rpc-url URL args`, stripped; c.fail -> the failed run."""
    def argv(args, rpc=True):
        n = 2 if args[0] == "wallet" else 1  # after the (sub)command, before positionals
        return [cast, *args[:n], *(["--rpc-url", imochain_url] if rpc else []), *args[n:]]

    def run(*args: str, rpc: bool = True) -> str:
        return run_tool(argv(args, rpc)).stdout.strip()

    def fail(*args: str):
        proc = run_tool(argv(args), check=False)
        assert proc.returncode != 0, f"cast {' '.join(args)} should have failed:\n{proc.stdout}"
        return proc
    run.fail = fail
    return run


@pytest.fixture(scope="module")
def counter(c, counter_artifact):
    """A Counter(42, "hello") deployed with `cast send --create`; returns its address."""
    bytecode = json.loads(counter_artifact.read_text())["bytecode"]["object"]
    receipt = json.loads(c("send", "--private-key", DEV_KEYS[0], "--json",
                           "--create", bytecode, "constructor(uint256,string)", "42", "hello"))
    assert receipt["status"] == "0x1"
    assert receipt["contractAddress"]
    return receipt["contractAddress"]


def test_chain_id_and_client(c):
    assert c("chain-id") == "31337"
    assert c("client").startswith("imochain/")
    assert c("rpc", "net_version") == '"31337"'


def test_block_number_rpc_and_anvil_mine(c):
    start = int(c("block-number"))
    raw = json.loads(c("rpc", "eth_blockNumber"))
    assert raw.startswith("0x") and int(raw, 16) == start
    assert c("rpc", "anvil_mine") == "null"
    assert int(c("block-number")) == start + 1
    c("rpc", "anvil_mine", "0x3", "0x1")  # three blocks, one second apart
    assert int(c("block-number")) == start + 4
    ts = [int(c("block", str(start + i), "--field", "timestamp")) for i in (2, 3, 4)]
    assert ts[1] - ts[0] == 1 and ts[2] - ts[1] == 1
    c("rpc", "evm_mine")
    assert int(c("block-number")) == start + 5


def test_balance_and_nonce_of_a_fresh_dev_account(c):
    fresh = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"  # dev account 5: nobody here uses it
    assert int(c("balance", fresh)) == 10_000 * ETHER
    assert c("balance", fresh, "--ether") == "10000.000000000000000000"
    assert c("nonce", fresh) == "0"
    assert c("code", fresh) == "0x"


def test_send_value_with_private_key(c):
    before = int(c("balance", SINK))
    nonce = int(c("nonce", DEV_ADDRS[0]))
    receipt = json.loads(c("send", "--private-key", DEV_KEYS[0], "--json", SINK, "--value", "1ether"))
    assert receipt["status"] == "0x1"
    assert receipt["from"].lower() == DEV_ADDRS[0].lower() and receipt["to"].lower() == SINK
    assert int(receipt["gasUsed"], 16) == 21000
    assert int(c("balance", SINK)) == before + ETHER
    assert int(c("nonce", DEV_ADDRS[0])) == nonce + 1
    # The same receipt read back with `cast receipt` and the transaction with `cast tx`.
    tx_hash = receipt["transactionHash"]
    again = json.loads(c("receipt", tx_hash, "--json"))
    assert again["blockHash"] == receipt["blockHash"] and again["status"] == "0x1"
    tx = json.loads(c("tx", tx_hash, "--json"))
    assert int(tx["value"], 16) == ETHER and int(tx["nonce"], 16) == nonce
    assert tx["type"] == "0x2" and int(tx["chainId"], 16) == 31337


def test_send_legacy_and_async(c):
    before = int(c("balance", SINK))
    legacy = json.loads(c("send", "--legacy", "--private-key", DEV_KEYS[0], "--json", SINK, "--value", "7"))
    assert legacy["type"] == "0x0" and legacy["status"] == "0x1"
    legacy_unlocked = json.loads(c("send", "--legacy", "--unlocked", "--from", DEV_ADDRS[1], "--json",
                                   SINK, "--value", "8"))
    assert legacy_unlocked["type"] == "0x0" and legacy_unlocked["status"] == "0x1"
    tx_hash = c("send", "--async", "--private-key", DEV_KEYS[0], SINK, "--value", "9")
    assert tx_hash.startswith("0x") and len(tx_hash) == 66
    assert json.loads(c("receipt", tx_hash, "--json"))["status"] == "0x1"
    assert int(c("balance", SINK)) == before + 7 + 8 + 9


def test_send_value_unlocked_from_a_node_account(c):
    before = int(c("balance", SINK))
    receipt = json.loads(c("send", "--unlocked", "--from", DEV_ADDRS[2], "--json",
                           SINK, "--value", "2ether"))
    assert receipt["status"] == "0x1" and receipt["from"].lower() == DEV_ADDRS[2].lower()
    assert int(c("balance", SINK)) == before + 2 * ETHER


def test_send_unlocked_from_an_impersonated_account(c):
    whale = "0x000000000000000000000000000000000000dEaD"
    c("rpc", "anvil_impersonateAccount", whale)
    c("rpc", "anvil_setBalance", whale, hex(5 * ETHER))
    before = int(c("balance", SINK))
    receipt = json.loads(c("send", "--unlocked", "--from", whale, "--json", SINK, "--value", "1ether"))
    assert receipt["status"] == "0x1" and receipt["from"].lower() == whale.lower()
    assert int(c("balance", SINK)) == before + ETHER
    c("rpc", "anvil_stopImpersonatingAccount", whale)
    c.fail("send", "--unlocked", "--from", whale, SINK, "--value", "1")


def test_mktx_then_publish_raw(c):
    before = int(c("balance", SINK))
    raw = c("mktx", "--private-key", DEV_KEYS[1], SINK, "--value", "12345")
    assert raw.startswith("0x02")
    receipt = json.loads(c("publish", raw, "--json"))
    assert receipt["status"] == "0x1"
    assert int(c("balance", SINK)) == before + 12345


def test_deployed_code_and_view_calls(c, counter):
    code = c("code", counter)
    assert code.startswith("0x6080") and len(code) > 200
    assert c("codesize", counter) == str((len(code) - 2) // 2)
    assert c("call", counter, "number()(uint256)") == "42"
    assert c("call", counter, "label()(string)") == '"hello"'
    assert c("call", counter, "describe()(string,uint256)").splitlines() == ['"hello"', "42"]
    assert c("call", counter, "owner()(address)").lower() == DEV_ADDRS[0].lower()
    assert int(c("storage", counter, "0"), 16) == 42


def test_estimate_send_receipt_and_logs(c, counter):
    before = int(c("call", counter, "number()(uint256)"))
    estimate = int(c("estimate", counter, "increment()", "--from", DEV_ADDRS[1]))
    assert 21_000 < estimate < 100_000
    receipt = json.loads(c("send", "--private-key", DEV_KEYS[1], "--json", counter, "increment()"))
    assert receipt["status"] == "0x1"
    assert int(receipt["gasUsed"], 16) <= estimate
    topic0 = c("keccak", "Incremented(address,uint256)", rpc=False)
    assert len(receipt["logs"]) == 1
    log = receipt["logs"][0]
    assert log["address"].lower() == counter.lower()
    assert log["topics"][0] == topic0
    assert log["topics"][1] == "0x" + "00" * 12 + DEV_ADDRS[1][2:].lower()
    assert int(log["data"], 16) == before + 1
    assert c("receipt", receipt["transactionHash"], "status") in ("1", "true", "1 (success)")
    assert c("call", counter, "number()(uint256)") == str(before + 1)
    # eth_getLogs through `cast logs`, by event signature and by topic.
    logs = json.loads(c("logs", "--json", "--address", counter, "--from-block", "0",
                        "Incremented(address indexed,uint256)"))
    assert receipt["transactionHash"] in [entry["transactionHash"] for entry in logs]
    by_topic = json.loads(c("logs", "--json", "--address", counter, "--from-block",
                            str(int(receipt["blockNumber"], 16)), topic0))
    assert [entry["transactionHash"] for entry in by_topic] == [receipt["transactionHash"]]


def test_cast_run_replays_a_transaction(c, counter):
    receipt = json.loads(c("send", "--private-key", DEV_KEYS[0], "--json", counter, "increment()"))
    out = c("run", receipt["transactionHash"])
    # Names come from the signature cache forge build fills in HOME; else cast shows selectors.
    assert "increment()" in out or "d09de08a" in out
    assert "Transaction successfully executed" in out
    assert f"Gas used: {int(receipt['gasUsed'], 16)}" in out


def test_websocket_rpc_url(cast, run_tool, imochain_url):
    ws = imochain_url.replace("http://", "ws://")

    def over_ws(*args):
        return run_tool([cast, args[0], "--rpc-url", ws, *args[1:]]).stdout.strip()
    assert over_ws("chain-id") == "31337"
    receipt = json.loads(over_ws("send", "--private-key", DEV_KEYS[2], "--json", SINK, "--value", "1"))
    assert receipt["status"] == "0x1"
    assert int(over_ws("block-number")) == int(receipt["blockNumber"], 16)


def test_access_list_names_the_counter_slot(c, counter):
    out = json.loads(c("access-list", counter, "increment()", "--from", DEV_ADDRS[0], "--json"))
    entries = {e["address"].lower(): e["storageKeys"] for e in out["accessList"]}
    assert entries.get(counter.lower()) == ["0x" + "00" * 32]
    assert int(out["gasUsed"], 16) > 21_000
    receipt = json.loads(c("send", "--private-key", DEV_KEYS[0], "--access-list", "--json",
                           counter, "increment()"))
    assert receipt["status"] == "0x1"


def test_eip7702_send_with_auth(c, counter):
    """`cast send --auth`: a type-4 transaction that delegates an EOA to the Counter's code."""
    authority_key = "0x" + "00" * 31 + "01"
    authority = c("wallet", "address", "--private-key", authority_key, rpc=False)
    auth = c("wallet", "sign-auth", counter, "--private-key", authority_key)
    receipt = json.loads(c("send", "--private-key", DEV_KEYS[0], "--json", "--auth", auth,
                           authority, "increment()"))  # eth_estimateGas sees the authorization
    assert receipt["type"] == "0x4" and receipt["status"] == "0x1"
    assert c("code", authority) == "0xef0100" + counter[2:].lower()
    assert c("call", authority, "number()(uint256)") == "1"  # the EOA's own storage
    tx = json.loads(c("tx", receipt["transactionHash"], "--json"))
    [entry] = tx["authorizationList"]
    assert entry["address"].lower() == counter.lower() and int(entry["chainId"], 16) == 31337
    # The same through the node's signer: eth_sendTransaction with an authorizationList.
    other_key = "0x" + "00" * 31 + "02"
    other = c("wallet", "address", "--private-key", other_key, rpc=False)
    auth = c("wallet", "sign-auth", counter, "--private-key", other_key)
    receipt = json.loads(c("send", "--unlocked", "--from", DEV_ADDRS[1], "--json", "--auth", auth,
                           other, "increment()"))
    assert receipt["type"] == "0x4" and receipt["status"] == "0x1"
    assert c("code", other) == "0xef0100" + counter[2:].lower()


def test_reverts_surface_the_reason(c, counter):
    reason = "Counter: value too large"
    call = c.fail("call", counter, "setNumber(uint256)", "5000")
    assert f"execution reverted: {reason}" in call.stderr
    assert "error code 3" in call.stderr
    estimate = c.fail("estimate", counter, "setNumber(uint256)", "5000")
    assert reason in estimate.stderr
    send = c.fail("send", "--private-key", DEV_KEYS[0], counter, "setNumber(uint256)", "5000")
    assert reason in send.stderr
    # Given a gas limit, nothing estimates first: the transaction is mined and fails.
    receipt = json.loads(c("send", "--private-key", DEV_KEYS[0], "--json", "--gas-limit", "100000",
                           counter, "setNumber(uint256)", "5000"))
    assert receipt["status"] == "0x0" and receipt["logs"] == []
    # A custom error: its selector and arguments come back as the revert data.
    custom = c.fail("call", "--from", DEV_ADDRS[1], counter, "ownerOnlyReset()")
    selector = c("sig", "NotOwner(address)", rpc=False)
    assert selector[2:] in custom.stderr.lower()
    assert DEV_ADDRS[1][2:].lower() in custom.stderr.lower()


def test_block_and_fee_queries(c):
    block = json.loads(c("block", "latest", "--json"))
    for key in ("hash", "parentHash", "number", "timestamp", "gasLimit", "baseFeePerGas", "transactions"):
        assert key in block
    assert int(c("gas-price")) > 0
    assert int(c("base-fee")) > 0
    assert c("block", "latest", "--field", "hash") == block["hash"]


def test_manual_mining_txpool_and_anvil_mine(c):
    assert c("rpc", "evm_setAutomine", "false") == "null"
    try:
        start = int(c("block-number"))
        h1 = c("send", "--async", "--private-key", DEV_KEYS[0], SINK, "--value", "1")
        h2 = c("send", "--async", "--unlocked", "--from", DEV_ADDRS[1], SINK, "--value", "2")
        assert json.loads(c("rpc", "txpool_status")) == {"pending": "0x2", "queued": "0x0"}
        assert c("rpc", "eth_getTransactionReceipt", h1) == "null"
        pending_tx = json.loads(c("tx", h1, "--json"))
        assert pending_tx["blockNumber"] is None
        assert int(c("block-number")) == start
        assert c("rpc", "anvil_mine") == "null"
    finally:
        c("rpc", "evm_setAutomine", "true")
    r1, r2 = (json.loads(c("receipt", h, "--json")) for h in (h1, h2))
    assert r1["status"] == r2["status"] == "0x1"
    assert int(r1["blockNumber"], 16) == int(r2["blockNumber"], 16) == start + 1
    assert json.loads(c("rpc", "txpool_status")) == {"pending": "0x0", "queued": "0x0"}


def test_snapshot_and_revert_via_rpc(c):
    sid = json.loads(c("rpc", "evm_snapshot"))
    before = int(c("block-number"))
    c("rpc", "anvil_mine", "0x2")
    assert int(c("block-number")) == before + 2
    assert c("rpc", "evm_revert", sid) == "true"
    assert int(c("block-number")) == before
