"""Chain objects → the JSON shapes of the Ethereum execution API.

Two dialects, set per request (`shapes`): anvil's (the default: EIP-55 addresses,
`totalDifficulty`, `blockTimestamp` in receipts) and geth's (lowercase addresses, neither
field), which a chain started from a geth genesis file answers in.
"""

from __future__ import annotations

import contextvars
import functools

from eth_utils import to_checksum_address

from imochain.chain import BlockInfo, LogInfo, ReceiptInfo, TxInfo
from imochain.chain.fees import effective_gas_price, tx_type

from .params import hexb, hexq


GETH = "geth"
shapes: contextvars.ContextVar[str] = contextvars.ContextVar("shapes", default="anvil")


# a few accounts and contracts come back in most answers: their EIP-55 form (a keccak each) is kept
_checksummed = functools.lru_cache(maxsize=4096)(to_checksum_address)


def addr(a: bytes | None) -> str | None:
    if not a:
        return None
    return "0x" + a.hex() if shapes.get() == GETH else _checksummed(bytes(a))


def bloom(value: int) -> str:
    return "0x" + value.to_bytes(256, "big").hex()


def block(info: BlockInfo, full: bool, total_difficulty: int = 0) -> dict:
    h = info.header
    out = {
        "hash": hexb(h.hash),
        "parentHash": hexb(h.parent_hash),
        "sha3Uncles": hexb(h.uncles_hash),
        "miner": addr(h.coinbase) or "0x" + "00" * 20,
        "stateRoot": hexb(h.state_root),
        "transactionsRoot": hexb(h.transaction_root),
        "receiptsRoot": hexb(h.receipt_root),
        "logsBloom": bloom(h.bloom),
        "difficulty": hexq(h.difficulty),
        "totalDifficulty": hexq(total_difficulty),
        "number": hexq(h.block_number),
        "gasLimit": hexq(h.gas_limit),
        "gasUsed": hexq(h.gas_used),
        "timestamp": hexq(h.timestamp),
        "extraData": hexb(h.extra_data),
        "mixHash": hexb(h.mix_hash),
        "nonce": hexb(h.nonce),
        "size": hexq(info.size),
        "uncles": [],
        "transactions": [transaction(t) for t in info.transactions] if full
        else [hexb(t.hash) for t in info.transactions],
    }
    for field, key in (("base_fee_per_gas", "baseFeePerGas"), ("withdrawals_root", "withdrawalsRoot"), ("blob_gas_used", "blobGasUsed"),
                       ("excess_blob_gas", "excessBlobGas"),
                       ("parent_beacon_block_root", "parentBeaconBlockRoot"),
                       ("requests_hash", "requestsHash")):
        try:
            value = getattr(h, field, None)
        except AttributeError:  # py-evm raises for a base fee before London
            value = None
        if value is not None:
            out[key] = hexb(value) if isinstance(value, bytes) else hexq(value)
    if shapes.get() == GETH:
        del out["totalDifficulty"]
    if "withdrawalsRoot" in out:
        out["withdrawals"] = [{"index": hexq(w.index), "validatorIndex": hexq(w.validator_index),
                               "address": addr(w.address), "amount": hexq(w.amount)} for w in info.withdrawals]
    return out


def transaction(info: TxInfo) -> dict:
    tx = info.tx
    t = tx_type(tx)
    out = {
        "hash": hexb(info.hash),
        "type": hexq(t),
        "nonce": hexq(tx.nonce),
        "blockHash": hexb(info.block_hash) if info.block_hash else None,
        "blockNumber": hexq(info.block_number) if info.block_number is not None else None,
        "transactionIndex": hexq(info.index) if info.index is not None else None,
        "blockTimestamp": hexq(info.block_timestamp) if info.block_timestamp is not None else None,
        "from": addr(info.sender),
        "to": addr(tx.to),
        "value": hexq(tx.value),
        "gas": hexq(tx.gas),
        "input": hexb(tx.data),
    }
    if t >= 2:
        out["maxFeePerGas"] = hexq(tx.max_fee_per_gas)
        out["maxPriorityFeePerGas"] = hexq(tx.max_priority_fee_per_gas)
        out["gasPrice"] = hexq(effective_gas_price(tx, info.base_fee) if info.base_fee is not None
                               else tx.max_fee_per_gas)
    else:
        out["gasPrice"] = hexq(tx.gas_price)
    if t >= 1:
        out["chainId"] = hexq(tx.chain_id)
        out["accessList"] = [{"address": addr(a), "storageKeys": [hexb(k.to_bytes(32, "big") if isinstance(k, int) else k) for k in keys]}
                             for a, keys in tx.access_list]
        out["yParity"] = hexq(tx.y_parity)
        out["v"] = hexq(tx.y_parity)
    else:
        out["v"] = hexq(tx.v)
        chain_id = getattr(tx, "chain_id", None)
        if chain_id is not None:
            out["chainId"] = hexq(chain_id)
    if t == 3:  # EIP-4844 blob transactions
        out["maxFeePerBlobGas"] = hexq(tx.max_fee_per_blob_gas)
        out["blobVersionedHashes"] = [hexb(h) for h in tx.blob_versioned_hashes]
    if t == 4:  # EIP-7702 set-code transactions carry their delegations
        out["authorizationList"] = [
            {"chainId": hexq(a.chain_id), "address": addr(a.address), "nonce": hexq(a.nonce),
             "yParity": hexq(a.y_parity), "r": hexq(a.r), "s": hexq(a.s)}
            for a in tx.authorization_list]
    out["r"] = hexq(tx.r)
    out["s"] = hexq(tx.s)
    return out


def log(entry: LogInfo) -> dict:
    out = {
        "address": addr(entry.address),
        "topics": [hexb(t) for t in entry.topics],
        "data": hexb(entry.data),
        "blockNumber": hexq(entry.block_number),
        "blockHash": hexb(entry.block_hash),
        "transactionHash": hexb(entry.tx_hash),
        "transactionIndex": hexq(entry.tx_index),
        "logIndex": hexq(entry.log_index),
        "removed": entry.removed,
    }
    if entry.block_timestamp is not None:  # anvil and recent geth add it
        out["blockTimestamp"] = hexq(entry.block_timestamp)
    return out


def receipt(r: ReceiptInfo) -> dict:
    out = {
        "transactionHash": hexb(r.tx_hash),
        "transactionIndex": hexq(r.tx_index),
        "blockHash": hexb(r.block_hash),
        "blockNumber": hexq(r.block_number),
        "from": addr(r.sender),
        "to": addr(r.to),
        "cumulativeGasUsed": hexq(r.cumulative_gas_used),
        "gasUsed": hexq(r.gas_used),
        "effectiveGasPrice": hexq(r.effective_gas_price),
        "contractAddress": addr(r.contract_address),
        "logs": [log(entry) for entry in r.logs],
        "logsBloom": bloom(r.logs_bloom),
        "status": hexq(r.status),
        "type": hexq(r.type),
    }
    if r.root is not None:  # before Byzantium: the post-state root instead of a status
        del out["status"]
        out["root"] = hexb(r.root)
    if r.blob_gas_used is not None:
        out["blobGasUsed"] = hexq(r.blob_gas_used)
        out["blobGasPrice"] = hexq(r.blob_gas_price)
    if r.block_timestamp is not None and shapes.get() != GETH:
        out["blockTimestamp"] = hexq(r.block_timestamp)
    return out
