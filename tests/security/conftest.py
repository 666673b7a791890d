"""One node process per test module; each test checks it survived and its chain is unchanged."""

from __future__ import annotations

import pytest
from security_support import NodeProcess, fingerprint

# A refused request may cost some memory, never gigabytes: the attacks this suite replays grew
# the node by 2.3 GB to 24 GB before they were bounded.
MAX_GROWTH = 1 << 30


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    proc = NodeProcess(models=str(tmp_path_factory.mktemp("models")))
    yield proc
    proc.stop()


@pytest.fixture
def survives(node):
    """The node answers afterwards, its chain is as before, and its peak RSS grew < 1 GiB."""
    before, peak = fingerprint(node.url), node.peak_rss()
    yield node
    assert node.alive(), "the node died"
    assert fingerprint(node.url) == before
    assert node.peak_rss() - peak < MAX_GROWTH, (peak, node.peak_rss())
