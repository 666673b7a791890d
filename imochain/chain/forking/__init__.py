"""Forking a live network: lazy state from any Ethereum JSON-RPC endpoint at a pinned block."""

from ..errors import ChainError
from .accountdb import MARKER, fork_account_db_class
from .base import create_fork_base
from .remote import RemoteClient, RemoteError, RemoteUnavailable
from .source import ForkSource

__all__ = ["MARKER", "ForkSource", "RemoteClient", "RemoteError", "RemoteUnavailable",
           "check_resumed", "create_fork_base", "connect", "repin", "fork_account_db_class"]


def connect(config, previous: ForkSource | None = None):
    """Pin the configured remote: (its ForkSource, an account-db class reading through it).
    The node takes the remote's chain id unless one is given, and its hardfork unless
    `fork_rules` is off; a previous fork's cache is kept."""
    source = ForkSource.connect(config.fork_url, config.fork_block_number, config.fork_chain_id,
                                config.fork_retries, config.fork_cache,
                                store=previous.store if previous is not None else None)
    config.chain_id = source.chain_id
    if config.fork_rules:
        config.hardfork = source.hardfork()
    account_db = fork_account_db_class()
    account_db.source = source
    return source, account_db


def check_resumed(storage, source: ForkSource | None) -> None:
    """A database a fork left must be reopened at the block it was forked at."""
    base = storage.canonical.base
    if source is not None and base != source.number:
        raise ChainError(f"the database was forked at block {base}: pass --fork-block-number {base}")


def repin(config, url: str, number: int | None, rebuild) -> None:
    """Point `config` at another remote or block and `rebuild`; on failure `config` is as it was."""
    fields = ("fork_url", "fork_block_number", "fork_chain_id", "chain_id", "hardfork")
    saved = {name: getattr(config, name) for name in fields}
    config.fork_url, config.fork_block_number, config.fork_chain_id = url, number, None
    try:
        rebuild()
    except Exception:
        for name, value in saved.items():
            setattr(config, name, value)
        raise
