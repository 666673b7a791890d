"""debug_getRaw*: blocks, headers, receipts and transactions in their consensus encodings."""

from __future__ import annotations

import rlp

from . import params as p
from .dispatch import Context, method
from .params import hexb


def _block(params: list):
    return p.block_id(p.arg(params, 0, "block"))


@method("debug_getRawHeader")
def raw_header(ctx: Context, params: list):
    return hexb(rlp.encode(ctx.node.resolve_block(_block(params))))


@method("debug_getRawBlock")
def raw_block(ctx: Context, params: list):
    return hexb(ctx.node.raw_block(_block(params)))


@method("debug_getRawReceipts")
def raw_receipts(ctx: Context, params: list):
    return [hexb(r) for r in ctx.node.raw_receipts(_block(params))]


@method("debug_getRawTransaction")
def raw_transaction(ctx: Context, params: list):
    info = ctx.node.get_transaction(p.hash32(p.arg(params, 0, "hash")))
    return None if info is None else hexb(info.tx.encode())
