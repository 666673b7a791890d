"""Fixtures for the fork suite: a remote imochain node with an ERC-20 and a history, served on
loopback behind a recording proxy, and the block the forks pin."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from eth_abi import encode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "node"))
from node_support import compile_sources  # noqa: E402

from imochain.builder import build_node  # noqa: E402
from imochain.chain import NodeConfig  # noqa: E402
from imochain.testing import running_node  # noqa: E402
from fork_support import HOLDER, TOKEN_SOURCE, Client, Proxy, send, transfer_data  # noqa: E402

@pytest.fixture(scope="session")
def token_artifact(request) -> dict:
    import hashlib
    key = "imochain-fork/token-" + hashlib.sha256(TOKEN_SOURCE.encode()).hexdigest()[:16]
    cache = getattr(request.config, "cache", None)
    cached = cache.get(key, None) if cache is not None else None
    if cached:
        return cached
    out = compile_sources({"Token.sol": TOKEN_SOURCE})["Token"]
    if cache is not None:
        cache.set(key, out)
    return out


@pytest.fixture(scope="module")
def remote(token_artifact):
    """The remote chain: a token deployed, a holder funded over several blocks, the pinned
    block `pin`, then one more transfer after it (which a fork at `pin` must not see)."""
    node = build_node(NodeConfig(genesis_contracts=False))
    client = Client(node)
    dev = client.call("eth_accounts")[0]
    deploy = send(client, dev, None, token_artifact["bytecode"] + encode(["uint256"], [10**24]).hex())
    token = deploy["contractAddress"]
    send(client, dev, HOLDER, value=10**18)
    history = [send(client, dev, token, transfer_data(HOLDER, 1000 + i)) for i in range(3)]
    pin = int(client.call("eth_blockNumber"), 16)
    send(client, dev, token, transfer_data(HOLDER, 7))  # after the pin
    with running_node(node=node) as url, Proxy(url) as proxy:
        yield dict(node=node, client=client, url=url, proxy=proxy, token=token, dev=dev, pin=pin,
                   history=history)
