"""The test server (`imochain.testing.running_node`) holds its port from the moment it is chosen."""

from __future__ import annotations

import socket

import imochain.testing as testing
from imochain.testing import rpc, running_node

from node_support import node_config


def test_a_port_taken_right_after_it_was_found_free_does_not_stop_the_server(monkeypatch):
    """A port found free and bound later can be taken in between: any process's outgoing
    connection draws its local port from the same range. Here every port found free is taken
    at once; the server still starts, on a port it bound itself."""
    taken: list[socket.socket] = []
    find_free = testing.free_port

    def free_then_taken() -> int:
        port = find_free()
        s = socket.socket()
        s.bind(("127.0.0.1", port))
        s.listen()
        taken.append(s)
        return port

    monkeypatch.setattr(testing, "free_port", free_then_taken)
    try:
        with running_node(node_config()) as url:
            assert rpc(url, "eth_chainId")["result"] == "0x7a69"
            assert int(url.rsplit(":", 1)[1]) not in [s.getsockname()[1] for s in taken]
    finally:
        for s in taken:
            s.close()
