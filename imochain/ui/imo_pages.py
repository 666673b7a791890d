"""IMO pages: models (graph, MACs, gas), the oracle's requests and opML games, offerings and tokens, the playground."""

from __future__ import annotations

from eth_abi import encode as abi_encode
from eth_utils import keccak

from .chain_pages import NotFound, _hex_arg
from .chainview import ChainView, RpcFailed, checksum

BATCHES = (1, 8, 64)
LATEST_REQUESTS = 50
DTYPE_CODES = {"int8": 1, "int32": 2, "float32": 3}
DTYPE_SIZES = {1: 1, 2: 4, 3: 4}


def genesis(view: ChainView) -> dict[str, tuple[str, list]]:
    """Genesis contracts present on this chain: name → (address, abi)."""
    out = {}
    for raw, (name, abi) in view.registry.by_address.items():
        address = checksum(raw)
        if view.code(address):
            out[name] = (address, abi)
    return out


def _zero_tensor(dtype: str, shape: list[int]) -> bytes:
    code = DTYPE_CODES.get(dtype, 1)
    size = DTYPE_SIZES[code]
    for d in shape:
        size *= d
    return abi_encode(["uint8", "uint32[]", "bytes"], [code, shape, bytes(size)])


def oracle_models(view: ChainView, contracts: dict) -> dict[int, str]:
    """The oracle's model id → model hash (0x…), for every model registered with the AIOracle."""
    if "AIOracle" not in contracts:
        return {}
    address, abi = contracts["AIOracle"]
    out = {}
    for i in range(min(view.call(address, abi, "numberOfModels") or 0, 500)):
        model_id = view.call(address, abi, "modelIDs", i)
        info = view.call(address, abi, "getModel", model_id)
        if info:
            out[model_id] = "0x" + info[0].hex()
    return out


def oracle_model_ids(view: ChainView, contracts: dict) -> dict[str, int]:
    """Model hash → its first (lowest) oracle model id."""
    out: dict[str, int] = {}
    for model_id, model_hash in sorted(oracle_models(view, contracts).items()):
        out.setdefault(model_hash, model_id)
    return out


class ModelFacts:
    """What never changes for a content-addressed model: its graph and gas quotes, cached."""

    def __init__(self):
        self.cache: dict[str, dict] = {}

    def get(self, view: ChainView, row: dict) -> dict:
        key = row["hash"]
        if key not in self.cache:
            facts = {"layers": [], "gas": {}}
            if row.get("kind") == "tensor":
                facts["layers"] = _layers(view, key)
                for b in BATCHES:
                    tensor = _zero_tensor(row["input_dtype"], [b, *row["input_shape"]])
                    try:
                        facts["gas"][b] = int(view.rpc("imo_quoteGas", key, "0x" + tensor.hex()), 16)
                    except RpcFailed as exc:
                        facts["gas"][b] = str(exc)
            self.cache[key] = facts
        return self.cache[key]


def _layers(view: ChainView, model_hash: str) -> list[dict]:
    store = getattr(view.node, "models", None)
    try:
        graph = store.get(bytes.fromhex(model_hash[2:])).graph
    except Exception:
        return []
    return [{"index": n.index, "op": n.op, "shape": list(n.out_shape), "dtype": n.out_dtype, "macs": n.macs,
             "attrs": {k: v for k, v in n.attrs.items() if isinstance(v, (int, float, str)) and k != "op"}}
            for n in graph.nodes]


def models(view: ChainView, facts: ModelFacts) -> dict:
    try:
        rows = view.rpc("imo_listModels")
    except RpcFailed as exc:
        return {"models": [], "error": exc.error.get("message")}
    ids = oracle_model_ids(view, genesis(view))
    for row in rows:
        row.update(facts.get(view, row), oracle_id=ids.get(row["hash"]))
    return {"models": rows}


def model(view: ChainView, facts: ModelFacts, model_hash: str) -> dict:
    model_hash = _hex_arg(model_hash, 32, "model hash")
    for row in models(view, facts)["models"]:
        if row["hash"].lower() == model_hash:
            return {"model": row}
    raise NotFound(f"no model {model_hash} in this node's store")


def oracle(view: ChainView) -> dict:
    contracts = genesis(view)
    if "AIOracle" not in contracts:
        return {"requests": [], "passes": [], "fault_rate": None}
    oracle_address, oracle_abi = contracts["AIOracle"]
    names = {r["hash"]: r["name"] for r in _safe_list(view)}
    ids = {i: names.get(h, h[:10]) for i, h in oracle_models(view, contracts).items()}
    requests: dict[int, dict] = {}
    for entry in view.logs(oracle_address):
        args, rid = entry["args"], entry["args"].get("requestId")
        if entry["decoded"].name == "AICallbackRequest":
            requests[rid] = {"id": rid, "account": args["account"], "model_id": args["modelId"],
                             "model": ids.get(args["modelId"], f"#{args['modelId']}"), "input": args["input"],
                             "tx": entry["transactionHash"], "block": int(entry["blockNumber"], 16),
                             "batch": args.get("batchSize", 1), "results": [], "games": []}
        elif entry["decoded"].name == "AICallbackResult" and rid in requests:
            requests[rid]["results"].append({"output": args["output"], "tx": entry["transactionHash"],
                                             "block": int(entry["blockNumber"], 16), "invoker": args["invoker"]})
        elif entry["decoded"].name == "AICallbackError" and rid in requests:
            requests[rid]["error"] = bytes(args["message"]).decode("utf-8", "replace")
    if "OpML" in contracts:
        opml_address, opml_abi = contracts["OpML"]
        for entry in view.logs(opml_address):
            rid = entry["args"].get("requestId")
            if rid in requests:
                requests[rid]["games"].append((entry["decoded"].name, entry["args"], int(entry["blockNumber"], 16),
                                               entry["transactionHash"]))
    game = {}
    if "OpML" in contracts:
        from imochain.contracts.genesis import OPERATOR_ADDRESS
        game = {"window": view.call(opml_address, opml_abi, "challengeWindow"),
                "result_bond": view.call(opml_address, opml_abi, "resultBond"),
                "challenge_bond": view.call(opml_address, opml_abi, "challengeBond"),
                "operator": OPERATOR_ADDRESS, "operator_bond": view.call(opml_address, opml_abi, "bondOf", OPERATOR_ADDRESS)}
    status = _status(view)
    by_request = {rid: p for p in status.get("passes", []) for rid in p["requests"]}
    latest = sorted(requests.values(), key=lambda r: -r["id"])[:LATEST_REQUESTS]
    for r in latest:
        r["pass"] = by_request.get(r["id"])
        if "OpML" in contracts:
            r["deadline"] = view.call(opml_address, opml_abi, "challengeDeadline", r["id"])
            r["finalized"] = view.call(oracle_address, oracle_abi, "isFinalized", r["id"])
    return {"requests": latest, "passes": status.get("passes", [])[-20:][::-1],
            "fault_rate": status.get("faultRate"), "head": view.head(), "game": game}


def _safe_list(view: ChainView) -> list[dict]:
    try:
        return view.rpc("imo_listModels")
    except RpcFailed:
        return []


def _status(view: ChainView) -> dict:
    try:
        return view.rpc("imo_oracleStatus")
    except RpcFailed:
        return {}


def imo(view: ChainView) -> dict:
    contracts = genesis(view)
    offerings: dict[int, dict] = {}
    tokens = []
    if "IMOLaunchpad" in contracts:
        for entry in view.logs(contracts["IMOLaunchpad"][0]):
            name, args = entry["decoded"].name, entry["args"]
            oid = args.get("offeringId")
            if name == "OfferingOpened":
                offerings[oid] = dict(args, id=oid, deposits=[], claims=[], refunds=[], result=None)
            elif oid in offerings and name == "Deposited":
                offerings[oid]["deposits"].append(args)
            elif oid in offerings and name == "Claimed":
                offerings[oid]["claims"].append(args)
            elif oid in offerings and name == "Refunded":
                offerings[oid]["refunds"].append(args)
            elif oid in offerings and name == "Finalized":
                offerings[oid]["result"] = args
                if args["success"]:
                    tokens.append(_token(view, args["token"]))
    nfts = _collection(view, contracts) if "ERC7007Collection" in contracts else None
    return {"offerings": list(offerings.values()), "tokens": tokens, "nfts": nfts}


def _token(view: ChainView, address: str) -> dict:
    from imochain.contracts import abi as artifact_abi
    abi = artifact_abi("ERC7641")
    holders: set[str] = set()
    snapshots, claims = [], []
    for entry in view.logs(address):
        name, args = entry["decoded"].name, entry["args"]
        if name == "Transfer":
            holders.update({args["from"], args["to"]})
        elif name == "Snapshot":
            snapshots.append(dict(args, block=int(entry["blockNumber"], 16)))
        elif name == "Claim":
            claims.append(dict(args, tx=entry["transactionHash"]))
    holders.discard("0x0000000000000000000000000000000000000000")
    supply = view.call(address, abi, "totalSupply") or 0
    rows = sorted(((h, view.call(address, abi, "balanceOf", h) or 0) for h in holders), key=lambda r: -r[1])
    return {"address": checksum(address), "name": view.call(address, abi, "name"),
            "symbol": view.call(address, abi, "symbol"), "supply": supply,
            "holders": [(checksum(h), b, b / supply if supply else 0) for h, b in rows if b][:100],
            "snapshots": snapshots, "claims": claims, "balance": int(view.rpc("eth_getBalance", address, "latest"), 16),
            "redeem_pool": view.call(address, abi, "redeemPool")}


def _collection(view: ChainView, contracts: dict) -> dict:
    address, abi = contracts["ERC7007Collection"]
    items = []
    for entry in view.logs(address, "Transfer"):
        args = entry["args"]
        if args["from"] != "0x0000000000000000000000000000000000000000":
            continue
        token_id = args["tokenId"]
        prompt = view.call(address, abi, "promptBytes", token_id) or b""
        aigc = view.call(address, abi, "aigcDataOf", token_id) or b""
        proof = view.call(address, abi, "proofOf", token_id) or b""
        items.append({"id": token_id, "owner": view.call(address, abi, "ownerOf", token_id), "prompt": prompt,
                      "aigc": aigc, "verified": view.call(address, abi, "verify", prompt, aigc, proof)})
    return {"address": address, "name": view.call(address, abi, "name"), "minted": items[-60:][::-1],
            "price": view.call(address, abi, "mintPrice")}


def playground(view: ChainView) -> dict:
    contracts = genesis(view)
    listed = _safe_list(view)
    ids = oracle_model_ids(view, contracts)
    classifier = next((ids.get(m["hash"]) for m in listed if m["name"] == "digits-classifier"), None)
    text = next(((ids.get(m["hash"]), m["name"]) for m in listed if m.get("kind") == "text" and ids.get(m["hash"])),
                (None, None))
    sel = {name: "0x" + keccak(text=sig)[:4].hex() for name, sig in {
        "ask": "calculateAIResult(uint256,bytes)", "fee": "estimateFee(uint256)",
        "result": "getAIResult(uint256,bytes)"}.items()}
    topics = {name: "0x" + keccak(text=sig).hex() for name, sig in {
        "request": "AICallbackRequest(address,uint256,uint256,bytes,address,uint64,bytes)",
        "request2": "AICallbackRequest(address,uint256,uint256,bytes,address,uint64,bytes,uint8,uint8,uint256)",
        "result": "AICallbackResult(address,uint256,address,bytes)",
        "settled": "ChallengeSettled(uint256,address,bool,bytes32,bytes32,uint256)"}.items()}
    return {"accounts": view.rpc("eth_accounts"), "classifier_id": classifier, "text_id": text[0],
            "text_name": text[1], "oracle_status": _status(view),
            "config": {"prompt": contracts.get("Prompt", ("",))[0], "oracle": contracts.get("AIOracle", ("",))[0],
                       "opml": contracts.get("OpML", ("",))[0], "selectors": sel, "topics": topics,
                       "classifier": classifier, "text": text[0]}}
