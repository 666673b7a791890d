"""Forking a live network: lazy state from any Ethereum JSON-RPC endpoint at a pinned block."""

from .accountdb import MARKER, fork_account_db_class
from .base import create_fork_base
from .remote import RemoteClient, RemoteError, RemoteUnavailable
from .source import ForkSource

__all__ = ["MARKER", "ForkSource", "RemoteClient", "RemoteError", "RemoteUnavailable",
           "create_fork_base", "connect", "fork_account_db_class"]


def connect(config) -> ForkSource:
    """Pin the configured remote; the node takes the remote's chain id unless one is given."""
    source = ForkSource.connect(config.fork_url, config.fork_block_number, config.fork_chain_id,
                                config.fork_retries, config.fork_cache)
    config.chain_id = source.chain_id
    return source
