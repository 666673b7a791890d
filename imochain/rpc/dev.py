"""Dev-chain controls with anvil's names (and hardhat_ aliases): evm_, anvil_, txpool_."""

from __future__ import annotations

import gzip
import json
import logging
import zlib

from eth_utils import to_checksum_address

from imochain import safejson
from imochain.chain.fees import suggested_gas_price

from . import format as fmt
from . import params as p
from .dispatch import Context, method
from .params import RpcError, hexb, hexq, invalid


def _int_or_quantity(value, field: str, max_value: int = 2**64 - 1) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0 or value > max_value:
            raise invalid(f"invalid {field}: {value} out of range")
        return value
    return p.quantity(value, field, max_value)


MAX_MINE_BLOCKS = 10_000  # one request mines at most this many blocks (~10-30 s of work)


def _block_count(value) -> int:
    blocks = _int_or_quantity(value, "blocks")
    if blocks > MAX_MINE_BLOCKS:
        raise invalid(f"invalid blocks: {blocks} is more than {MAX_MINE_BLOCKS} blocks per request; "
                      "send several requests")
    return blocks


@method("evm_snapshot", "anvil_snapshot")
def snapshot(ctx: Context, params: list):
    return hexq(ctx.node.snapshot())


@method("evm_revert", "anvil_revert")
def revert(ctx: Context, params: list):
    return ctx.node.revert(_int_or_quantity(p.arg(params, 0, "snapshotId"), "snapshotId"))


@method("evm_mine")
def evm_mine(ctx: Context, params: list):
    arg = p.arg(params, 0, "options", False)
    blocks, ts = 1, None
    if isinstance(arg, dict):
        if arg.get("blocks") is not None:
            blocks = _block_count(arg["blocks"])
        if arg.get("timestamp") is not None:
            ts = _int_or_quantity(arg["timestamp"], "timestamp")
    elif arg is not None:
        ts = _int_or_quantity(arg, "timestamp")
    ctx.node.mine(blocks, timestamp=ts)
    return "0x0"


def _mine_args(params: list) -> tuple[int, int | None]:
    count = p.arg(params, 0, "blocks", False)
    interval = p.arg(params, 1, "interval", False)
    blocks = 1 if count is None else _block_count(count)
    return blocks, None if interval is None else _int_or_quantity(interval, "interval", 2**40)


@method("anvil_mine")
def anvil_mine(ctx: Context, params: list):
    """anvil's timing: time jumps by `interval` before every block (3 blocks, 12 s: +36 s)."""
    blocks, step = _mine_args(params)
    if blocks and step:
        ctx.node.mine_spaced(blocks, step)
    elif blocks:
        ctx.node.mine(blocks)
    return None


@method("hardhat_mine")
def hardhat_mine(ctx: Context, params: list):
    """Hardhat's timing: the first block comes as usual, each later one `interval` after the
    previous (3 blocks, 12 s: +1 +12 +12 = 25 s)."""
    blocks, step = _mine_args(params)
    if blocks:
        ctx.node.mine(blocks, interval=step)
    return True


@method("evm_increaseTime", "anvil_increaseTime")
def increase_time(ctx: Context, params: list):
    return hexq(ctx.node.increase_time(_int_or_quantity(p.arg(params, 0, "seconds"), "seconds")))


@method("evm_setNextBlockTimestamp", "anvil_setNextBlockTimestamp")
def set_next_block_timestamp(ctx: Context, params: list):
    ctx.node.set_next_block_timestamp(_int_or_quantity(p.arg(params, 0, "timestamp"), "timestamp"))
    return None


@method("evm_setTime", "anvil_setTime")
def set_time(ctx: Context, params: list):
    ctx.node.set_time(_int_or_quantity(p.arg(params, 0, "timestamp"), "timestamp"))
    return None


@method("evm_setAutomine", "anvil_setAutomine")
def set_automine(ctx: Context, params: list):
    ctx.node.set_automine(p.boolean(p.arg(params, 0, "enabled"), "enabled"))
    return None


@method("anvil_getAutomine", "hardhat_getAutomine")
def get_automine(ctx: Context, params: list):
    return ctx.node.automine


@method("evm_setIntervalMining", "anvil_setIntervalMining")
def set_interval_mining(ctx: Context, params: list):
    value = p.arg(params, 0, "interval")
    seconds = _int_or_quantity(value, "interval", 86_400 * 1000)
    # Hardhat takes milliseconds, anvil seconds; values above 1000 can only mean ms.
    period = seconds / 1000 if seconds >= 1000 else float(seconds)
    ctx.node.set_interval_mining(period or None)
    return None


@method("anvil_getIntervalMining")
def get_interval_mining(ctx: Context, params: list):
    """The interval-mining period in seconds, or null when blocks are not mined on a timer."""
    period = ctx.node.interval
    return None if period is None else int(period) if float(period).is_integer() else period


@method("evm_setBlockGasLimit", "anvil_setBlockGasLimit")
def set_block_gas_limit(ctx: Context, params: list):
    limit = _int_or_quantity(p.arg(params, 0, "gasLimit"), "gasLimit", 2**63 - 1)
    if limit < 21_000:
        raise invalid(f"invalid gasLimit: {limit} is below a transfer's 21000")
    ctx.node.set_block_gas_limit(limit)
    return True


@method("anvil_setBlockTimestampInterval")
def set_block_timestamp_interval(ctx: Context, params: list):
    interval = _int_or_quantity(p.arg(params, 0, "interval"), "interval", 2**40)
    ctx.node.set_block_timestamp_interval(interval)
    return None


@method("anvil_removeBlockTimestampInterval")
def remove_block_timestamp_interval(ctx: Context, params: list):
    return ctx.node.set_block_timestamp_interval(None)


@method("anvil_setNextBlockBaseFeePerGas", "hardhat_setNextBlockBaseFeePerGas")
def set_next_block_base_fee(ctx: Context, params: list):
    fee = p.quantity(p.arg(params, 0, "baseFee"), "baseFee", 2**64 - 1)
    ctx.node.set_next_block_base_fee(fee)
    return None


@method("anvil_setMinGasPrice", "hardhat_setMinGasPrice")
def set_min_gas_price(ctx: Context, params: list):
    p.quantity(p.arg(params, 0, "gasPrice"), "gasPrice")
    # anvil's answer: the EIP-1559 base fee is the floor, there is no separate minimum
    raise invalid("anvil_setMinGasPrice is not supported when EIP-1559 is active")


@method("anvil_setCoinbase", "hardhat_setCoinbase")
def set_coinbase(ctx: Context, params: list):
    address = p.address(p.arg(params, 0, "address"))
    ctx.node.set_coinbase(address)
    return None


@method("anvil_autoImpersonateAccount", "hardhat_autoImpersonateAccount")
def auto_impersonate(ctx: Context, params: list):
    enabled = p.boolean(p.arg(params, 0, "enabled"), "enabled")
    ctx.node.set_auto_impersonate(enabled)
    return None


@method("anvil_setLoggingEnabled", "hardhat_setLoggingEnabled")
def set_logging_enabled(ctx: Context, params: list):
    enabled = p.boolean(p.arg(params, 0, "enabled"), "enabled")
    # every imochain.* logger inherits this level: off silences the node's log, as in anvil
    logging.getLogger("imochain").setLevel(logging.NOTSET if enabled else logging.CRITICAL + 1)
    return None


@method("anvil_enableTraces")
def enable_traces(ctx: Context, params: list):
    # nothing to switch on: debug_trace* and trace_* replay any mined transaction on demand
    return None


@method("anvil_metadata", "hardhat_metadata")
def metadata(ctx: Context, params: list):
    node = ctx.node
    from .eth import client_version
    with node.atomic():
        snapshots = {str(sid): [number, hexb(node.resolve_block(number).hash)]
                     for sid, number in node.snapshot_heads().items() if number <= node.block_number}
        return {"clientVersion": client_version(ctx, []), "chainId": node.config.chain_id,
                "instanceId": hexb(node.instance_id), "latestBlockNumber": node.block_number,
                "latestBlockHash": hexb(node.head.hash), "snapshots": snapshots,
                "forkedNetwork": None if node.fork is None else {
                    "chainId": node.fork.chain_id, "forkBlockNumber": node.fork.number,
                    "forkBlockHash": hexb(node.fork.hash)}}


@method("anvil_setBalance", "hardhat_setBalance")
def set_balance(ctx: Context, params: list):
    ctx.node.set_balance(p.address(p.arg(params, 0, "address")), p.quantity(p.arg(params, 1, "balance"), "balance"))
    return None


@method("anvil_setCode", "hardhat_setCode")
def set_code(ctx: Context, params: list):
    code = p.data(p.arg(params, 1, "code"), "code")
    if len(code) > 0x6000 * 4:
        raise invalid("invalid code: larger than 96 KiB")
    ctx.node.set_code(p.address(p.arg(params, 0, "address")), code)
    return None


@method("anvil_setNonce", "hardhat_setNonce", "evm_setAccountNonce")
def set_nonce(ctx: Context, params: list):
    ctx.node.set_nonce(p.address(p.arg(params, 0, "address")),
                       p.quantity(p.arg(params, 1, "nonce"), "nonce", 2**64 - 1))
    return None


@method("anvil_setStorageAt", "hardhat_setStorageAt")
def set_storage_at(ctx: Context, params: list):
    a = p.address(p.arg(params, 0, "address"))
    slot_raw = p.arg(params, 1, "slot")
    slot = int.from_bytes(p.hash32(slot_raw, "slot"), "big") if isinstance(slot_raw, str) and len(slot_raw) == 66 \
        else p.quantity(slot_raw, "slot")
    value = p.hash32(p.arg(params, 2, "value"), "value")
    ctx.node.set_storage_at(a, slot, int.from_bytes(value, "big"))
    return True


@method("anvil_impersonateAccount", "hardhat_impersonateAccount")
def impersonate(ctx: Context, params: list):
    ctx.node.impersonate(p.address(p.arg(params, 0, "address")))
    return None


@method("anvil_stopImpersonatingAccount", "hardhat_stopImpersonatingAccount")
def stop_impersonating(ctx: Context, params: list):
    ctx.node.stop_impersonating(p.address(p.arg(params, 0, "address")))
    return None


@method("anvil_dropTransaction", "hardhat_dropTransaction")
def drop_transaction(ctx: Context, params: list):
    tx_hash = p.hash32(p.arg(params, 0, "hash"))
    dropped = ctx.node.drop_transaction(tx_hash)
    return hexb(tx_hash) if dropped else None


@method("anvil_dropAllTransactions", "hardhat_dropAllTransactions")
def drop_all(ctx: Context, params: list):
    ctx.node.drop_all_transactions()
    return None


@method("anvil_reset", "hardhat_reset")
def reset(ctx: Context, params: list):
    opts = p.arg(params, 0, "options", False)
    forking = opts.get("forking") if isinstance(opts, dict) else None
    if forking:
        if not isinstance(forking, dict) or not isinstance(forking.get("jsonRpcUrl"), str):
            raise RpcError(-32602, "invalid params: forking needs a jsonRpcUrl string")
        number = forking.get("blockNumber")
        number = None if number is None else p.quantity(number, "forking.blockNumber")
        ctx.node.reset(forking["jsonRpcUrl"], number)
    else:
        ctx.node.reset()
    # Old filters refer to the old chain: drop them. The manager stays registered with the
    # node (re-running __init__ would add its listeners twice and cut off WebSocket subscribers).
    with ctx.filters._lock:
        ctx.filters.filters.clear()
    return None


@method("anvil_dumpState", "hardhat_dumpState")
def dump_state(ctx: Context, params: list):
    dump = ctx.node.dump_state()
    doc = {"block": dump["block"], "accounts": {
        to_checksum_address(a): {"nonce": v["nonce"], "balance": hexq(v["balance"]), "code": hexb(v["code"]),
                                 "storage": {hexq(k): hexq(x) for k, x in v["storage"].items()}}
        for a, v in dump["accounts"].items()}}
    return hexb(gzip.compress(json.dumps(doc, sort_keys=True).encode(), mtime=0))


MAX_STATE_DUMP = 64 * 1024 * 1024


def gunzip_capped(blob: bytes, cap: int) -> bytes:
    """Decompress gzip (one or more members) a piece at a time, refusing output beyond ``cap``
    bytes before it is produced: a small bomb must not become gigabytes."""
    out = bytearray()
    while blob:
        member = zlib.decompressobj(wbits=31)
        out += member.decompress(blob, cap + 1 - len(out))
        if len(out) > cap:
            raise ValueError(f"state larger than {cap // 2**20} MiB once decompressed")
        if not member.eof:
            raise ValueError("truncated gzip data")
        blob = member.unused_data
    return bytes(out)


@method("anvil_loadState", "hardhat_loadState")
def load_state(ctx: Context, params: list):
    blob = p.data(p.arg(params, 0, "state"), "state")
    try:
        raw = gunzip_capped(blob, MAX_STATE_DUMP) if blob[:2] == b"\x1f\x8b" else blob
        if len(raw) > MAX_STATE_DUMP:
            raise ValueError("state larger than 64 MiB")
        doc = safejson.loads(raw)
        accounts = {}
        for a, v in doc["accounts"].items():
            accounts[p.address(a, "account")] = {
                "nonce": _int_or_quantity(v.get("nonce", 0), "nonce"),
                "balance": p.quantity(v.get("balance", "0x0"), "balance"),
                "code": p.data(v.get("code", "0x"), "code"),
                "storage": {p.quantity(k, "slot"): p.quantity(x, "value") for k, x in (v.get("storage") or {}).items()},
            }
    except p.RpcError:
        raise
    except Exception as exc:
        raise invalid(f"invalid state dump: {exc}") from None
    ctx.node.load_state({"accounts": accounts})
    return True


@method("anvil_nodeInfo")
def node_info(ctx: Context, params: list):
    node = ctx.node
    with node.atomic():
        return {"currentBlockNumber": hexq(node.block_number), "currentBlockTimestamp": node.head.timestamp,
                "currentBlockHash": hexb(node.head.hash), "hardFork": node.config.hardfork, "transactionOrder": "fees",
                "environment": {"baseFee": node.next_base_fee(), "chainId": node.config.chain_id,
                                "gasLimit": node.block_gas_limit or node.head.gas_limit,
                                "gasPrice": suggested_gas_price(node.next_base_fee())},
                "forkConfig": {"forkUrl": node.fork and node.fork.client.url,
                               "forkBlockNumber": node.fork and node.fork.number,
                               "forkRetryBackoff": node.fork and node.fork.client.backoff},
                "miningMode": "automine" if node.automine else ("interval" if node.interval else "manual")}


def _pool_entries(ctx: Context):
    return ctx.node.pool_content()


@method("txpool_status")
def txpool_status(ctx: Context, params: list):
    pending, queued = _pool_entries(ctx)
    return {"pending": hexq(sum(len(v) for v in pending.values())),
            "queued": hexq(sum(len(v) for v in queued.values()))}


def _tx_json(ptx):
    from imochain.chain import TxInfo
    return fmt.transaction(TxInfo(ptx.tx, ptx.hash, ptx.sender))


@method("txpool_content")
def txpool_content(ctx: Context, params: list):
    pending, queued = _pool_entries(ctx)
    return {name: {to_checksum_address(s): {str(n): _tx_json(t) for n, t in txs.items()}
                   for s, txs in group.items()}
            for name, group in (("pending", pending), ("queued", queued))}


@method("txpool_contentFrom")
def txpool_content_from(ctx: Context, params: list):
    sender = p.address(p.arg(params, 0, "address"), "address")
    pending, queued = _pool_entries(ctx)
    return {name: {str(n): _tx_json(t) for n, t in group.get(sender, {}).items()}
            for name, group in (("pending", pending), ("queued", queued))}


@method("txpool_inspect")
def txpool_inspect(ctx: Context, params: list):
    pending, queued = _pool_entries(ctx)

    def line(t):
        to = to_checksum_address(t.tx.to) if t.tx.to else "contract creation"
        return f"{to}: {t.tx.value} wei + {t.tx.gas} gas × {t.max_fee} wei"
    return {name: {to_checksum_address(s): {str(n): line(t) for n, t in txs.items()} for s, txs in group.items()}
            for name, group in (("pending", pending), ("queued", queued))}
