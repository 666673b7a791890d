"""Chain pages: latest blocks, search, a block, a transaction (decoded, traced), an address, dev accounts."""

from __future__ import annotations

import re

from imochain.chain import ChainError

from .chainview import ChainView, RpcFailed, checksum
from .storage_trace import storage_accesses

LATEST = 20
MAX_STORAGE_ROWS = 200
HEX = re.compile(r"0x[0-9a-fA-F]*")


class NotFound(Exception):
    """Nothing on the chain answers to what the page was asked for."""


def _hex_arg(text: str, length: int | None, what: str) -> str:
    text = text.strip()
    if not HEX.fullmatch(text) or (length is not None and len(text) != 2 + 2 * length):
        raise NotFound(f"{what} {text[:80]!r} is not a {length}-byte hex value")
    return text.lower()


def home(view: ChainView) -> dict:
    head = view.head()
    blocks = [view.rpc("eth_getBlockByNumber", hex(n), True) for n in range(head, max(-1, head - LATEST), -1)]
    txs = [tx for b in blocks for tx in b["transactions"]][:LATEST]
    return {"blocks": blocks, "txs": txs, "head": head}


def search(view: ChainView, query: str) -> str:
    """Where a search goes: a block number, a block or transaction hash, or an address."""
    q = query.strip()
    if q.isascii() and q.isdigit():
        return f"/block/{int(q)}"
    if HEX.fullmatch(q) and len(q) == 66:
        if view.rpc("eth_getTransactionByHash", q.lower()):
            return f"/tx/{q.lower()}"
        return f"/block/{q.lower()}"
    if HEX.fullmatch(q) and len(q) == 42:
        return f"/address/{q}"
    raise NotFound(f"nothing matches {q[:80]!r}: search by block number, block hash, transaction hash or address")


def block(view: ChainView, ident: str) -> dict:
    if ident.isascii() and ident.isdigit():
        found = view.rpc("eth_getBlockByNumber", hex(int(ident)), True)
    else:
        found = view.rpc("eth_getBlockByHash", _hex_arg(ident, 32, "block hash"), True)
    if not found:
        raise NotFound(f"no block {ident[:80]!r} on this chain")
    return {"block": found}


def transaction(view: ChainView, tx_hash: str) -> dict:
    tx_hash = _hex_arg(tx_hash, 32, "transaction hash")
    tx = view.rpc("eth_getTransactionByHash", tx_hash)
    if not tx:
        raise NotFound(f"no transaction {tx_hash} on this chain")
    receipt = view.rpc("eth_getTransactionReceipt", tx_hash)
    registry = view.registry
    target = tx.get("to")
    known = registry.contract_at(bytes.fromhex(target[2:]), view.code(target)) if target else None
    call = registry.decode_call(bytes.fromhex(tx["input"][2:]), *(known[1], known[0]) if known else (None, None))
    events = []
    for entry in (receipt or {}).get("logs", []):
        topics = [bytes.fromhex(t[2:]) for t in entry["topics"]]
        events.append((entry, registry.decode_log(topics, bytes.fromhex(entry["data"][2:])),
                       view.contract_name(entry["address"])))
    trace = revert = None
    storage: list[dict] = []
    if receipt:
        try:
            trace = view.cached(("calls", tx_hash, tx["blockHash"]), lambda: view.rpc("debug_traceTransaction", tx_hash,
                                                                     {"tracer": "callTracer"}))
            _decode_trace(view, trace)
            storage = _storage_accesses(view, tx_hash, tx["blockHash"])
        except (RpcFailed, ChainError):
            trace = None
        if receipt["status"] == "0x0":
            revert = _revert_reason(view, trace)
    return {"tx": tx, "receipt": receipt, "contract": known[0] if known else None, "call": call,
            "events": events, "trace": trace, "revert": revert, "storage": storage}


def _decode_trace(view: ChainView, frame: dict, depth: int = 0) -> None:
    """Annotate a callTracer frame tree with contract names and decoded inputs, in place."""
    if depth > 64:
        return
    to = frame.get("to")
    frame["contract"] = view.contract_name(to) if to else None
    data = bytes.fromhex((frame.get("input") or "0x")[2:])
    frame["decoded"] = view.registry.decode_call(data) if frame.get("type") != "CREATE" else None
    for child in frame.get("calls", []) or []:
        _decode_trace(view, child, depth + 1)


def _revert_reason(view: ChainView, trace: dict | None) -> str:
    if trace is None:
        return "reverted (no trace available)"
    output = bytes.fromhex((trace.get("output") or "0x")[2:])
    reason = view.registry.decode_revert(output) or trace.get("revertReason")
    return reason or trace.get("error") or "reverted without a reason"


def _storage_accesses(view: ChainView, tx_hash: str, block_hash: str) -> list[dict]:
    rows = view.cached(("storage", tx_hash, block_hash),
                       lambda: storage_accesses(view.node, bytes.fromhex(tx_hash[2:])))
    for row in rows:
        row["name"] = view.contract_name(row["address"])
    return rows


def address(view: ChainView, addr: str) -> dict:
    addr = _hex_arg(addr, 20, "address")
    balance = int(view.rpc("eth_getBalance", addr, "latest"), 16)
    nonce = int(view.rpc("eth_getTransactionCount", addr, "latest"), 16)
    code = view.code(addr)
    txs = view.transactions_of(addr)
    name = view.contract_name(addr)
    dev = addr in {a.lower() for a in view.rpc("eth_accounts")}
    if not (balance or nonce or code or txs or dev):
        raise NotFound(f"no account {checksum(addr)} on this chain: no balance, nonce, code or transactions")
    storage = []
    if code:
        seen: set[tuple] = set()
        for _, tx_hash in txs[:5]:
            block_hash = (view.rpc("eth_getTransactionByHash", tx_hash) or {}).get("blockHash")
            if not block_hash:
                continue
            for row in _storage_accesses(view, tx_hash, block_hash):
                if row["address"].lower() == addr and (row["slot"], tx_hash) not in seen:
                    seen.add((row["slot"], tx_hash))
                    storage.append(dict(row, tx=tx_hash))
    return {"address": checksum(addr), "balance": balance, "nonce": nonce, "code_size": len(code),
            "contract": name, "txs": txs[:50], "dev": dev, "storage": storage[:MAX_STORAGE_ROWS]}


def accounts(view: ChainView) -> dict:
    rows = []
    keys = {a.checksum: "0x" + a.key.hex() for a in getattr(view.node, "accounts", [])}
    for a in view.rpc("eth_accounts"):
        rows.append({"address": checksum(a), "balance": int(view.rpc("eth_getBalance", a, "latest"), 16),
                     "nonce": int(view.rpc("eth_getTransactionCount", a, "latest"), 16),
                     "key": keys.get(checksum(a))})
    return {"accounts": rows}
