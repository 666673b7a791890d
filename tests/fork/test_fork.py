"""`--fork-url`: a node forks a live remote (an imochain node behind a recording proxy) and
reads its balances, code, storage, blocks and BLOCKHASH at the pinned block, writes locally,
snapshots, impersonates a whale and resets to another block, sending the remote only reads."""

from __future__ import annotations

import pytest
from eth_abi import decode, encode

from imochain.builder import build_node
from imochain.chain import NodeConfig
from imochain.chain.forking.remote import READ_METHODS
from fork_support import HOLDER, OTHER, Client, balance_slot, selector, send, transfer_data


def token_balance(client: Client, token: str, who: str, block="latest") -> int:
    data = selector("balanceOf(address)") + encode(["address"], [who]).hex()
    return decode(["uint256"], bytes.fromhex(client.call("eth_call", [{"to": token, "data": data}, block])[2:]))[0]


@pytest.fixture(scope="module")
def fork(remote):
    node = build_node(NodeConfig(fork_url=remote["proxy"].url, fork_block_number=remote["pin"],
                                 genesis_contracts=False))
    yield node, Client(node)
    node.close()


def test_state_at_the_pinned_block(remote, fork):
    node, client = fork
    r, token, pin = remote["client"], remote["token"], remote["pin"]
    assert int(client.call("eth_blockNumber"), 16) == pin
    assert client.call("eth_chainId") == r.call("eth_chainId")
    pinned = r.call("eth_getBlockByNumber", [hex(pin), False])["hash"]
    assert client.call("anvil_metadata")["forkedNetwork"] == {
        "chainId": int(r.call("eth_chainId"), 16), "forkBlockNumber": pin, "forkBlockHash": pinned}
    assert client.call("anvil_nodeInfo")["forkConfig"]["forkUrl"] == remote["proxy"].url
    # the holder's ether, code and token storage as the remote had them at the pin, not later
    assert client.call("eth_getBalance", [HOLDER, "latest"]) == r.call("eth_getBalance", [HOLDER, hex(pin)])
    assert client.call("eth_getCode", [token, "latest"]) == r.call("eth_getCode", [token, "latest"])
    slot = hex(balance_slot(HOLDER))
    assert int(client.call("eth_getStorageAt", [token, slot, "latest"]), 16) == 3003
    assert int(r.call("eth_getStorageAt", [token, slot, "latest"]), 16) == 3010
    assert token_balance(client, token, HOLDER) == 3003
    # dev accounts keep their remote nonce and get the dev balance, as anvil does
    dev = remote["dev"]
    assert client.call("eth_getTransactionCount", [dev, "latest"]) == r.call("eth_getTransactionCount", [dev, hex(pin)])
    assert int(client.call("eth_getBalance", [dev, "latest"]), 16) == 10_000 * 10**18


def test_history_comes_from_the_remote(remote, fork):
    node, client = fork
    r, pin = remote["client"], remote["pin"]
    assert client.call("eth_getBlockByNumber", [hex(pin - 1), True]) == r.call("eth_getBlockByNumber", [hex(pin - 1), True])
    old_tx = remote["history"][0]["transactionHash"]
    assert client.call("eth_getTransactionReceipt", [old_tx]) == r.call("eth_getTransactionReceipt", [old_tx])
    after_pin = r.call("eth_getBlockByNumber", [hex(pin + 1), False])
    assert client.call("eth_getBlockByHash", [after_pin["hash"], False]) is None
    assert client.call("eth_getTransactionByHash", [after_pin["transactions"][0]]) is None
    # BLOCKHASH reads the remote's hashes; the first local block's parent is the pinned block
    for n in (pin - 2, pin):
        got = client.call("eth_call", [{"to": remote["token"], "data": selector("hashOf(uint256)") +
                                        encode(["uint256"], [n]).hex()}, "latest"])
        # BLOCKHASH(pin) is visible from the next block, which eth_call executes in
        expected = r.call("eth_getBlockByNumber", [hex(n), False])["hash"]
        assert got == expected, n


def test_writes_stay_local_and_snapshots_revert(remote, fork):
    node, client = fork
    r, token, pin = remote["client"], remote["token"], remote["pin"]
    snap = client.call("evm_snapshot")
    client.call("anvil_impersonateAccount", [HOLDER])
    receipt = send(client, HOLDER, token, transfer_data(OTHER, 1003))
    assert int(receipt["blockNumber"], 16) == pin + 1
    block = client.call("eth_getBlockByNumber", [hex(pin + 1), False])
    assert block["parentHash"] == r.call("eth_getBlockByNumber", [hex(pin), False])["hash"]
    assert token_balance(client, token, HOLDER) == 2000
    assert token_balance(client, token, OTHER) == 1003
    assert token_balance(r, token, OTHER) == 0  # the remote never sees a fork's write
    # a slot written back to zero stays zero (it is not fetched again)
    send(client, HOLDER, token, transfer_data(OTHER, 2000))
    assert token_balance(client, token, HOLDER) == 0
    assert int(client.call("eth_getStorageAt", [token, hex(balance_slot(HOLDER)), "latest"]), 16) == 0
    # the state of an earlier local block still reads what it had
    assert token_balance(client, token, HOLDER, hex(pin + 1)) == 2000
    assert client.call("evm_revert", [snap]) is True
    assert int(client.call("eth_blockNumber"), 16) == pin
    assert token_balance(client, token, HOLDER) == 3003
    assert token_balance(client, token, OTHER) == 0


def test_cheats_on_forked_state(remote, fork):
    node, client = fork
    token = remote["token"]
    snap = client.call("evm_snapshot")
    client.call("anvil_setStorageAt", [token, hex(balance_slot(OTHER)), "0x" + "00" * 31 + "2a"])
    assert token_balance(client, token, OTHER) == 42
    client.call("anvil_setBalance", [HOLDER, hex(5)])
    assert client.call("eth_getBalance", [HOLDER, "latest"]) == "0x5"
    assert token_balance(client, token, HOLDER) == 3003  # its slots still come from the remote
    client.call("evm_revert", [snap])
    assert token_balance(client, token, OTHER) == 0


def test_reset_to_another_block(remote, fork, token_artifact):
    node, client = fork
    r, token, pin = remote["client"], remote["token"], remote["pin"]
    client.call("anvil_reset", [{"forking": {"jsonRpcUrl": remote["proxy"].url, "blockNumber": hex(pin - 1)}}])
    assert int(client.call("eth_blockNumber"), 16) == pin - 1
    assert token_balance(client, token, HOLDER) == 2001
    client.call("hardhat_reset", [{"forking": {"jsonRpcUrl": remote["proxy"].url, "blockNumber": pin}}])
    assert token_balance(client, token, HOLDER) == 3003
    send(client, remote["dev"], OTHER, value=1)
    client.call("anvil_reset", [])  # a plain reset: back to the pinned block
    assert int(client.call("eth_blockNumber"), 16) == pin
    assert client.call("eth_getBalance", [OTHER, "latest"]) == "0x0"
    error = client.error("anvil_reset", [{"forking": {"blockNumber": 1}}])
    assert error["code"] == -32602
    # a remote that fails leaves the fork as it was
    error = client.error("anvil_reset", [{"forking": {"jsonRpcUrl": "http://127.0.0.1:1"}}])
    assert "unreachable" in error["message"]
    assert node.fork.number == pin and token_balance(client, token, HOLDER) == 3003


def test_the_remote_saw_only_reads(remote, fork):
    seen = set(remote["proxy"].methods)
    assert seen, "the fork never asked the remote"
    assert seen <= READ_METHODS, seen - READ_METHODS
    assert not any(m.startswith(("eth_send", "anvil_", "hardhat_", "evm_")) for m in seen)


def test_the_precompiles_and_imo_contracts_on_a_fork(remote):
    import numpy as np

    from imochain.contracts import genesis
    from imochain.models.tensor import encode_array, encode_call
    node = build_node(NodeConfig(fork_url=remote["proxy"].url, fork_block_number=remote["pin"]))
    try:
        client = Client(node)
        oracle = genesis.GENESIS_ADDRESSES["AIOracle"]
        assert len(client.call("eth_getCode", [oracle, "latest"])) > 1000
        assert remote["client"].call("eth_getCode", [oracle, "latest"]) == "0x"
        model = next(m for m in node.models.list() if m["name"] == "digits-classifier")
        data = encode_call(bytes.fromhex(model["hash"][2:]), encode_array(np.arange(64, dtype=np.int8)))
        request = {"to": "0x" + "00" * 19 + "a1", "data": "0x" + data.hex()}
        out = client.call("eth_call", [request, "latest"])
        assert len(out) > 66 and out == remote["client"].call("eth_call", [request, "latest"])
    finally:
        node.close()


def test_imo_contracts_where_code_already_lives(remote):
    """A remote that has ORA's contracts already: the fork says so instead of overwriting them."""
    from imochain.chain import ChainError
    full = build_node(NodeConfig())  # a remote with the IMO contracts at genesis
    from imochain.testing import running_node
    with running_node(node=full) as url:
        with pytest.raises(ChainError, match="already has code at 0x0A0f4321214BB6C7811dD8a71cF587bdaF03f0A0"):
            build_node(NodeConfig(fork_url=url))
        node = build_node(NodeConfig(fork_url=url, genesis_contracts=False))
        assert node.get_code(bytes.fromhex("0A0f4321214BB6C7811dD8a71cF587bdaF03f0A0")) == \
            full.get_code(bytes.fromhex("0A0f4321214BB6C7811dD8a71cF587bdaF03f0A0"))
        node.close()


def test_the_fork_runs_the_remotes_hardfork(remote):
    from imochain.testing import running_node
    node = build_node(NodeConfig(fork_url=remote["proxy"].url, fork_block_number=remote["pin"], genesis_contracts=False))
    assert node.config.hardfork == remote["node"].config.hardfork == "bpo2"  # named by eth_config
    node.close()
    older = build_node(NodeConfig(hardfork="prague", genesis_contracts=False))
    with running_node(node=older) as url:
        node = build_node(NodeConfig(fork_url=url, genesis_contracts=False))
        assert node.config.hardfork == "prague"
        node.close()
        node = build_node(NodeConfig(fork_url=url, genesis_contracts=False, hardfork="osaka", fork_rules=False))
        assert node.config.hardfork == "osaka"
        node.close()


def test_the_hardfork_from_block_fields_without_eth_config():
    from imochain.chain.forking.remote import RemoteError
    from imochain.chain.forking.rules import remote_hardfork

    class NoConfig:
        def call(self, method, params):
            raise RemoteError("fork remote: the method eth_config does not exist/is not available")

    assert remote_hardfork(NoConfig(), {"parentBeaconBlockRoot": "0x", "requestsHash": "0x"}) == "prague"
    assert remote_hardfork(NoConfig(), {"parentBeaconBlockRoot": "0x"}) == "cancun"
    with pytest.raises(RemoteError, match="before Cancun"):
        remote_hardfork(NoConfig(), {"baseFeePerGas": "0x7"})


def test_local_queries_over_the_pinned_block(remote):
    """Logs, block receipts and a database: the pinned block holds no local transactions."""
    import tempfile
    pin = remote["pin"]
    with tempfile.TemporaryDirectory() as db:
        config = dict(fork_url=remote["proxy"].url, fork_block_number=pin, genesis_contracts=False, db_path=db)
        node = build_node(NodeConfig(**config))
        client = Client(node)
        token = remote["token"]
        # logs up to the pinned block are the remote's, the local ones follow
        remote_logs = remote["client"].call("eth_getLogs", [{"fromBlock": "earliest", "toBlock": hex(pin), "address": token}])
        assert len(remote_logs) == 3
        assert client.call("eth_getLogs", [{"fromBlock": "earliest", "address": token}]) == remote_logs
        client.call("anvil_impersonateAccount", [HOLDER])
        send(client, HOLDER, token, transfer_data(OTHER, 3))
        logs = client.call("eth_getLogs", [{"fromBlock": hex(pin - 1), "toBlock": "latest", "address": token}])
        assert logs[:-1] == remote_logs[-2:] and int(logs[-1]["blockNumber"], 16) == pin + 1
        assert client.call("eth_getLogs", [{"blockHash": remote_logs[0]["blockHash"]}]) == remote_logs[:1]
        assert node.get_logs(pin, pin) == [] and node.block_receipts(pin) == []
        send(client, remote["dev"], OTHER, value=3)
        node.close()
        node = build_node(NodeConfig(**config))  # the fork resumes from its database
        assert node.block_number == pin + 2 and node.get_balance(bytes.fromhex(OTHER[2:])) == 3
        node.close()
        with pytest.raises(Exception, match=f"forked at block {pin}: pass --fork-block-number {pin}"):
            build_node(NodeConfig(**dict(config, fork_block_number=pin - 1)))
