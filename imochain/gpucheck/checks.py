"""gpucheck parts a-c: int8 golden vectors, the bench's precompile regimes, the oracle worker's pass.

Each part calls the project's own code (the golden test's helpers, ``imochain.bench.runner``,
the node and its oracle worker) with the device set, and only adds the CPU-vs-CUDA comparison.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

from . import Context, PartResult

GOLDEN_BATCHES = (1, 7, 64, 256)
ORACLE_MODELS = ("digits-classifier", "mlp-784-256-256-10")
ORACLE_BATCH = 64
ANCHOR_NS_PER_GAS = 10     # the gas schedule's anchor: 100 Mgas/s (see precompiles/gas.py)


def _golden_module():
    """The golden test module of the source checkout (its input generator and hash, not a copy)."""
    folder = Path(__file__).resolve().parents[2] / "tests" / "precompiles"
    if not (folder / "test_precompile_golden.py").is_file():
        raise RuntimeError(f"golden vectors need a source checkout: {folder} not found")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return importlib.import_module("test_precompile_golden")


def _check_exact_settings() -> dict:
    """int8 exactness on CUDA rests on float32 matmuls staying IEEE float32: chunk sums of int8
    products are integers <= 2^24, exact in float32 in any summation order (runtime.py's
    docstring has the argument). TF32 would round the inputs to 10 mantissa bits: harmless for
    int8 values, but we do not rely on it, so runtime.torch_module() switches it off (matmul
    precision "highest", cuda.matmul.allow_tf32 = False) before any CUDA work; we check it here."""
    from imochain.models import runtime
    torch = runtime.torch_module()
    flags = {"float32_matmul_precision": torch.get_float32_matmul_precision(),
             "cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
             # torch >= 2.9's finer switch; "ieee" = plain float32 (absent in older torch)
             "cuda_matmul_fp32_precision": getattr(torch.backends.cuda.matmul, "fp32_precision", "ieee")}
    if (flags["float32_matmul_precision"] != "highest" or flags["cuda_matmul_allow_tf32"]
            or flags["cuda_matmul_fp32_precision"] != "ieee"):
        raise RuntimeError(f"TF32 is not off: {flags}")
    return flags


def cuda_latency(repeats: int = 200) -> dict:
    """What one small CUDA step costs on this machine, apart from our code: a launch waited for,
    a launch queued (many, then one wait), and a 64-byte host -> device -> host round trip.
    Batch-1 precompile calls are a chain of such steps."""
    import statistics

    import numpy as np

    from imochain.models import runtime
    torch = runtime.torch_module()
    x = torch.zeros(16, device="cuda")
    host = np.zeros(16, dtype=np.float32)
    sync, queued, copy = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        x.add_(1)
        torch.cuda.synchronize()
        sync.append(time.perf_counter() - t0)
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(repeats):
            x.add_(1)
        torch.cuda.synchronize()
        queued.append((time.perf_counter() - t0) / repeats)
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.from_numpy(host).to("cuda").cpu()
        copy.append(time.perf_counter() - t0)
    return {"launch_and_wait_us": statistics.median(sync) * 1e6, "launch_queued_us": statistics.median(queued) * 1e6,
            "roundtrip_copy_us": statistics.median(copy) * 1e6}


# ------------------------------------------------------------------------------------ a. golden
def golden(ctx: Context) -> PartResult:
    from imochain.precompiles import InferencePrecompile
    from imochain.models.tensor import encode_array
    mod = _golden_module()
    committed = json.loads((ctx.golden_path or mod.GOLDEN).read_text())
    flags = _check_exact_settings()
    names = [n for n in mod.ZOO if ctx.models is None or n in ctx.models]
    if not names:
        return PartResult("skipped", f"none of the golden models ({', '.join(mod.ZOO)}) selected")
    rows, differs = [], []
    for name in names:
        model, x = mod._inputs(name)
        entry = committed[name]
        if entry["model_hash"] != "0x" + model.hash.hex():
            raise RuntimeError(f"{name}: model file differs from the golden vectors' model")
        for device in ctx.devices:
            pc = InferencePrecompile(mod.shipped_store(), device)
            pc.execute_batch(model.hash, [encode_array(x[0])])      # prepare the runtime, untimed
            for batch in GOLDEN_BATCHES:
                full = batch >= 64            # as the golden test: small batches on the prefix
                xs = x if full else x[:mod.PREFIX]
                want = entry["outputs_keccak" if full else "prefix_keccak"]
                t0 = time.perf_counter()
                got = mod._outputs_hash(pc, model, xs, batch)
                seconds = time.perf_counter() - t0
                row = {"model": name, "device": device, "batch": batch, "samples": len(xs),
                       "equal": got == want, "us_per_sample": seconds * 1e6 / len(xs)}
                rows.append(row)
                if not row["equal"]:
                    differs.append(f"{name} {device} batch {batch}")
    data = {"exact_settings": flags, "batches": list(GOLDEN_BATCHES), "rows": rows,
            "timing": "execute_batch over the inputs in chunks of `batch`, tensor encoding and keccak included"}
    checked = len(rows)
    if differs:
        return PartResult("int8 differs", f"{len(differs)} of {checked} output hashes differ: {'; '.join(differs)}", data)
    per_device = sum(r["samples"] for r in rows) // len(ctx.devices)
    return PartResult("ok", f"all {checked} hashes equal the committed CPU ones ({len(names)} models x "
                            f"{'/'.join(map(str, GOLDEN_BATCHES))}; {per_device} outputs on {ctx.target}, "
                            f"TF32 off)", data)


# ------------------------------------------------------------------------------------ b. bench
def _time_per_gas(us: float, gas: int) -> float:
    """Measured time over the time the gas pays for at the anchor (<= 1: the gas covers it)."""
    return us * 1000 / (gas * ANCHOR_NS_PER_GAS)


def bench(ctx: Context) -> PartResult:
    from imochain.bench import runner
    from imochain.chain import NodeConfig
    from imochain.precompiles.gas import inference_gas
    from imochain.testing import in_process_web3

    s = runner.Settings.for_run(True, ctx.devices)
    pre, bat = [], []
    models = None
    for device in ctx.devices:
        w3, node = in_process_web3(NodeConfig(genesis_contracts=False, default_text_model=False, device=device))
        try:
            store = node.models
            models = [store.get(bytes.fromhex(r["hash"][2:])) for r in store.list() if r.get("kind", "tensor") == "tensor"]
            models = sorted((m for m in models if ctx.models is None or m.graph.name in ctx.models),
                            key=lambda m: (m.graph.macs_per_sample, m.graph.name))
            for m in models:
                ctx.log(f"  bench {device}: {m.graph.name}")
                p = runner.bench_precompile(w3, node, m, device, s)
                p["time_per_gas_execute"] = _time_per_gas(p["execute_us"], p["gas"])
                p["time_per_gas_eth_call"] = _time_per_gas(p["eth_call_us"], p["gas"])
                pre.append(p)
                b = runner.bench_batch(node, m, device, s)
                in_bytes = runner.model_row(m)["input_bytes"]
                # a batch's price as one [B, ...] call would pay it: the same forward pass
                b["time_per_gas"] = {k: _time_per_gas(us, inference_gas(m.graph, int(k), int(k) * in_bytes))
                                     for k, us in b["batch_us"].items()}
                bat.append(b)
        finally:
            node.close()
    if not pre:
        return PartResult("skipped", "no tensor model of the store selected")
    by = {(r["model"], r["device"]): r for r in pre}
    bb = {(r["model"], r["device"]): r for r in bat}
    cmp, differs = [], []
    for m in models:
        name = m.graph.name
        c, t = by[(name, "cpu")], by[(name, ctx.target)]
        row = {"model": name, "mode": m.graph.mode, "macs": m.graph.macs_per_sample,
               "execute_speedup": c["execute_us"] / t["execute_us"], "torch_speedup": c["torch_us"] / t["torch_us"],
               "batch_speedup": {k: bb[(name, "cpu")]["per_request_us"][k] / v
                                 for k, v in bb[(name, ctx.target)]["per_request_us"].items()}}
        if m.graph.mode == "int8":
            checks = {"cpu=target": c["output_hex"] == t["output_hex"],
                      "eth_call=execute": t["eth_call_equals_execute"], "torch=execute": t["torch_equals_execute"],
                      "batch=one-by-one": all(bb[(name, ctx.target)]["equals_one_by_one"].values()),
                      "batch64[0]=single": bb[(name, ctx.target)]["first_output_hex"] == t["output_hex"]}
            row["int8_checks"] = checks
            differs += [f"{name} {k}" for k, ok in checks.items() if not ok]
        cmp.append(row)
    worst = max(max([p["time_per_gas_execute"]] + list(bb[(p["model"], p["device"])]["time_per_gas"].values()))
                for p in pre if p["device"] == ctx.target)
    data = {"settings": {"repeats": s.repeats, "batch_repeats": s.batch_repeats, "batch_sizes": list(runner.BATCH_SIZES)},
            "anchor_ns_per_gas": ANCHOR_NS_PER_GAS, "precompile": pre, "batch": bat, "compare": cmp,
            "max_time_per_gas_target": worst}
    faster1 = [r["model"] for r in cmp if r["execute_speedup"] > 1]
    faster64 = [r["model"] for r in cmp if r["batch_speedup"]["64"] > 1]
    line = (f"{len(cmp)} models: {ctx.target} faster than CPU at batch 1 for {len(faster1)}, at batch 64 for "
            f"{len(faster64)}; worst time/gas on {ctx.target} {worst:.2f} "
            f"({'gas covers it' if worst <= 1 else 'gas does NOT cover it'})")
    if differs:
        return PartResult("int8 differs", f"{line}; int8 mismatches: {'; '.join(differs)}", data)
    return PartResult("ok", line, data)


# ------------------------------------------------------------------------------------ c. oracle
def oracle(ctx: Context) -> PartResult:
    from imochain.bench import runner

    s = runner.Settings.for_run(True, ctx.devices)
    s.oracle_batch_sizes = (ORACLE_BATCH,)
    names = [n for n in ORACLE_MODELS if ctx.models is None or n in ctx.models]
    if not names:
        return PartResult("skipped", f"none of the oracle models ({', '.join(ORACLE_MODELS)}) selected")
    res = {}
    for device in ctx.devices:
        res[device] = runner.bench_oracle(names, s, ctx.log, device)
        if "skipped" in res[device]:
            return PartResult("skipped", res[device]["skipped"], {"runs": res})
    key = str(ORACLE_BATCH)
    rows, differs = [], []
    for name in names:
        c, t = res["cpu"]["models"].get(name), res[ctx.target]["models"].get(name)
        if c is None or t is None or "error" in c or "error" in t:
            raise RuntimeError(f"{name}: oracle run incomplete: cpu {c and c.get('error')}, "
                               f"{ctx.target} {t and t.get('error')}")
        ok = t["outputs_equal"][key] and c["outputs_equal"][key] and c["first_output_hex"] == t["first_output_hex"]
        if not ok:
            differs.append(name)
        rows.append({"model": name, "requests": ORACLE_BATCH, "forward_passes": t["forward_passes"][key],
                     "cpu_forward_us_per_request": c["per_request_us"][key],
                     "target_forward_us_per_request": t["per_request_us"][key],
                     "cpu_block_ms_per_request": c["block_ms_per_request"][key],
                     "target_block_ms_per_request": t["block_ms_per_request"][key],
                     "forward_speedup": c["per_request_us"][key] / t["per_request_us"][key],
                     "outputs_equal_and_cpu=target": ok})
    data = {"path": res[ctx.target].get("path"), "rows": rows, "runs": res}
    line = "; ".join(f"{r['model']}: forward {r['cpu_forward_us_per_request']:.1f} -> "
                     f"{r['target_forward_us_per_request']:.1f} µs/req ({r['forward_speedup']:.2f}x), block "
                     f"{r['cpu_block_ms_per_request']:.1f} / {r['target_block_ms_per_request']:.1f} ms/req"
                     for r in rows)
    line = f"{ORACLE_BATCH} requests in one block, CPU -> {ctx.target}: {line}"
    if differs:
        return PartResult("int8 differs", f"{line}; outputs differ for {', '.join(differs)}", data)
    return PartResult("ok", line + "; outputs equal", data)
