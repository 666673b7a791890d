"""A fork's remote that fails: down, slow, rate-limited, answering garbage. Each request that
needed it gets a clear JSON-RPC error after the retries, nothing wrong is cached, and the same
request succeeds once the remote recovers. Also: the on-disk fork cache, and the CLI flags."""

from __future__ import annotations

import pytest

from imochain.builder import build_node
from imochain.chain import ChainError, NodeConfig
from imochain.cli import main
from imochain.testing import free_port
from fork_support import HOLDER, Client, Proxy, balance_slot, send, transfer_data


def fresh(n: int) -> str:
    return "0x" + f"{n:040x}"


@pytest.fixture
def flaky(remote):
    with Proxy(remote["url"]) as proxy:
        node = build_node(NodeConfig(fork_url=proxy.url, fork_block_number=remote["pin"], genesis_contracts=False))
        node.fork.client.timeout, node.fork.client.backoff, node.fork.client.retries = 0.5, 0.01, 1
        proxy.delay = 1.5
        yield node, Client(node), proxy
        node.close()


@pytest.mark.parametrize("mode, says", [("429", "rate limited"), ("garbage", "garbage answer"),
                                        ("bad-value", "garbage for eth_getBalance"), ("slow", "timed out")])
def test_a_failing_remote_gives_an_error_then_recovers(remote, flaky, mode, says):
    node, client, proxy = flaky
    address = fresh(0x5000 + len(mode))
    expected = remote["client"].call("eth_getBalance", [address, hex(remote["pin"])])
    proxy.mode = mode
    error = client.error("eth_getBalance", [address, "latest"])
    assert error["code"] == -32000 and "after 2 attempts" in error["message"] and says in error["message"], error
    proxy.mode = None
    assert client.call("eth_getBalance", [address, "latest"]) == expected


def test_a_remote_without_batches_is_asked_one_call_at_a_time(remote, flaky):
    node, client, proxy = flaky
    proxy.mode = "no-batches"
    address = fresh(0x7001)
    expected = remote["client"].call("eth_getBalance", [address, hex(remote["pin"])])
    assert client.call("eth_getBalance", [address, "latest"]) == expected
    assert not node.fork.client.batches and proxy.methods[-3:] == [
        "eth_getBalance", "eth_getTransactionCount", "eth_getCode"]


def test_a_transaction_that_needs_a_failing_remote_is_not_kept(remote, flaky):
    node, client, proxy = flaky
    token, receiver = remote["token"], fresh(0x6001)
    client.call("anvil_impersonateAccount", [HOLDER])
    client.call("eth_getBalance", [HOLDER, "latest"])  # the sender itself is cached
    proxy.mode = "429"
    tx = {"from": HOLDER, "to": token, "data": transfer_data(receiver, 5), "gas": hex(200_000)}
    error = client.error("eth_sendTransaction", [tx])
    assert "rate limited" in error["message"]
    assert int(client.call("eth_blockNumber"), 16) == remote["pin"]
    assert client.call("txpool_status")["pending"] == "0x0"
    proxy.mode = None
    send(client, HOLDER, token, transfer_data(receiver, 5))
    slot = hex(balance_slot(receiver))
    assert int(client.call("eth_getStorageAt", [token, slot, "latest"]), 16) == 5


def test_a_remote_that_is_down_stops_the_start():
    with pytest.raises(ChainError, match="unreachable"):
        build_node(NodeConfig(fork_url=f"http://127.0.0.1:{free_port()}", fork_retries=0, genesis_contracts=False))


def test_the_fork_cache_saves_a_restart_every_fetch(remote, tmp_path):
    token, pin = remote["token"], remote["pin"]
    with Proxy(remote["url"]) as proxy:
        config = dict(fork_url=proxy.url, fork_block_number=pin, fork_cache=str(tmp_path / "cache"),
                      genesis_contracts=False)
        reads = [("eth_getBalance", [HOLDER, "latest"]), ("eth_getCode", [token, "latest"]),
                 ("eth_getStorageAt", [token, hex(balance_slot(HOLDER)), "latest"])]
        node = build_node(NodeConfig(**config))
        first = [Client(node).call(m, p) for m, p in reads]
        node.close()
        assert proxy.methods
        proxy.methods.clear()
        node = build_node(NodeConfig(fork_chain_id=int(remote["client"].call("eth_chainId"), 16), **config))
        assert [Client(node).call(m, p) for m, p in reads] == first
        node.close()
        assert proxy.methods == []  # everything came from the cache


def test_cli_fork_flags(capsys):
    assert main(["node", "--fork-block-number", "3"]) == 2
    assert "--fork-block-number needs --fork-url" in capsys.readouterr().err
    assert main(["node", "--fork-url", "ftp://example", "--port", str(free_port())]) == 2
    assert "must start with http://" in capsys.readouterr().err
    assert main(["node", "--fork-url", f"http://127.0.0.1:{free_port()}", "--fork-retries", "0",
                 "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: fork remote") and "unreachable" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as exc:
        main(["node", "--fork-block-number", "minus one"])
    assert exc.value.code == 2
