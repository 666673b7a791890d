"""Shared fixtures: a running node (HTTP + WebSocket on a free loopback port)."""

import pytest

from imochain.testing import running_node


@pytest.fixture(scope="module")
def imochain_url():
    """URL of a fresh in-memory node served for the whole test module."""
    with running_node() as url:
        yield url
