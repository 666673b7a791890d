"""eth_ methods the execution-apis spec added recently: eth_baseFee, eth_getStorageValues,
eth_capabilities."""

from __future__ import annotations

from . import format as fmt
from . import params as p
from .dispatch import Context, method
from .params import hexb, hexq, invalid

MAX_STORAGE_VALUES = 1024  # slots per eth_getStorageValues request, all accounts together


@method("eth_baseFee")
def base_fee(ctx: Context, params: list):
    """The base fee of the next block."""
    return hexq(ctx.node.next_base_fee())


@method("eth_getStorageValues")
def storage_values(ctx: Context, params: list):
    request = p.arg(params, 0, "requests")
    if not isinstance(request, dict):
        raise invalid("invalid requests: expected an object of address -> [slots]")
    if not request:
        raise invalid("empty request")
    block = p.block_id(p.arg(params, 1, "block", required=False))
    wanted = []
    for key, slots in request.items():
        if not isinstance(slots, list):
            raise invalid(f"invalid requests.{key[:42]}: expected an array of slots")
        wanted.append((p.address(key, "address"), [p.quantity(s, "slot", 2**256 - 1) for s in slots]))
    if sum(len(slots) for _, slots in wanted) > MAX_STORAGE_VALUES:
        raise invalid(f"too many slots: at most {MAX_STORAGE_VALUES} per request")
    node = ctx.node
    with node.atomic():
        return {fmt.addr(a): [hexb(node.get_storage(a, s, block).to_bytes(32, "big")) for s in slots]
                for a, slots in wanted}


@method("eth_capabilities")
def capabilities(ctx: Context, params: list):
    """What history the node serves: all of it, from genesis (an archive node)."""
    head = ctx.node.get_block("latest")
    full = {"disabled": False, "oldestBlock": "0x0"}
    return {"head": {"number": hexq(head.number), "hash": hexb(head.hash)},
            **{part: dict(full) for part in ("state", "tx", "logs", "receipts", "blocks", "stateproofs")}}
