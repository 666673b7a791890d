"""Which hardfork a forked chain runs: the remote's, from its eth_config or its block's fields."""

from __future__ import annotations

import logging

from .remote import RemoteError, RemoteUnavailable

log = logging.getLogger("imochain.fork")

# blob schedules (max per block) of the forks after Osaka: how eth_config tells them apart
_BPO_BY_MAX = {15: "bpo1", 21: "bpo2"}


def remote_hardfork(client, block: dict) -> str:
    """The remote's fork at the pinned block: eth_config (EIP-7910) names Osaka and later by
    their precompiles and blob schedule; without it, the block's header fields say Cancun or
    Prague. Only Cancun and later can be forked (the dev node runs nothing older)."""
    try:
        config = client.call("eth_config", [])
    except (RemoteError, RemoteUnavailable) as exc:
        log.debug("fork: no eth_config (%s); the fork is read from the block", exc)
        config = None
    current = config.get("current") if isinstance(config, dict) else None
    if isinstance(current, dict) and "P256VERIFY" in (current.get("precompiles") or {}):
        blobs = current.get("blobSchedule") or {}
        return _BPO_BY_MAX.get(blobs.get("max"), "osaka")
    if "requestsHash" in block:
        return "prague"
    if "parentBeaconBlockRoot" in block:
        return "cancun"
    raise RemoteError("the fork's remote block is from before Cancun; imochain forks Cancun or later")
