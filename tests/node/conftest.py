"""Fixtures for the node suite: a live imochain server per module, web3.py on top of it,
and a small Solidity test contract compiled once per session with the pinned solc-js."""

from __future__ import annotations

import pytest
from web3 import Web3

from imochain.testing import running_node
from node_support import TEST_SOURCE, call, compile_sources, node_config


@pytest.fixture(scope="session")
def artifacts(request) -> dict:
    """Compiled once, then cached by source hash in pytest's cache (solc-js takes seconds)."""
    import hashlib
    key = "imochain-node/store-" + hashlib.sha256(TEST_SOURCE.encode()).hexdigest()[:16]
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    cached = cache.get(key, None) if cache is not None else None
    if cached:
        return cached
    out = compile_sources({"Store.sol": TEST_SOURCE})
    if cache is not None:
        cache.set(key, out)
    return out


@pytest.fixture(scope="session")
def store_artifact(artifacts) -> dict:
    return artifacts["Store"]


@pytest.fixture(scope="module")
def node_url():
    """A fresh in-memory node (no IMO predeploys, for speed) served for the whole module."""
    with running_node(node_config()) as url:
        yield url


@pytest.fixture(scope="module")
def w3(node_url) -> Web3:
    w = Web3(Web3.HTTPProvider(node_url, request_kwargs={"timeout": 60}))
    assert w.is_connected()
    return w


@pytest.fixture(scope="module")
def ws_url(node_url) -> str:
    return "ws" + node_url[len("http"):]


@pytest.fixture
def isolated(node_url):
    """Snapshot before the test, revert after: tests that change state do not leak."""
    sid = call(node_url, "evm_snapshot")
    yield
    assert call(node_url, "evm_revert", [sid]) is True
