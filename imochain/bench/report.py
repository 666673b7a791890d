"""Write bench-report/: report.md (tables), report.json (raw), PNG plots (matplotlib, Agg)."""

from __future__ import annotations

import json
from pathlib import Path

PLOTS = ("gas_vs_macs.png", "us_vs_macs.png")
MAIN_COLUMNS = ["model", "mode", "device", "MACs", "params", "in B", "out B", "gas", "eth_call µs",
                "torch µs", "overhead", "batch1 µs/req", "batch8 µs/req", "batch64 µs/req",
                "pure-EVM gas", "EVM deploy gas", "EVM/precompile", "outputs agree"]


def _n(v, digits=0) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float) and digits:
        return f"{v:,.{digits}f}"
    return f"{round(v):,}"


def main_rows(report: dict) -> list[list[str]]:
    models = {m["name"]: m for m in report["models"]}
    bat = {(r["model"], r["device"]): r for r in report["batch"]}
    evm = report.get("pure_evm", {}).get("models", {})
    rows = []
    for p in report["precompile"]:
        m = models[p["model"]]
        b = bat[(p["model"], p["device"])]["per_request_us"]
        e = evm.get(p["model"], {}) if p["device"] == report["precompile"][0]["device"] else {}
        agree = report["agreement"].get(p["model"], {})
        if "gas" in e:
            evm_cells = [_n(e["gas"]), _n(e["deploy_gas"]), f"{e['ratio_vs_precompile']:,.0f}×"]
        elif "skipped" in e:
            evm_cells = ["skipped", "—", "—"]
        else:
            evm_cells = ["—", "—", "—"]
        rows.append([p["model"], m["mode"], p["device"], _n(m["macs"]), _n(m["params"]), _n(m["input_bytes"]),
                     _n(m["output_bytes"]), _n(p["gas"]), _n(p["eth_call_us"]), _n(p["torch_us"], 1),
                     f"{p['overhead_eth_call']:.1f}×", _n(b["1"], 1), _n(b["8"], 1), _n(b["64"], 1),
                     *evm_cells, "yes" if agree and all(agree.values()) else ("—" if not agree else "NO")])
    return rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    fmt = lambda r: "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def _load_warning(env: dict) -> str:
    loads = [x for x in (env.get("loadavg_start"), env.get("loadavg_end")) if x]
    peak = max((x[0] for x in loads), default=0.0)
    if peak <= (env.get("cpu_count") or 1):
        return "The machine was not oversubscribed during the run (1-minute load ≤ CPU count)."
    threads = env.get("torch_threads") or 1
    advice = (f" (torch's {threads}-thread pool suffers most; `--threads 1` is steadier on a shared machine)"
              if threads > 1 else "")
    return (f"**Warning:** the 1-minute load average reached {peak:.1f} on {env.get('cpu_count')} CPUs: other "
            f"processes competed for the CPU during this run, so timings are inflated and noisy{advice}. "
            "Gas figures and output checks are unaffected.")


def render_markdown(report: dict) -> str:
    env = report["environment"]
    s = report["settings"]
    out = ["# What inference on-chain costs (imochain bench)", "",
           f"Measured {env['started_utc']} on {env['cpu']} ({env['cpu_count']} CPUs, torch threads: {env['torch_threads']}"
           f"{', CUDA ' + env['cuda'] if env.get('cuda') else ', no CUDA device'}); load average at start "
           f"{env.get('loadavg_start')} and end {env.get('loadavg_end')}. Python {env['python']}, torch "
           f"{env['torch']}, py-evm {env['py-evm']}, web3 {env['web3']}. "
           f"{'`--quick` run: fewer repeats, ' if report['quick'] else ''}medians over {s['repeats']} "
           f"timed repeats ({s['batch_repeats']} for batches); the whole run took {report['elapsed_s']:.0f} s.",
           "", "Every figure below was measured by this run. Timings on a shared machine are noisy: compare "
           "ratios taken in the same row (same loop, same load) rather than absolute microseconds across runs.",
           "", _load_warning(env), "", ("CUDA: measured (rows with device `cuda`)." if "cuda" in env["devices"] else
                "CUDA: skipped — " + ("torch sees no CUDA device on this machine." if not env.get("cuda")
                                      else "not requested (`--device cpu`).")),
           "", "## Main table", "",
           markdown_table(MAIN_COLUMNS, main_rows(report)), "",
           "- **gas**: the precompile's price for one sample, from the graph before running "
           "(`G_call + g_mac·MACs + g_byte·bytes`).",
           f"- **eth_call µs**: one `eth_call` to 0xA1 through an {s['eth_call_path']}; **torch µs**: the raw "
           "torch forward of the same prepared runtime (int8: the exact chunked integer kernels); "
           "**overhead** = eth_call µs / torch µs, timed interleaved in one loop.",
           "- **batch N µs/req**: `execute_batch` (the oracle worker's one forward pass per block and model) "
           "with N requests, divided by N.",
           "- **pure-EVM gas**: `PureEvmMlp.infer` (weights from contract code, packed integer loop, same "
           "requantisation), gas measured inside the EVM around one staticcall; the precompile is measured the "
           "same way for the ratio **EVM/precompile**. **EVM deploy gas**: all data contracts of the model.",
           "- **outputs agree**: eth_call = execute = raw torch; int8: batch = one-by-one, batch-64 row 0 = the "
           "single call, pure-EVM bytes = precompile bytes (and CPU = CUDA when both ran).", ""]
    out += gas_cover_markdown(report)
    out += ["## Plots", ""]
    if report.get("plots_skipped"):
        out += [f"Not drawn: {report['plots_skipped']}.", ""]
    else:
        out += ["![gas vs MACs](gas_vs_macs.png)", "", "![µs vs MACs](us_vs_macs.png)", ""]
    out += ["## Precompile detail", ""]
    hdr = ["model", "device", "gas", "eth_call µs", "execute µs", "torch µs", "eth_call/torch", "execute/torch",
            "gas per eth_call µs"]
    out.append(markdown_table(hdr, [[p["model"], p["device"], _n(p["gas"]), _n(p["eth_call_us"], 1),
                                     _n(p["execute_us"], 1), _n(p["torch_us"], 1), f"{p['overhead_eth_call']:.2f}",
                                     f"{p['overhead_execute']:.2f}", f"{p['gas_per_us_eth_call']:.1f}"]
                                    for p in report["precompile"]]))
    out += ["", "The gas schedule's anchor is 100 gas per µs (1 gas ≈ 10 ns); the last column shows what the "
            "call actually delivered on this machine through eth_call.", "",
            "## Block-batched oracle (`execute_batch`)", ""]
    hdr = ["model", "device"] + [f"batch {b}: µs/req" for b in s["batch_sizes"]] + ["batch 1 / batch 64",
                                                                                   "batch = one-by-one"]
    out.append(markdown_table(hdr, [[r["model"], r["device"]] + [_n(r["per_request_us"][str(b)], 1)
                                                                 for b in s["batch_sizes"]]
                                    + [f"{r['speedup_64_vs_1']:.1f}×",
                                       _n(all(r["equals_one_by_one"].values()))] for r in report["batch"]]))
    out += ["", "fp32 batches are not expected to be bit-identical to one-by-one calls (float sums depend on "
            "kernel blocking); int8 must be.", "", "### Through the node's oracle worker", ""]
    orc = report.get("oracle", {})
    if "skipped" in orc:
        out.append(f"Skipped: {orc['skipped']}")
    elif orc:
        out.append(f"Path: {orc['path']}. **forward µs/req**: the worker's own timing of its forward pass(es) "
                   "divided by the requests; **block ms/req**: wall time from `evm_mine` until every request "
                   "and callback is mined, divided by the requests. Requests that do not fit one block's gas "
                   "limit are served in the next block (a second forward pass).")
        out.append("")
        sizes = orc["batch_sizes"]
        hdr = ["model"] + [f"B={b}: forward µs/req" for b in sizes] + \
              [f"B={b}: block ms/req" for b in sizes] + [f"passes at {sizes[-1]} (largest)", "outputs equal"]
        rows = []
        for name, o in orc["models"].items():
            if "error" in o:
                rows.append([name, "error: " + o["error"]] + ["—"] * (len(hdr) - 2))
                continue
            last = str(sizes[-1])
            rows.append([name] + [_n(o["per_request_us"][str(b)], 1) for b in sizes]
                        + [_n(o["block_ms_per_request"][str(b)], 1) for b in sizes]
                        + [f"{o['forward_passes'][last]} ({o['largest_pass'][last]})",
                           _n(all(o["outputs_equal"].values()))])
        out.append(markdown_table(hdr, rows))
    out += ["", "## Pure EVM", ""]
    pe = report.get("pure_evm", {})
    if "skipped" in pe:
        out.append(f"Skipped: {pe['skipped']}")
    else:
        out.append(f"`imochain/bench/PureEvmMlp.sol`, compiled in this run with solc {pe['solc']} (optimizer on, "
                   f"evmVersion prague) in {pe['compile_s']:.1f} s; interpreter deploy {pe['interpreter_deploy_gas']:,} "
                   f"gas (once for all models). Block gas limit {pe['block_gas_limit']:,}.")
        out.append("")
        hdr = ["model", "gas / inference", "min–max", "precompile gas in EVM", "EVM/precompile", "fits block",
               "deploy gas", "data contracts", "one-MAC loop gas", "eth_call µs (py-evm)", "bytes equal"]
        rows = []
        for name, e in pe["models"].items():
            if "gas" not in e:
                rows.append([name, "skipped: " + e["skipped"]] + ["—"] * (len(hdr) - 2))
                continue
            sc = e["scalar"]
            rows.append([name, _n(e["gas"]), f"{e['gas_min']:,}–{e['gas_max']:,}", _n(e["precompile_gas_in_evm"]),
                         f"{e['ratio_vs_precompile']:,.1f}×", _n(e["fits_block"]), _n(e["deploy_gas"]),
                         str(e["contracts"]), _n(sc["gas"]) if "gas" in sc else "not run", _n(e["eth_call_us"]),
                         _n(e["outputs_equal"] and (sc.get("equal", True)))])
        out.append(markdown_table(hdr, rows))
        out += ["", "The packed loop spreads 8 int8 weights into 32-bit lanes of one 256-bit word and "
                "accumulates 8 products per MUL; the one-MAC loop is the straightforward version (one "
                "multiply-accumulate per iteration) over the same stored weights. Deploy gas is dominated by "
                "the 200 gas/byte code deposit; a model is split over contracts of ≤ 24 576 bytes (EIP-170), so "
                "its deployment spans several transactions."]
    out += ["", "## zkML (ezkl)", ""]
    zk = report.get("zkml", {})
    if "skipped" in zk:
        out.append(f"Skipped: {zk['skipped']}")
    else:
        pre_gas = {p["model"]: p["gas"] for p in report["precompile"]}
        out.append(f"ezkl run by `{zk['python']}`; SRS {zk['srs']}. The ezkl circuit is the precompile's int8 "
                   "function as an ONNX graph (integer weights and biases; requantisation as multiply by "
                   "multiplier/2^shift, Round half to even, Clip to int8, ReLU), evaluated in ezkl's own fixed "
                   "point with the scales its calibration picks: **outputs equal** counts the samples whose every "
                   "output, rounded to an integer, equals the precompile's; **max abs diff** is the largest "
                   "difference in any output. Verify gas: ezkl's generated Halo2 verifier (ezkl renders `Verifier.sol`; its own "
                   "compile step wants to download a native solc, so the source is compiled here with the npm "
                   "solc) deployed on this chain and called with ezkl's EVM calldata, measured like the pure-EVM "
                   "calls; a proof with one flipped bit must be rejected.")
        out.append("")
        hdr = ["model", "logrows", "SRS s", "setup s", "prove s", "verify s (off-chain)", "proof file bytes (JSON)",
               "verifier code bytes", "verifier deploy gas", "verify gas", "verify gas / precompile gas",
               "verified on-chain", "tampered proof rejected", "outputs equal", "argmax equal", "max abs diff"]
        rows = []
        for name, r in zk.get("models", {}).items():
            if "error" in r:
                rows.append([name, "error: " + r["error"].replace("\n", " ").replace("|", "/")[-200:]] + ["—"] * (len(hdr) - 2))
                continue
            vg = r.get("verify_gas")
            rows.append([name, str(r["logrows"]), _n(r["srs_s"], 1), _n(r["setup_s"], 1), _n(r["prove_s"], 1),
                         _n(r["verify_s"], 2), _n(r["proof_bytes"]), _n(r.get("verifier_code_bytes")),
                         _n(r.get("verifier_deploy_gas")), _n(vg),
                         f"{vg / pre_gas[name]:,.0f}×" if vg and name in pre_gas else "—",
                         _n(r.get("verified_on_chain")) if vg else ("not run: " + r.get("verifier_error", "?"))[:160],
                         _n(r.get("tampered_rejected"))] + _agreement_cells(r.get("agreement")))
        out.append(markdown_table(hdr, rows))
    out += ["", "## Node throughput (same run)", ""]
    nd = report.get("node", {})
    if "skipped" in nd:
        out.append(f"Skipped: {nd['skipped']}")
    else:
        out.append(markdown_table(["figure", "HTTP (uvicorn, loopback)", "in-process Node", "HTTP / in-process"], [
            [f"automined ETH transfers/s ({nd['transfers']} tx, send + receipt)", _n(nd["http_transfers_per_s"]),
             _n(nd["in_process_transfers_per_s"]), f"{nd['transfer_ratio_http_vs_in_process']:.2f}"],
            [f"eth_call p50 µs ({nd['calls']} calls)", _n(nd["http_eth_call_p50_us"]),
             _n(nd["in_process_call_p50_us"]), f"{nd['eth_call_ratio_http_vs_in_process']:.1f}"],
            ["eth_chainId p50 µs (HTTP round-trip floor)", _n(nd["http_eth_chainId_p50_us"]), "—", "—"]]))
    out += contract_gas_section(report.get("contract_gas", {}))
    out += bisection_gas_section(report.get("bisection_gas", {}))
    out += ["", "## Agreement between regimes (same input)", ""]
    out.append(markdown_table(["model", "checks"], [[k, ", ".join(f"{c}: {_n(v)}" for c, v in sorted(v.items()))]
                                                   for k, v in report["agreement"].items()]))
    out += ["", "Raw figures: `report.json`. Reproduce: `imochain bench` (or `imochain bench --quick`).", ""]
    return "\n".join(out)


def contract_gas_section(gas: dict) -> list[str]:
    """Markdown lines: gas of each IMO path, ERC-7641 transfers against the plain ERC-20 baseline."""
    out = ["", "## IMO contracts: gas of the hot paths (same run)", ""]
    if not gas:
        return out + ["Not measured."]
    erc20 = {k.removeprefix("erc20 transfer "): v for k, v in gas.items() if k.startswith("erc20 transfer ")}
    rows = []
    for name, used in gas.items():
        if name.startswith("erc20 transfer "):
            continue
        base = erc20.get(name.removeprefix("erc7641 transfer ")) if name.startswith("erc7641 transfer ") else None
        rows.append([name, _n(used), _n(base), f"{used / base:.2f}×" if base else "—"])
    return out + [markdown_table(["path", "gas", "plain OpenZeppelin ERC-20", "ratio"], rows)]


def bisection_gas_section(gas: dict) -> list[str]:
    """Markdown lines: gas of each bisection move and of the worst-case final layer step."""
    out = ["", "## opML bisection over text answers: gas of each move (same run)", ""]
    if not gas:
        return out + ["Not measured."]
    for section, rows in gas.items():
        out += [f"**{section}**", "", markdown_table(["", "value"], [[k, _n(v) if isinstance(v, (int, float))
                                                                   and not isinstance(v, bool) else str(v)]
                                                                  for k, v in rows.items()]), ""]
    return out


GAS_COVER_COLUMNS = ["model", "device", "batch", "MACs", "bytes", "median µs", "gas", "gas µs (10 ns/gas)",
                     "time/gas", ""]


def _agreement_cells(a: dict | None) -> list[str]:
    if not a or not a.get("samples"):
        return ["—", "—", "—"]
    return [f"{a['outputs_equal']} of {a['samples']}", f"{a['argmax_equal']} of {a['samples']}",
            _n(a["max_abs_diff"])]


def gas_cover_rows(report: dict) -> list[list[str]]:
    rows = []
    for r in report.get("gas_cover", {}).get("rows", []):
        rows.append([r["model"], r["device"], str(r["batch"]), _n(r["macs"]), _n(r["bytes"]), _n(r["us"], 1),
                     _n(r["gas"]), _n(r["gas"] / 100, 1), f"{r['time_per_gas']:.2f}",
                     "**over**" if r["time_per_gas"] > 1.0 else ""])
    return rows


def gas_cover_markdown(report: dict) -> list[str]:
    rows = gas_cover_rows(report)
    if not rows:
        return []
    n_over = sum(1 for r in report["gas_cover"]["rows"] if r["time_per_gas"] > 1.0)
    return ["## Does gas cover the time?", "",
            "One whole precompile call as the chain runs it (`gas_cost` then `execute`: decode, checks, forward, "
            "encode), median wall time over the run's repeats at torch's default threads, every shipped model at "
            "batch 1, 8 and 64 (one call with a batched tensor). **time/gas** = measured µs / (gas / 100): above "
            f"1.0 the call took longer than its gas buys at 10 ns/gas. Rows above 1.0 in this run: **{n_over}** of "
            f"{len(rows)}. `imochain bench --calibrate` prints the constants this machine would need.", "",
            markdown_table(GAS_COVER_COLUMNS, rows), ""]


def gas_cover_text(report: dict) -> str:
    rows = gas_cover_rows(report)
    n_over = sum(1 for r in report.get("gas_cover", {}).get("rows", []) if r["time_per_gas"] > 1.0)
    cols = GAS_COVER_COLUMNS[:-1] + ["flag"]
    rows = [r[:-1] + (["OVER"] if r[-1] else [""]) for r in rows]
    return (f"gas vs median wall time of whole 0xA1 calls ({n_over} of {len(rows)} rows above 1.0):\n"
            + text_table(cols, rows))


def _short(name: str, modes: dict) -> str:
    """Plot label: the model's name with its mode (int8 / fp32), without a redundant suffix."""
    base = name[:-len("-fp32")] if name.endswith("-fp32") else name
    return f"{base} ({modes.get(name, '?')})"


def place_labels(ax, points: list[tuple[float, float, str]], fontsize: float = 6) -> list:
    """Annotate points so that no two labels overlap: each label tries offsets around its point
    (nearest first) and takes the first whose box is clear of the labels already placed."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    offsets = [(4, 4), (4, -10), (-4, 4), (-4, -10), (4, 14), (4, -20), (-4, 14), (-4, -20), (4, 24),
               (4, -30), (-4, 24), (-4, -30), (4, 34), (4, -40), (-4, 34), (-4, -40)]
    placed, boxes = [], []
    right_edge = ax.get_window_extent(renderer).x0 + 0.7 * ax.get_window_extent(renderer).width
    for x, y, text in sorted(points, key=lambda p: (p[0], p[1])):
        near_right = ax.transData.transform((x, y))[0] > right_edge
        # labels right of the point, or left of it near the right edge (inside the figure)
        for dx, dy in sorted(offsets, key=lambda o: (o[0] > 0) == near_right):
            label = ax.annotate(text, (x, y), fontsize=fontsize, xytext=(dx, dy), textcoords="offset points",
                                ha="left" if dx > 0 else "right")
            box = label.get_window_extent(renderer).padded(1)
            if not any(box.overlaps(b) for b in boxes):
                break
            label.remove()
        else:
            label = ax.annotate(text, (x, y), fontsize=fontsize, xytext=offsets[0], textcoords="offset points")
            box = label.get_window_extent(renderer)
        placed.append(label)
        boxes.append(box)
    return placed


def plot(report: dict, out_dir: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    macs = {m["name"]: m["macs"] for m in report["models"]}
    modes = {m["name"]: m["mode"] for m in report["models"]}
    paths = []
    fig, ax = plt.subplots(figsize=(7, 5))
    for device in sorted({p["device"] for p in report["precompile"]}):
        pts = [(macs[p["model"]], p["gas"], p["model"]) for p in report["precompile"] if p["device"] == device]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o", label="precompile (gas schedule)")
        break    # gas does not depend on the device
    evm = report.get("pure_evm", {}).get("models", {})
    pts = [(macs[n], e["gas"]) for n, e in evm.items() if "gas" in e]
    if pts:
        ax.plot(*zip(*pts), "s", label="pure EVM, packed loop")
    pts = [(macs[n], e["scalar"]["gas"]) for n, e in evm.items() if "gas" in e and "gas" in e["scalar"]]
    if pts:
        ax.plot(*zip(*pts), "^", label="pure EVM, one-MAC loop")
    ax.axhline(30_000_000, color="grey", linestyle="--", linewidth=0.8, label="block gas limit")
    ax.set(xscale="log", yscale="log", xlabel="MACs per inference", ylabel="gas per inference",
           title="Gas vs MACs")
    ax.legend(fontsize=8)
    fig.tight_layout()
    first = report["precompile"][0]["device"] if report["precompile"] else None
    place_labels(ax, [(macs[p["model"]], p["gas"], _short(p["model"], modes)) for p in report["precompile"]
                      if p["device"] == first])
    paths.append(out_dir / PLOTS[0])
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 5))
    for device in sorted({p["device"] for p in report["precompile"]}):
        rows = [p for p in report["precompile"] if p["device"] == device]
        for key, label, marker in (("torch_us", "raw torch forward", "o"), ("execute_us", "precompile execute", "x"),
                                   ("eth_call_us", "eth_call → 0xA1", "s")):
            ax.plot([macs[p["model"]] for p in rows], [p[key] for p in rows], marker, label=f"{label} [{device}]")
        b = [r for r in report["batch"] if r["device"] == device]
        ax.plot([macs[r["model"]] for r in b], [r["per_request_us"]["64"] for r in b], "v",
                label=f"batched oracle, per request at 64 [{device}]")
    pts = [(macs[n], e["eth_call_us"]) for n, e in evm.items() if "gas" in e]
    if pts:
        ax.plot(*zip(*pts), "D", label="pure EVM eth_call (py-evm)")
    ax.set(xscale="log", yscale="log", xlabel="MACs per inference", ylabel="µs per inference (median)",
           title="Time vs MACs")
    ax.legend(fontsize=7)
    fig.tight_layout()
    # one label per model at its eth_call point (the highest of its markers); twins of one shape
    # (int8 / fp32) sit at the same MACs and are told apart by the mode in the label
    place_labels(ax, [(macs[p["model"]], p["eth_call_us"], _short(p["model"], modes) + f" [{p['device']}]")
                      for p in report["precompile"]])
    paths.append(out_dir / PLOTS[1])
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


def write(report: dict, out_dir: Path) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        plot(report, out_dir)
        report.pop("plots_skipped", None)
    except ImportError as exc:   # matplotlib is optional for the figures themselves
        report["plots_skipped"] = f"matplotlib is not installed ({exc})"
    (out_dir / "report.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    (out_dir / "report.md").write_text(render_markdown(report))
    return {"json": out_dir / "report.json", "markdown": out_dir / "report.md",
            "plots": [out_dir / p for p in PLOTS]}


def main_table_text(report: dict) -> str:
    return text_table(MAIN_COLUMNS, main_rows(report))
