"""gpucheck.md: the gpucheck report's JSON as Markdown (one section per part, tables of the figures)."""

from __future__ import annotations

from imochain.bench.report import markdown_table


def _f(v, digits=1) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _env(report: dict) -> list[str]:
    env = report.get("environment")
    if not env:
        return [f"Skipped: {report.get('skipped')}.", ""]
    gpu = (f"GPU **{env.get('gpu')}** ({env.get('gpu_memory_gib')} GiB, compute capability "
           f"{env.get('compute_capability')}), driver {env.get('driver')}, CUDA runtime {env.get('cuda_runtime')}, "
           f"cuDNN {env.get('cudnn')}; " if env.get("gpu") else "")
    lat = env.get("cuda_latency")
    lat = (f"One small CUDA step here: {lat['launch_and_wait_us']:.1f} µs launched and waited for, "
           f"{lat['launch_queued_us']:.1f} µs per launch queued, {lat['roundtrip_copy_us']:.1f} µs for a 64-byte "
           "host-device-host round trip. " if lat else "")
    dry = ("**Dry run: the CPU stood in for CUDA** — the 'target' columns are CPU figures; this run only "
           "checks the script. " if report.get("dry_run") else "")
    return [dry + gpu + f"CPU {env.get('cpu')} ({env.get('cpu_count')} cores, torch threads {env.get('torch_threads')}); "
            f"torch {env.get('torch')}, Python {env.get('python')}; started {env.get('started_utc')}, "
            f"took {report.get('elapsed_s')} s. float32 matmul precision `{env.get('float32_matmul_precision')}`, "
            f"CUDA matmul TF32 allowed: {env.get('cuda_matmul_allow_tf32')}. " + lat, ""]


def _golden(p: dict, target: str) -> list[str]:
    batches = p["batches"]
    models = list(dict.fromkeys(r["model"] for r in p["rows"]))
    by = {(r["model"], r["device"], r["batch"]): r for r in p["rows"]}
    hdr = ["model"] + [f"{d} batch {b}: µs/sample" for d in ("cpu", target) for b in batches] + ["hashes equal"]
    rows = [[m] + [_f(by[(m, d, b)]["us_per_sample"]) for d in ("cpu", target) for b in batches]
            + [_f(all(r["equal"] for r in p["rows"] if r["model"] == m))] for m in models]
    return [markdown_table(hdr, rows), "", f"Timing: {p['timing']}.", ""]


def _bench(p: dict, target: str) -> list[str]:
    hdr = ["model", "device", "gas", "eth_call µs", "execute µs", "torch µs", "time/gas (execute)",
           "batch 1 µs/req", "batch 8 µs/req", "batch 64 µs/req", "time/gas at 64"]
    bb = {(r["model"], r["device"]): r for r in p["batch"]}
    rows = []
    for r in p["precompile"]:
        b = bb[(r["model"], r["device"])]
        rows.append([r["model"], r["device"], _f(r["gas"]), _f(r["eth_call_us"]), _f(r["execute_us"]), _f(r["torch_us"]),
                     _f(r["time_per_gas_execute"], 2)] + [_f(b["per_request_us"][k]) for k in ("1", "8", "64")]
                    + [_f(b["time_per_gas"]["64"], 2)])
    out = [markdown_table(hdr, rows), "",
           f"time/gas = measured time / (gas × {p['anchor_ns_per_gas']} ns): at most 1 means the CPU-calibrated gas "
           "schedule pays for the time at its 100 Mgas/s anchor. A batch's gas is that of one call carrying the "
           "whole [B, …] tensor.", ""]
    hdr = ["model", "mode", f"execute speed-up ({target} vs cpu)", "torch speed-up", "batch 1", "batch 8", "batch 64",
           "int8 checks"]
    out += [markdown_table(hdr, [[r["model"], r["mode"], f"{r['execute_speedup']:.2f}×", f"{r['torch_speedup']:.2f}×"]
                                 + [f"{r['batch_speedup'][k]:.2f}×" for k in ("1", "8", "64")]
                                 + [", ".join(f"{k} {_f(v)}" for k, v in r.get("int8_checks", {}).items()) or "fp32"]
                                 for r in p["compare"]]), ""]
    return out


def _oracle(p: dict, target: str) -> list[str]:
    hdr = ["model", "requests", "passes", "cpu forward µs/req", f"{target} forward µs/req", "speed-up",
           "cpu block ms/req", f"{target} block ms/req", "outputs equal (cpu = target)"]
    rows = [[r["model"], _f(r["requests"]), _f(r["forward_passes"]), _f(r["cpu_forward_us_per_request"]),
             _f(r["target_forward_us_per_request"]), f"{r['forward_speedup']:.2f}×", _f(r["cpu_block_ms_per_request"]),
             _f(r["target_block_ms_per_request"]), _f(r["outputs_equal_and_cpu=target"])] for r in p["rows"]]
    return [f"Path: {p['path']}.", "", markdown_table(hdr, rows), ""]


def _text(p: dict, target: str) -> list[str]:
    hdr = ["model", "layers", "cpu prefill tok/s", f"{target} prefill tok/s", "cpu decode tok/s",
           f"{target} decode tok/s", "greedy answers equal", "prefill logits max abs diff", "shapes = SmolLM2 GGUF"]
    rows = [[m["model"], _f(m["layers"]), _f(m["cpu"]["prefill_tok_s"]), _f(m["target"]["prefill_tok_s"]),
             _f(m["cpu"]["decode_tok_s"]), _f(m["target"]["decode_tok_s"]),
             f"{sum(m['greedy_equal'])}/{len(m['greedy_equal'])}", f"{m['prefill_logits_max_abs_diff']:.2e}",
             _f(m.get("shape_equals_gguf"))]
            for m in p["models"]]
    out = [markdown_table(hdr, rows), "", p["note"] + f"; CPU threads {p['models'][0]['cpu']['threads']}, "
           f"prompts of {', '.join(str(r['prompt_tokens']) for r in p['models'][0]['cpu']['rows'])} tokens, "
           f"up to {p['models'][0]['new_tokens_cap']} new tokens.", ""]
    if p.get("blocked"):
        out += [p["blocked"] + ".", ""]
    q = p.get("int8")
    if q:
        out += [f"int8 text runtime ({q['model']}): greedy tokens and every layer's output "
                f"{'bit-identical' if q['equal'] else 'DIFFER'} on cpu and {target} "
                f"(8 new tokens in {q['cpu']['generate_s']} s / {q['target']['generate_s']} s).", ""]
    return out


SECTIONS = {"golden": ("a. int8 golden vectors", _golden), "bench": ("b. precompile regimes (bench --quick)", _bench),
            "oracle": ("c. oracle worker, one block", _oracle), "text": ("d. text model", _text)}


def render_markdown(report: dict) -> str:
    target = report.get("target", "cuda")
    out = ["# imochain on CUDA (`python -m imochain.gpucheck`)", ""] + _env(report)
    out += ["| part | status | summary |", "| --- | --- | --- |"]
    out += [f"| {name} | {p['status']} | {p['summary']} |" for name, p in report["parts"].items()]
    out.append("")
    for name, p in report["parts"].items():
        title, fn = SECTIONS[name]
        out += [f"## {title}", ""]
        if p["status"] in ("ok", "int8 differs"):
            try:
                out += fn(p, target)
            except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:   # never lose the JSON for a table
                out += [f"(table not rendered: {type(exc).__name__}: {exc}; see gpucheck.json)", ""]
        else:
            out += [f"{p['status']}: {p['summary']}", ""]
    return "\n".join(out) + "\n"
