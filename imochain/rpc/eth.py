"""web3_, net_ and eth_ methods."""

from __future__ import annotations

from eth_account.messages import encode_defunct, encode_typed_data
from eth_utils import keccak, to_checksum_address

from imochain import __version__, safejson
from imochain.chain.fees import DEFAULT_PRIORITY_FEE, effective_gas_price, next_base_fee, suggested_gas_price

from . import format as fmt
from . import params as p
from .dispatch import Context, method
from .params import hexb, hexq, invalid


def _node(ctx: Context):
    return ctx.node


@method("web3_clientVersion")
def client_version(ctx: Context, params: list):
    return ctx.node.config.client_version or f"imochain/v{__version__}/python"


@method("web3_sha3")
def sha3(ctx: Context, params: list):
    return hexb(keccak(p.data(p.arg(params, 0, "data"), "data")))


@method("net_version", "eth_networkId")
def net_version(ctx: Context, params: list):
    return str(ctx.node.config.chain_id)


@method("net_listening")
def net_listening(ctx: Context, params: list):
    return True


@method("net_peerCount")
def net_peer_count(ctx: Context, params: list):
    return "0x0"


@method("eth_chainId")
def chain_id(ctx: Context, params: list):
    return hexq(ctx.node.config.chain_id)


@method("eth_blockNumber")
def block_number(ctx: Context, params: list):
    return hexq(ctx.node.block_number)


@method("eth_accounts", "eth_requestAccounts", "personal_listAccounts")
def accounts(ctx: Context, params: list):
    return [a.checksum for a in ctx.node.accounts]


@method("eth_coinbase")
def coinbase(ctx: Context, params: list):
    return to_checksum_address(ctx.node.config.coinbase)


@method("eth_syncing")
def syncing(ctx: Context, params: list):
    return False


@method("eth_mining")
def mining(ctx: Context, params: list):
    return ctx.node.automine or ctx.node.interval is not None


@method("eth_hashrate")
def hashrate(ctx: Context, params: list):
    return "0x0"


@method("eth_gasPrice")
def gas_price(ctx: Context, params: list):
    return hexq(suggested_gas_price(ctx.node.next_base_fee()))


@method("eth_maxPriorityFeePerGas")
def max_priority_fee(ctx: Context, params: list):
    return hexq(DEFAULT_PRIORITY_FEE)


@method("eth_blobBaseFee")
def blob_base_fee(ctx: Context, params: list):
    return hexq(1)


@method("eth_feeHistory")
def fee_history(ctx: Context, params: list):
    node = ctx.node
    count = p.quantity(p.arg(params, 0, "blockCount"), "blockCount", 1024)
    newest = node.resolve_block(p.block_id(p.arg(params, 1, "newestBlock")))
    percentiles = p.arg(params, 2, "rewardPercentiles", required=False)
    if percentiles is not None:
        if not isinstance(percentiles, list) or len(percentiles) > 100 or any(
                not isinstance(x, (int, float)) or isinstance(x, bool) or not 0 <= x <= 100 for x in percentiles):
            raise invalid("invalid rewardPercentiles: expected up to 100 numbers in [0, 100]")
        if any(b < a for a, b in zip(percentiles, percentiles[1:])):
            raise invalid("invalid rewardPercentiles: must be monotonically increasing")
    if count == 0:  # nothing asked, nothing given (anvil)
        return {"oldestBlock": "0x0", "baseFeePerGas": [], "gasUsedRatio": []}
    with node.atomic():
        last = newest.block_number
        first = max(0, last - count + 1)
        base_fees, ratios, rewards = [], [], []
        for n in range(first, last + 1):
            info = node.get_block(n)
            h = info.header
            base_fees.append(hexq(h.base_fee_per_gas))
            ratios.append(h.gas_used / h.gas_limit if h.gas_limit else 0.0)
            if percentiles is not None:
                rewards.append(_rewards(node, info, percentiles))
        base_fees.append(hexq(next_base_fee(newest)))
    out = {"oldestBlock": hexq(first), "baseFeePerGas": base_fees, "gasUsedRatio": ratios}
    if percentiles is not None:
        out["reward"] = rewards
    return out


def _rewards(node, info, percentiles):
    base = info.header.base_fee_per_gas
    if not info.transactions:
        return [hexq(0) for _ in percentiles]
    receipts = node.block_receipts(info.number)
    tips = sorted((effective_gas_price(t.tx, base) - base, r.gas_used)
                  for t, r in zip(info.transactions, receipts))
    total = sum(g for _, g in tips) or 1
    out = []
    for pct in percentiles:
        threshold = total * pct / 100
        acc = 0
        chosen = tips[-1][0]
        for tip, g in tips:
            acc += g
            if acc >= threshold:
                chosen = tip
                break
        out.append(hexq(chosen))
    return out


@method("eth_getBalance")
def get_balance(ctx: Context, params: list):
    a = p.address(p.arg(params, 0, "address"))
    return hexq(ctx.node.get_balance(a, p.block_id(p.arg(params, 1, "block", False))))


@method("eth_getAccount")
def get_account(ctx: Context, params: list):
    a = p.address(p.arg(params, 0, "address"))
    acct = ctx.node.get_account(a, p.block_id(p.arg(params, 1, "block", False)))
    return {"codeHash": hexb(acct["codeHash"]), "storageRoot": hexb(acct["storageRoot"]),
            "balance": hexq(acct["balance"]), "nonce": hexq(acct["nonce"])}


@method("eth_getTransactionCount")
def get_transaction_count(ctx: Context, params: list):
    a = p.address(p.arg(params, 0, "address"))
    return hexq(ctx.node.get_nonce(a, p.block_id(p.arg(params, 1, "block", False))))


@method("eth_getCode")
def get_code(ctx: Context, params: list):
    a = p.address(p.arg(params, 0, "address"))
    return hexb(ctx.node.get_code(a, p.block_id(p.arg(params, 1, "block", False))))


@method("eth_getStorageAt")
def get_storage_at(ctx: Context, params: list):
    a = p.address(p.arg(params, 0, "address"))
    slot_raw = p.arg(params, 1, "slot")
    slot = p.quantity(slot_raw, "slot") if not (
        isinstance(slot_raw, str) and len(slot_raw) == 66) else int.from_bytes(p.hash32(slot_raw, "slot"), "big")
    value = ctx.node.get_storage(a, slot, p.block_id(p.arg(params, 2, "block", False)))
    return hexb(value.to_bytes(32, "big"))


@method("eth_getProof")
def get_proof(ctx: Context, params: list):
    raise p.RpcError(-32601, "the method eth_getProof does not exist/is not available")


def _call_args(params: list):
    tx = p.tx_request(p.arg(params, 0, "transaction"))
    block = p.block_id(p.arg(params, 1, "block", False))
    overrides = p.state_overrides(p.arg(params, 2, "stateOverrides", False))
    return tx, block, overrides


@method("eth_call")
def call(ctx: Context, params: list):
    tx, block, overrides = _call_args(params)
    return hexb(ctx.node.call(tx, block, overrides))


@method("eth_estimateGas")
def estimate_gas(ctx: Context, params: list):
    tx, block, overrides = _call_args(params)
    return hexq(ctx.node.estimate_gas(tx, block, overrides))


@method("eth_createAccessList")
def create_access_list(ctx: Context, params: list):
    tx, block, _ = _call_args(params)
    entries, gas = ctx.node.create_access_list(tx, block)
    return {"accessList": [{"address": fmt.addr(e["address"]),
                            "storageKeys": [hexb(k.to_bytes(32, "big")) for k in e["storageKeys"]]}
                           for e in entries],
            "gasUsed": hexq(gas)}


@method("eth_sendRawTransaction")
def send_raw_transaction(ctx: Context, params: list):
    raw = p.data(p.arg(params, 0, "transaction"), "transaction")
    if len(raw) > 256 * 1024:
        raise p.RpcError(-32000, "oversized data: transaction larger than 256 KiB")
    return hexb(ctx.node.send_raw_transaction(raw))


@method("eth_sendTransaction")
def send_transaction(ctx: Context, params: list):
    tx = p.tx_request(p.arg(params, 0, "transaction"))
    if "from" not in tx:
        raise invalid("invalid transaction: missing 'from'")
    return hexb(ctx.node.send_transaction(tx))


@method("eth_signTransaction")
def sign_transaction(ctx: Context, params: list):
    tx = p.tx_request(p.arg(params, 0, "transaction"))
    if "from" not in tx:
        raise invalid("invalid transaction: missing 'from'")
    return hexb(ctx.node.sign_transaction(tx))


def _signed(ctx: Context, address: bytes, message) -> str:
    if not ctx.node.has_key(address):
        raise p.RpcError(-32000, f"no private key for {to_checksum_address(address)}: not a dev account")
    return hexb(ctx.node.sign_message(address, message))


@method("eth_sign")
def eth_sign(ctx: Context, params: list):
    address = p.address(p.arg(params, 0, "address"))
    message = p.data(p.arg(params, 1, "message"), "message")
    return _signed(ctx, address, encode_defunct(primitive=message))


@method("personal_sign")
def personal_sign(ctx: Context, params: list):
    message = p.data(p.arg(params, 0, "message"), "message")
    address = p.address(p.arg(params, 1, "address"))
    return _signed(ctx, address, encode_defunct(primitive=message))


@method("eth_signTypedData_v4", "eth_signTypedData")
def sign_typed_data(ctx: Context, params: list):
    address = p.address(p.arg(params, 0, "address"))
    typed = p.arg(params, 1, "typedData")
    if isinstance(typed, str):
        try:
            typed = safejson.loads(typed)
        except ValueError:
            raise invalid("invalid typedData: not JSON") from None
    if not isinstance(typed, dict):
        raise invalid("invalid typedData: expected an object")
    try:
        message = encode_typed_data(full_message=typed)
    except Exception as exc:
        raise invalid(f"invalid typedData: {exc}") from None
    return _signed(ctx, address, message)


@method("eth_getTransactionByHash")
def get_transaction_by_hash(ctx: Context, params: list):
    info = ctx.node.get_transaction(p.hash32(p.arg(params, 0, "hash")))
    return None if info is None else fmt.transaction(info)


def _tx_in_block(ctx: Context, block, index_param):
    index = p.quantity(index_param, "index")
    try:
        info = ctx.node.get_block(block)
    except Exception:
        return None
    if index >= len(info.transactions):
        return None
    return fmt.transaction(info.transactions[index])


@method("eth_getTransactionByBlockHashAndIndex")
def get_tx_by_block_hash_and_index(ctx: Context, params: list):
    return _tx_in_block(ctx, p.hash32(p.arg(params, 0, "blockHash"), "blockHash"), p.arg(params, 1, "index"))


@method("eth_getTransactionByBlockNumberAndIndex")
def get_tx_by_block_number_and_index(ctx: Context, params: list):
    return _tx_in_block(ctx, p.block_id(p.arg(params, 0, "block")), p.arg(params, 1, "index"))


@method("eth_getTransactionReceipt")
def get_transaction_receipt(ctx: Context, params: list):
    r = ctx.node.get_receipt(p.hash32(p.arg(params, 0, "hash")))
    return None if r is None else fmt.receipt(r)


def _block_or_none(ctx: Context, block_id, full: bool):
    from imochain.chain import BlockNotFound
    try:
        return fmt.block(ctx.node.get_block(block_id), full)
    except BlockNotFound:
        return None


@method("eth_getBlockByNumber")
def get_block_by_number(ctx: Context, params: list):
    full = p.boolean(p.arg(params, 1, "fullTransactions", False) or False, "fullTransactions")
    return _block_or_none(ctx, p.block_id(p.arg(params, 0, "block")), full)


@method("eth_getBlockByHash")
def get_block_by_hash(ctx: Context, params: list):
    full = p.boolean(p.arg(params, 1, "fullTransactions", False) or False, "fullTransactions")
    return _block_or_none(ctx, p.hash32(p.arg(params, 0, "blockHash"), "blockHash"), full)


def _tx_count(ctx: Context, block_id):
    from imochain.chain import BlockNotFound
    try:
        return hexq(len(ctx.node.get_block(block_id).transactions))
    except BlockNotFound:
        return None


@method("eth_getBlockTransactionCountByHash")
def tx_count_by_hash(ctx: Context, params: list):
    return _tx_count(ctx, p.hash32(p.arg(params, 0, "blockHash"), "blockHash"))


@method("eth_getBlockTransactionCountByNumber")
def tx_count_by_number(ctx: Context, params: list):
    return _tx_count(ctx, p.block_id(p.arg(params, 0, "block")))


@method("eth_getUncleCountByBlockHash", "eth_getUncleCountByBlockNumber")
def uncle_count(ctx: Context, params: list):
    return "0x0"


@method("eth_getUncleByBlockHashAndIndex", "eth_getUncleByBlockNumberAndIndex")
def uncle(ctx: Context, params: list):
    return None


@method("eth_getBlockReceipts")
def get_block_receipts(ctx: Context, params: list):
    from imochain.chain import BlockNotFound
    try:
        return [fmt.receipt(r) for r in ctx.node.block_receipts(p.block_id(p.arg(params, 0, "block")))]
    except BlockNotFound:
        return None
