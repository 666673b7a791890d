"""The benchmark regimes, shared by `imochain bench` (runner.py) and `benchmarks/`.

Each regime measures one path for one model (precompile via eth_call, execute_batch, the oracle
worker in a block, pure EVM, node throughput) and checks its outputs against the precompile's;
`Settings` sizes them. See runner.py for what the report holds.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np

from imochain.precompiles import INFERENCE_ADDRESS, InferencePrecompile
from imochain.models.graph import ITEMSIZE
from imochain.models.tensor import decode_array, encode_array, encode_call

BATCH_SIZES = (1, 8, 64)
BLOCK_GAS_LIMIT = 30_000_000
SCALAR_MAX_MACS = 30_000          # the one-MAC-per-iteration loop only on small models (py-evm time)
LARGEST_IN_QUICK = "mlp-3072-1024-1024-10"


@dataclass
class Settings:
    quick: bool = False
    devices: tuple = ("cpu",)
    repeats: int = 15             # timed repeats per figure (medians)
    batch_repeats: int = 7
    evm_inputs: int = 3           # inputs checked / measured in pure EVM
    node_tx: int = 300
    node_calls: int = 200
    skip_pure_evm: tuple = ()
    models: tuple | None = None   # restrict to these names (tests)
    node_throughput: bool = True
    threads: int | None = None    # torch intra-op threads; None = torch's default
    oracle: bool = True           # the end-to-end oracle-worker regime (genesis contracts)
    oracle_batch_sizes: tuple = BATCH_SIZES
    zkml: bool = True
    scalar_max_macs: int = SCALAR_MAX_MACS

    @classmethod
    def for_run(cls, quick: bool, devices: tuple, threads: int | None = None) -> "Settings":
        if quick:
            return cls(quick=True, devices=devices, repeats=5, batch_repeats=3, evm_inputs=2,
                       node_tx=60, node_calls=60, skip_pure_evm=(LARGEST_IN_QUICK,), threads=threads)
        return cls(quick=False, devices=devices, threads=threads)


def _median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def sample_input(model, seed: int) -> np.ndarray:
    g = model.graph
    rng = np.random.default_rng(seed)
    if g.input_dtype == "int8":
        return rng.integers(-128, 128, size=g.input_shape, dtype=np.int8)
    return rng.standard_normal(g.input_shape).astype(np.float32)


def model_row(model) -> dict:
    g = model.graph
    return {
        "name": g.name, "hash": "0x" + model.hash.hex(), "mode": g.mode, "macs": g.macs_per_sample,
        "params": g.params, "input_shape": list(g.input_shape), "output_shape": list(g.output_shape),
        "input_bytes": int(np.prod(g.input_shape)) * ITEMSIZE[g.input_dtype],
        "output_bytes": int(np.prod(g.output_shape)) * ITEMSIZE[g.output_dtype],
        "file_bytes": model.size,
    }


# ------------------------------------------------------------------------------ precompile
def _sync(torch, device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def bench_precompile(w3, node, model, device: str, s: Settings) -> dict:
    """gas, µs via eth_call / execute / raw torch forward, timed interleaved (same load)."""
    from imochain.models import runtime
    torch = runtime.torch_module()
    pc = InferencePrecompile(node.models, device)
    x = sample_input(model, 1)
    calldata = encode_call(model.hash, encode_array(x))
    gas = pc.gas_cost(calldata)
    out = pc.execute(calldata)                       # prepares the runtime (weights moved once)
    rt = model.runtimes[device]
    t = torch.from_numpy(x[None].copy()).to(device)
    # One JSON-RPC eth_call through the in-process dispatcher (the provider web3.py would use,
    # without web3.py's per-call middleware round trips such as its eth_chainId check).
    provider = w3.provider
    params = [{"to": "0x" + INFERENCE_ADDRESS.hex(), "data": "0x" + calldata.hex()}, "latest"]

    def eth_call() -> bytes:
        resp = provider.make_request("eth_call", params)
        if "error" in resp:
            raise RuntimeError(f"eth_call to 0xA1 failed: {resp['error']}")
        return bytes.fromhex(resp["result"][2:])

    via_rpc = eth_call()
    raw_out = rt.forward_torch(t).cpu().numpy().astype(rt.out_numpy_dtype)[0]
    raw_t, exe_t, call_t = [], [], []
    for _ in range(2):                                # warm-up: allocator, caches, lazy imports
        rt.forward_torch(t)
        pc.execute(calldata)
        eth_call()
    for _ in range(s.repeats):
        t0 = time.perf_counter()
        rt.forward_torch(t)
        _sync(torch, device)
        t1 = time.perf_counter()
        pc.execute(calldata)
        t2 = time.perf_counter()
        eth_call()
        t3 = time.perf_counter()
        raw_t.append(t1 - t0)
        exe_t.append(t2 - t1)
        call_t.append(t3 - t2)
    raw_us, exe_us, call_us = _median_us(raw_t), _median_us(exe_t), _median_us(call_t)
    return {
        "model": model.graph.name, "device": device, "gas": gas,
        "eth_call_us": call_us, "execute_us": exe_us, "torch_us": raw_us,
        "overhead_eth_call": call_us / raw_us, "overhead_execute": exe_us / raw_us,
        "gas_per_us_eth_call": gas / call_us,
        "eth_call_equals_execute": via_rpc == out,
        "torch_equals_execute": bool(np.array_equal(raw_out, decode_array(out))),
        "output_hex": out.hex(), "repeats": s.repeats,
    }


def bench_batch(node, model, device: str, s: Settings) -> dict:
    """µs per request through execute_batch (the oracle worker's path) at batch 1, 8, 64."""
    pc = InferencePrecompile(node.models, device)
    # seed 1 first: the same input the precompile and pure-EVM regimes use
    tensors = [encode_array(sample_input(model, 1 + i)) for i in range(max(BATCH_SIZES))]
    one_by_one = [pc.execute(encode_call(model.hash, t)) for t in tensors]
    res = {"model": model.graph.name, "device": device, "per_request_us": {}, "batch_us": {},
           "equals_one_by_one": {}}
    for b in BATCH_SIZES:
        part = tensors[:b]
        outs = pc.execute_batch(model.hash, part)
        # int8 is exact for any batch size; fp32 is not (labelled, not asserted)
        res["equals_one_by_one"][str(b)] = outs == one_by_one[:b]
        res["first_output_hex"] = outs[0].hex()      # the largest batch's, kept last
        pc.execute_batch(model.hash, part)
        times = []
        for _ in range(s.batch_repeats):
            t0 = time.perf_counter()
            pc.execute_batch(model.hash, part)
            times.append(time.perf_counter() - t0)
        us = _median_us(times)
        res["batch_us"][str(b)] = us
        res["per_request_us"][str(b)] = us / b
    res["speedup_64_vs_1"] = res["per_request_us"]["1"] / res["per_request_us"]["64"]
    return res


# ------------------------------------------------------------------------------ oracle worker
def bench_oracle(names, s: Settings, log, device: str = "cpu") -> dict:
    """The real path: B requests to the genesis AIOracle in one block, the node's oracle worker
    answers them in one forward pass (its record gives the pass's µs) and posts callbacks.
    ``device``: where the node's precompile (and so the worker's forward pass) runs."""
    try:
        from imochain.oracle import start_services
        from imochain.contracts import GENESIS_ADDRESSES, abi
        from imochain.contracts.genesis import model_ids
    except ImportError as exc:
        return {"skipped": f"oracle contracts or services unavailable: {exc}"}
    from imochain.chain import NodeConfig
    from imochain.testing import in_process_web3

    w3, node = in_process_web3(NodeConfig(default_text_model=False, device=device))
    # answered inside the mining loop below (not off the lock, which big batches otherwise are):
    # the block time measured is the work, not a wait for the worker's thread
    services = start_services(node, oracle=True, challenger=False, offlock=False)
    if not services:
        return {"skipped": "the node started no oracle worker"}
    worker = services[0]
    try:
        ids = model_ids([(m["name"], bytes.fromhex(m["hash"][2:])) for m in node.models.list()])
        oracle = w3.eth.contract(address=GENESIS_ADDRESSES["AIOracle"], abi=abi("AIOracle"))
        pc = InferencePrecompile(node.models, device)
        sender = w3.eth.accounts[2]
        rpc = w3.provider.make_request
        out = {"path": "AIOracle.requestCallback x B in one block -> worker (execute_batch) -> invokeCallback",
               "device": device, "batch_sizes": list(s.oracle_batch_sizes), "models": {}}
        for name in names:
            h = node.models.find(name)
            if h is None or name not in ids:
                continue
            log(f"  oracle worker: {name}")
            model = node.models.get(h)
            fee = oracle.functions.estimateFee(ids[name], 0).call()
            res = {"model_id": ids[name], "per_request_us": {}, "block_ms_per_request": {}, "forward_passes": {},
                   "largest_pass": {}, "outputs_equal": {}}
            for b in (1,) + tuple(s.oracle_batch_sizes):   # the first round warms up, untimed
                warm = "warm" not in res
                res["warm"] = True
                tensors = [encode_array(sample_input(model, 1 + i)) for i in range(b)]
                rpc("evm_setAutomine", [False])
                for t in tensors:
                    oracle.functions.requestCallback(ids[name], t, "0x" + "00" * 20, 0, b"").transact(
                        {"from": sender, "value": fee, "gas": 1_000_000})
                before = len(worker.records)
                t0 = time.perf_counter()
                blocks = 0
                # requests that do not fit the block gas limit wait for the next block: mine until
                # every request and every callback is in
                while node.pending_count() and blocks < 100:
                    rpc("evm_mine", [])
                    blocks += 1
                rpc("evm_setAutomine", [True])
                block_s = time.perf_counter() - t0
                if warm:
                    continue
                recs = [r for r in worker.records[before:] if r.model == name]
                samples = sum(r.batch_size for r in recs)
                if samples != b:
                    res["error"] = f"worker served {samples} of {b} requests"
                    break
                res["forward_passes"][str(b)] = len(recs)
                res["largest_pass"][str(b)] = max(r.batch_size for r in recs)
                res["per_request_us"][str(b)] = sum(r.micros for r in recs) / b
                res["block_ms_per_request"][str(b)] = block_s * 1e3 / b
                want = [pc.execute(encode_call(h, t)) for t in tensors]
                got = [worker.delivered.get(rid) for r in recs for rid in r.request_ids]
                res["outputs_equal"][str(b)] = got == want
                if b == s.oracle_batch_sizes[-1]:
                    res["first_output_hex"] = got[0].hex() if got and got[0] else None
            res.pop("warm", None)
            out["models"][name] = res
        return out
    finally:
        for svc in services:
            svc.stop()
        node.close()


# ------------------------------------------------------------------------------ pure EVM
def bench_pure_evm(node, models, s: Settings, log) -> dict:
    from . import evm
    why = evm.toolchain_missing()
    if why:
        return {"skipped": why, "models": {}}
    t0 = time.perf_counter()
    compiled = evm.compile_contract()
    compile_s = time.perf_counter() - t0
    host = evm.EvmHost(node, compiled)
    pc = InferencePrecompile(node.models, "cpu")
    out = {"solc": compiled["solc"], "compile_s": compile_s, "interpreter_deploy_gas": host.deploy_gas,
           "block_gas_limit": BLOCK_GAS_LIMIT, "models": {}}
    for model in models:
        name = model.graph.name
        if name in s.skip_pure_evm:
            out["models"][name] = {"skipped": "largest model: skipped by --quick (run without --quick)"}
            continue
        try:
            pm = evm.pack_model(model)
        except evm.Unsupported as exc:
            out["models"][name] = {"skipped": str(exc)}
            continue
        log(f"  pure EVM: {name}")
        root, deploy_gas, contracts = host.deploy_model(pm)
        gases, pgases, us, equal = [], [], [], []
        scalar = None
        # gas barely depends on the input; a model near the block limit takes ~a minute per call in py-evm
        n_inputs = s.evm_inputs if model.graph.macs_per_sample <= 1_000_000 else 1
        for i in range(n_inputs):
            x = sample_input(model, 1 + i)    # seed 1 = the input the precompile regime times
            tensor = encode_array(x)
            ref = pc.execute(encode_call(model.hash, tensor))
            t1 = time.perf_counter()
            try:
                gas, got = host.measure_infer(root, tensor)
            except RuntimeError as exc:
                out["models"][name] = {"skipped": f"does not fit: {exc} with {BLOCK_GAS_LIMIT} gas",
                                       "deploy_gas": deploy_gas, "contracts": contracts}
                break
            us.append(time.perf_counter() - t1)
            pgas, pout = host.measure(INFERENCE_ADDRESS, encode_call(model.hash, tensor))
            gases.append(gas)
            pgases.append(pgas)
            equal.append(got == ref and pout == ref)
            if i == 0:
                first_hex = got.hex()
            if i == 0 and model.graph.macs_per_sample <= s.scalar_max_macs:
                sgas, sgot = host.measure_infer(root, tensor, scalar=True)
                scalar = {"gas": sgas, "equal": sgot == ref}
        else:
            gas = statistics.median(gases)
            pgas = statistics.median(pgases)
            out["models"][name] = {
                "gas": gas, "gas_min": min(gases), "gas_max": max(gases),
                "precompile_gas_in_evm": pgas, "precompile_gas": pc.gas_cost(encode_call(model.hash, encode_array(sample_input(model, 1)))),
                "ratio_vs_precompile": gas / pgas, "fits_block": gas <= BLOCK_GAS_LIMIT,
                "deploy_gas": deploy_gas, "contracts": contracts, "stream_bytes": len(pm.stream),
                "eth_call_us": _median_us(us), "outputs_equal": all(equal), "inputs": len(equal),
                "first_output_hex": first_hex,
                "scalar": scalar if scalar else {"skipped": f"one-MAC loop run only up to {s.scalar_max_macs} MACs "
                                                            "(py-evm time)"},
            }
    return out


# ------------------------------------------------------------------------------ node throughput
def bench_node(s: Settings) -> dict:
    """Automined transfers/s and eth_call p50, HTTP vs in-process Node (as benchmarks/bench_node.py)."""
    import httpx
    from eth_account import Account

    from imochain.builder import build_node
    from imochain.chain import NodeConfig
    from imochain.testing import running_node

    cfg = NodeConfig(genesis_contracts=False, default_text_model=False)

    def signed(node, count, start=0):
        acct = node.accounts[0]
        return [bytes(Account.sign_transaction(
            dict(chainId=31337, nonce=n, maxPriorityFeePerGas=10**9, maxFeePerGas=10**11, gas=21000,
                 to="0x000000000000000000000000000000000000dEaD", value=1, data=b"", type=2),
            acct.key).raw_transaction) for n in range(start, start + count)]

    # in-process baseline
    base_node = build_node(cfg)
    raws = signed(base_node, s.node_tx)
    t0 = time.perf_counter()
    for raw in raws:
        h = base_node.send_raw_transaction(raw)
        assert base_node.get_receipt(h).status == 1
    in_tps = len(raws) / (time.perf_counter() - t0)
    # a contract that returns 42, for eth_call
    h = base_node.send_transaction({"from": base_node.accounts[0].address, "gas": 100_000,
                                    "data": bytes.fromhex("600a600c600039600a6000f3602a60005260206000f3")})
    target = base_node.get_receipt(h).contract_address
    in_calls = []
    for _ in range(s.node_calls):
        t0 = time.perf_counter()
        base_node.call({"from": base_node.accounts[0].address, "to": target, "data": b""})
        in_calls.append(time.perf_counter() - t0)
    base_node.close()

    http_node = build_node(cfg)
    raws = signed(http_node, s.node_tx)
    with running_node(node=http_node) as url:
        client = httpx.Client(base_url=url, timeout=60)
        ids = iter(range(1, 10**9))

        def call(method, params):
            r = client.post("/", json={"jsonrpc": "2.0", "id": next(ids), "method": method, "params": params})
            body = r.json()
            if "error" in body:
                raise RuntimeError(body["error"])
            return body["result"]

        t0 = time.perf_counter()
        for raw in raws:
            txh = call("eth_sendRawTransaction", ["0x" + raw.hex()])
            assert call("eth_getTransactionReceipt", [txh])["status"] == "0x1"
        http_tps = len(raws) / (time.perf_counter() - t0)
        txh = call("eth_sendTransaction", [{"from": "0x" + http_node.accounts[0].address.hex(), "gas": "0x186a0",
                                            "data": "0x600a600c600039600a6000f3602a60005260206000f3"}])
        addr = call("eth_getTransactionReceipt", [txh])["contractAddress"]
        http_calls, floor = [], []
        for _ in range(s.node_calls):
            t0 = time.perf_counter()
            assert int(call("eth_call", [{"to": addr, "data": "0x"}, "latest"]), 16) == 42
            t1 = time.perf_counter()
            call("eth_chainId", [])
            floor.append(time.perf_counter() - t1)
            http_calls.append(t1 - t0)
        client.close()
    http_node.close()
    return {
        "transfers": s.node_tx, "calls": s.node_calls,
        "http_transfers_per_s": http_tps, "in_process_transfers_per_s": in_tps,
        "transfer_ratio_http_vs_in_process": http_tps / in_tps,
        "http_eth_call_p50_us": _median_us(http_calls), "in_process_call_p50_us": _median_us(in_calls),
        "eth_call_ratio_http_vs_in_process": statistics.median(http_calls) / statistics.median(in_calls),
        "http_eth_chainId_p50_us": _median_us(floor),
    }


