"""testing_buildBlockV1 (execution-apis `testing_` namespace): build a block on a given parent from
given transactions (or the pool's), and answer its execution payload without adding it."""

from __future__ import annotations

from imochain.chain.simulate import SimulationError

from . import params as p
from .dispatch import Context, method
from .format import addr
from .params import RpcError, hexb, hexq, invalid

DESIRED_GAS_LIMIT = 60_000_000  # what a block producer moves the gas limit toward (EIP-7935)


@method("testing_buildBlockV1")
def build_block_v1(ctx: Context, params: list):
    parent_hash = p.hash32(p.arg(params, 0, "parentHash"), "parentHash")
    attrs = p.arg(params, 1, "payloadAttributes")
    if not isinstance(attrs, dict):
        raise invalid("invalid payloadAttributes: expected an object")
    raw = p.arg(params, 2, "transactions", required=False)
    if raw is not None and not isinstance(raw, list):
        raise invalid("invalid transactions: expected an array or null")
    extra = p.data(p.arg(params, 3, "extraData", required=False) or "0x", "extraData")
    if len(extra) > 32:
        raise invalid("invalid extraData: longer than 32 bytes")
    if attrs.get("withdrawals"):
        raise invalid("withdrawals are not supported on this chain")
    node = ctx.node
    txs = None if raw is None else [node.decode_raw(p.data(t, f"transactions[{i}]")) for i, t in enumerate(raw)]
    try:
        built = node.build_payload(
            parent_hash, txs, timestamp=p.quantity(attrs.get("timestamp"), "timestamp", 2**63),
            prev_randao=p.hash32(attrs.get("prevRandao"), "prevRandao"),
            fee_recipient=p.address(attrs.get("suggestedFeeRecipient"), "suggestedFeeRecipient"),
            beacon_root=p.hash32(attrs.get("parentBeaconBlockRoot", "0x" + "00" * 32), "parentBeaconBlockRoot"),
            extra_data=extra, desired_gas_limit=DESIRED_GAS_LIMIT)
    except SimulationError as exc:
        raise RpcError(exc.code, str(exc)) from None
    h = built.header
    payload = {
        "parentHash": hexb(h.parent_hash), "feeRecipient": addr(h.coinbase) or "0x" + "00" * 20,
        "stateRoot": hexb(h.state_root), "receiptsRoot": hexb(h.receipt_root),
        "logsBloom": "0x" + h.bloom.to_bytes(256, "big").hex(), "prevRandao": hexb(h.mix_hash),
        "blockNumber": hexq(h.block_number), "gasLimit": hexq(h.gas_limit), "gasUsed": hexq(h.gas_used),
        "timestamp": hexq(h.timestamp), "extraData": hexb(h.extra_data),
        "baseFeePerGas": hexq(h.base_fee_per_gas), "blockHash": hexb(h.hash),
        "transactions": [hexb(t.encode()) for t in built.transactions], "withdrawals": [],
        "blobGasUsed": hexq(h.blob_gas_used), "excessBlobGas": hexq(h.excess_blob_gas),
    }
    return {"executionPayload": payload, "blockValue": hexq(built.value),
            "blobsBundle": {"commitments": [], "proofs": [], "blobs": []},
            "executionRequests": [hexb(r) for r in built.requests], "shouldOverrideBuilder": False}
