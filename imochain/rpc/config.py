"""eth_config (EIP-7910): the fork the node runs, its blob schedule, precompiles, system contracts."""

from __future__ import annotations

from .dispatch import Context, method
from .params import hexb, hexq


def _extra_names() -> dict[bytes, str]:
    try:
        from imochain.precompiles import INFERENCE_ADDRESS, QUOTE_ADDRESS
    except ImportError:
        return {}
    return {INFERENCE_ADDRESS: "IMOCHAIN_INFERENCE", QUOTE_ADDRESS: "IMOCHAIN_MODEL_QUOTE"}


@method("eth_config")
def config(ctx: Context, params: list):
    current = ctx.node.fork_config(_extra_names())
    current = dict(current, chainId=hexq(current["chainId"]), forkId=hexb(current["forkId"]),
                   precompiles={k: hexb(v) for k, v in current["precompiles"].items()},
                   systemContracts={k: hexb(v) for k, v in current["systemContracts"].items()})
    return {"current": current, "next": None, "last": None}
