"""`imochain bench`: what inference on-chain costs, measured on this machine in one run.

Regimes, per model of the store (the zoo and the digits models):
  * precompile  gas (from the graph, before running) and microseconds per call through one
                JSON-RPC eth_call on an in-process Node (dispatcher -> py-evm -> 0xA1, no HTTP),
                through ``InferencePrecompile.execute`` alone, and of the raw torch forward of
                the same prepared runtime, timed interleaved in the same loop so their ratios
                share the machine's load; per device (CPU, CUDA when present).
  * gas cover   median wall time of whole 0xA1 calls (gas_cost + execute) at batch 1, 8, 64 vs
                their gas at 10 ns/gas (``calibrate.py``); rows above 1.0 are flagged.
  * batch       the oracle worker's entry point ``execute_batch``: microseconds per request at
                batch 1, 8, 64 (one forward pass per batch), outputs checked against one-by-one;
                and the real path: requests to the genesis AIOracle mined in one block, served by
                the node's oracle worker (its own forward-pass timing, outputs checked).
  * pure EVM    ``PureEvmMlp.sol`` (see evm.py): gas measured inside the EVM for the same input,
                deploy gas from receipts, outputs compared byte for byte with the precompile.
  * zkML        ezkl (a Python with ezkl + onnx: this one or $IMOCHAIN_EZKL_PYTHON), full runs
                only: local SRS, setup, prove and verify times; otherwise skipped with the reason.
  * node        automined transfers/s and eth_call p50 over HTTP vs the same work in-process.

Timings are medians over repeats; gas figures are deterministic. Nothing is copied from
elsewhere: every number in the report is measured by the run that writes it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import sys
import time

import numpy as np

from imochain.models.tensor import encode_array, encode_call
from imochain.precompiles import InferencePrecompile

from . import bisection_gas, contract_gas

from .regimes import (BATCH_SIZES, SCALAR_MAX_MACS, Settings, bench_batch, bench_node,  # noqa: F401
                      bench_oracle, bench_precompile, bench_pure_evm, model_row, sample_input)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment(devices) -> dict:
    from imochain.models import runtime
    torch = runtime.torch_module()
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    env = {
        "python": platform.python_version(), "torch": torch.__version__, "py-evm": _version("py-evm"),
        "numpy": np.__version__, "web3": _version("web3"), "imochain": _version("imochain"),
        "platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "devices": list(devices),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    try:
        env["loadavg_start"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        env["loadavg_start"] = None
    return env


# ------------------------------------------------------------------------------ zkML
ZKML_MODELS = ("digits-classifier", "mlp-784-32-10")


def ezkl_python() -> str | None:
    """A Python that can run zkml_ezkl.py: $IMOCHAIN_EZKL_PYTHON, or this one if it has ezkl + onnx."""
    env = os.environ.get("IMOCHAIN_EZKL_PYTHON")
    if env:
        return env
    if importlib.util.find_spec("ezkl") is not None and importlib.util.find_spec("onnx") is not None:
        return sys.executable
    return None


ZKML_SAMPLES = 16                 # inputs whose ezkl outputs are compared with the precompile's


def _int8_spec(model, pc=None) -> dict:
    """The int8 MLP exactly as the precompile computes it, for the ezkl circuit: integer weights
    and biases, each Requantize as (x * multiplier) / 2^shift then saturation to int8 (and ReLU),
    last layer int32; plus ZKML_SAMPLES seeded inputs and the precompile's outputs for them."""
    from imochain.models.tensor import decode_array
    nodes = model.graph.nodes
    layers = []
    for i, n in enumerate(nodes):
        if n.op == "Linear":
            layers.append({"w": model.weights[n.attrs["weight"]].astype(np.int64).tolist(),
                           "b": model.weights[n.attrs["bias"]].astype(np.int64).tolist(),
                           "requant": None, "relu": False})
        elif n.op == "Requantize":
            layers[-1]["requant"] = [int(n.attrs["multiplier"]), int(n.attrs["shift"])]
        elif n.op == "ReLU":
            layers[-1]["relu"] = True
    inputs = [sample_input(model, 1 + i) for i in range(ZKML_SAMPLES)]
    spec = {"layers": layers, "inputs": [x.reshape(-1).astype(int).tolist() for x in inputs]}
    if pc is not None:
        spec["expected"] = [decode_array(pc.execute(encode_call(model.hash, encode_array(x)))).reshape(-1).tolist()
                            for x in inputs]
    return spec


def bench_zkml(node, models, s: Settings, log, host=None) -> dict:
    import json
    import subprocess
    import tempfile
    from pathlib import Path

    py = ezkl_python()
    if s.quick:
        return {"skipped": "skipped by --quick: local SRS, setup and proving take about a minute per model here"
                           + ("" if py else "; ezkl is not importable here either")}
    if py is None:
        return {"skipped": "ezkl is not importable here (it installs from the package index in ~30 s: "
                           "`pip install ezkl onnx` into any venv, then set IMOCHAIN_EZKL_PYTHON to its python)"}
    out = {"python": py, "srs": "generated locally (ezkl.gen_srs, test SRS)", "models": {}}
    script = Path(__file__).with_name("zkml_ezkl.py")
    by_name = {m.graph.name: m for m in models}
    for name in ZKML_MODELS:
        if name not in by_name:
            continue
        log(f"  zkML (ezkl): {name}")
        with tempfile.TemporaryDirectory(prefix="imochain-zkml-") as tmp:
            spec = Path(tmp) / "spec.json"
            spec.write_text(json.dumps(_int8_spec(by_name[name], InferencePrecompile(node.models, "cpu"))))
            for attempt in range(2):      # one retry: ezkl's calibration has failed once in ~6 runs here
                t0 = time.perf_counter()
                proc = subprocess.run([py, str(script), str(spec), str(Path(tmp) / f"work{attempt}")],
                                      capture_output=True, text=True, timeout=900, check=False, cwd=tmp)
                wall = time.perf_counter() - t0
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
                if proc.returncode == 0 and lines:
                    break
            if proc.returncode != 0 or not lines:
                # ezkl prints calibration tables on stderr: keep the lines that are not table rows
                text = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()
                        and not ln.lstrip().startswith(("|", "+", "<"))]
                out["models"][name] = {"error": f"exit {proc.returncode}: " + " / ".join(text[-6:])[-600:]}
                continue
            res = json.loads(lines[-1])
            res["wall_s"] = wall
            if host is not None and res.get("verifier_sol"):
                try:
                    from . import evm
                    import re
                    text = Path(res["verifier_sol"]).read_text()
                    contract = re.findall(r"contract\s+(\w+)", text)[-1]
                    compiled = evm.compile_source("Verifier.sol", text, contract)
                    res["verifier_code_bytes"] = len(compiled["bytecode"])
                    addr, res["verifier_deploy_gas"] = host.deploy(compiled["bytecode"])
                    calldata = Path(res["calldata"]).read_bytes()
                    res["verify_gas"], ret = host.measure(addr, calldata)
                    res["verified_on_chain"] = int.from_bytes(ret[-32:] or b"\0", "big") == 1
                    bad = bytearray(calldata)
                    bad[len(bad) // 2] ^= 1      # one flipped bit in the proof must not verify
                    try:
                        _, ret = host.measure(addr, bytes(bad))
                        res["tampered_rejected"] = int.from_bytes(ret[-32:] or b"\0", "big") != 1
                    except RuntimeError:
                        res["tampered_rejected"] = True
                except Exception as exc:    # report, do not fail the whole run
                    res["verifier_error"] = f"{type(exc).__name__}: {exc}"[:500]
            for key in ("verifier_sol", "calldata"):
                res.pop(key, None)
            out["models"][name] = res
    return out


# ------------------------------------------------------------------------------ the run
def resolve_devices(device: str) -> tuple:
    from imochain.models import runtime
    has_cuda = runtime.cuda_available()
    if device == "cpu":
        return ("cpu",)
    if device == "cuda":
        if not has_cuda:
            raise SystemExit("error: --device cuda but torch sees no CUDA device")
        return ("cuda",)
    return ("cpu", "cuda") if has_cuda else ("cpu",)


def run(s: Settings, log=print) -> dict:
    """Measure every regime; returns the report dict (see report.write for the files)."""
    from imochain.models import runtime
    torch = runtime.torch_module()
    threads_before = torch.get_num_threads()
    if s.threads:
        torch.set_num_threads(s.threads)
    try:
        return _run(s, log)
    finally:
        torch.set_num_threads(threads_before)    # the process's setting, as it was


def _run(s: Settings, log) -> dict:
    from imochain.chain import NodeConfig
    from imochain.testing import in_process_web3

    started = time.perf_counter()
    env = environment(s.devices)
    log(f"imochain bench{' --quick' if s.quick else ''}: devices {', '.join(s.devices)}, "
        f"{env['torch_threads']} torch threads, load {env['loadavg_start']}")
    nodes = {}
    for device in s.devices:
        nodes[device] = in_process_web3(NodeConfig(genesis_contracts=False, default_text_model=False, device=device))
    store = next(iter(nodes.values()))[1].models
    models = [store.get(bytes.fromhex(r["hash"][2:])) for r in store.list() if r.get("kind", "tensor") == "tensor"]
    if s.models:
        models = [m for m in models if m.graph.name in s.models]
    models.sort(key=lambda m: (m.graph.macs_per_sample, m.graph.name))
    report = {"format": "imochain-bench/1", "quick": s.quick, "environment": env,
              "settings": {"repeats": s.repeats, "batch_repeats": s.batch_repeats, "evm_inputs": s.evm_inputs,
                           "batch_sizes": list(BATCH_SIZES), "eth_call_path": "in-process Node: one JSON-RPC "
                           "eth_call request through the dispatcher (no HTTP, no web3.py middleware)"},
              "models": [model_row(m) for m in models], "precompile": [], "batch": []}
    for device, (w3, node) in nodes.items():
        for m in models:
            log(f"  precompile {device}: {m.graph.name}")
            report["precompile"].append(bench_precompile(w3, node, m, device, s))
            report["batch"].append(bench_batch(node, m, device, s))
    from .calibrate import measure
    report["gas_cover"] = {"anchor_gas_per_us": 100, "timed": "gas_cost + execute (decode, run, encode), wall "
                           "clock, median", "rows": []}
    for device, (_, node) in nodes.items():
        rows = measure(InferencePrecompile(node.models, device), models, s.repeats, log=log)
        report["gas_cover"]["rows"] += [dict(r, device=device) for r in rows]
    oracle_models = ("digits-classifier",) if s.quick else ("digits-classifier", "mlp-784-32-10", "mlp-784-256-256-10")
    if s.oracle:
        report["oracle"] = bench_oracle([n for n in oracle_models if n in {m.graph.name for m in models}], s, log)
    else:
        report["oracle"] = {"skipped": "disabled"}
    cpu_node = nodes.get("cpu", next(iter(nodes.values())))[1]
    report["pure_evm"] = bench_pure_evm(cpu_node, models, s, log)
    if s.zkml:
        host = None
        if "skipped" not in report["pure_evm"]:
            from . import evm
            host = evm.EvmHost(cpu_node, evm.compile_contract())
        report["zkml"] = bench_zkml(cpu_node, models, s, log, host)
    else:
        report["zkml"] = {"skipped": "disabled"}
    if s.node_throughput:
        log("  node throughput (HTTP vs in-process)")
        report["node"] = bench_node(s)
    else:
        report["node"] = {"skipped": "disabled"}
    log("  contract gas (IMO contracts' hot paths)")
    report["contract_gas"] = contract_gas.measure()
    log("  opML bisection gas (text answers: moves and the final layer step)")
    report["bisection_gas"] = bisection_gas.measure()
    report["agreement"] = agreement(report)
    try:
        env["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        env["loadavg_end"] = None
    report["elapsed_s"] = time.perf_counter() - started
    return report


def agreement(report: dict) -> dict:
    """Per model: do the regimes give the same output bytes for the same input (seed 1)?"""
    out = {}
    pre = {(r["model"], r["device"]): r for r in report["precompile"]}
    bat = {(r["model"], r["device"]): r for r in report["batch"]}
    evm = report.get("pure_evm", {}).get("models", {})
    for row in report["models"]:
        name = row["name"]
        entry = {}
        for (m, d), r in pre.items():
            if m != name:
                continue
            entry[f"eth_call=execute[{d}]"] = r["eth_call_equals_execute"]
            entry[f"torch=execute[{d}]"] = r["torch_equals_execute"]
            if row["mode"] == "int8":
                entry[f"batch=one-by-one[{d}]"] = all(bat[(m, d)]["equals_one_by_one"].values())
        if row["mode"] == "int8":
            for (m, d), r in pre.items():
                if m == name:
                    entry[f"batch64[0]=precompile[{d}]"] = bat[(m, d)]["first_output_hex"] == r["output_hex"]
            outs = {r["output_hex"] for (m, _), r in pre.items() if m == name}
            if len(outs) > 1:
                entry["cpu=cuda"] = False
            elif len([1 for (m, _) in pre if m == name]) > 1:
                entry["cpu=cuda"] = True
        o = report.get("oracle", {}).get("models", {}).get(name)
        if o is not None:
            entry["oracle worker=one-by-one"] = "error" not in o and all(o["outputs_equal"].values())
            pre_hex = [r["output_hex"] for (m, _), r in pre.items() if m == name]
            entry["oracle worker[0]=precompile"] = bool(pre_hex) and o.get("first_output_hex") == pre_hex[0]
        e = evm.get(name, {})
        if "outputs_equal" in e:
            entry["pure_evm=precompile"] = e["outputs_equal"] and any(
                e["first_output_hex"] == r["output_hex"] for (m, _), r in pre.items() if m == name)
        out[name] = entry
    return out
