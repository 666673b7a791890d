"""`python -m imochain.gpucheck OUTDIR`: the precompile, the batched oracle and the text model on CUDA.

Four parts, each in its own try/except so that one failure still reports the others, each
printing one summary line and rewriting ``OUTDIR/gpucheck.json`` and ``gpucheck.md`` as soon as
it ends (a run killed half-way leaves the finished parts on disk):

  a. golden   the int8 golden vectors (tests/precompiles/golden_outputs.json) on CUDA at batch
              1, 7, 64 and 256: every output hash must equal the committed CPU one;
  b. bench    ``imochain bench --quick``'s precompile regimes (eth_call, execute, raw torch,
              execute_batch at 1/8/64) on CPU and CUDA in one report, and the gas schedule's
              time/gas on each device;
  c. oracle   the node's oracle worker serving 64 requests mined in one block, CPU vs CUDA;
  d. text     the text model's prefill and decode tokens/s, CPU vs CUDA, greedy answers compared;
              the int8 text runtime's tokens and hidden states must be bit-identical.

Exit status: 0 when every int8 output matched (or there is no CUDA device: everything is skipped),
1 when an int8 output differs, 3 when a part failed with an error, 2 for bad flags.
``--dry-run`` runs every part with the CPU standing in for CUDA, so the whole script can be
exercised on a machine without a GPU; its figures are CPU-vs-CPU and labelled so.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

PARTS = ("golden", "bench", "oracle", "text")
EXIT_OK, EXIT_INT8_DIFFERS, EXIT_USAGE, EXIT_PART_FAILED = 0, 1, 2, 3


@dataclass
class Context:
    """What every part needs: where to write, which device stands for the accelerator, limits."""
    out_dir: Path
    target: str                    # "cuda", or "cpu" in a dry run
    dry_run: bool = False
    models: tuple | None = None    # restrict the zoo / store models (tests); None = all
    golden_path: Path | None = None
    text_gguf: str | None | bool = None   # a GGUF path; None: SmolLM2's when installed; False: none
    text_layers: int | None = None          # the synthetic text model's layers (None: SmolLM2's 30)
    deadline: float = float("inf")  # perf_counter() after which remaining parts are skipped
    threads: int | None = None     # torch CPU threads for the run; None = torch's default
    log: object = print

    @property
    def devices(self) -> tuple:
        return ("cpu", self.target)

    def sync(self) -> None:
        """Wait for queued accelerator work, so a wall-clock interval covers it."""
        if self.target == "cuda":
            from imochain.models import runtime
            runtime.torch_module().cuda.synchronize()


@dataclass
class PartResult:
    status: str                    # "ok", "int8 differs", "error", "skipped"
    summary: str
    data: dict = field(default_factory=dict)


def environment(target: str) -> dict:
    """Versions and hardware, including where TF32 stands (see runtime.torch_module)."""
    from imochain.models import runtime
    torch = runtime.torch_module()      # switches TF32 off before any CUDA work
    env = {"python": platform.python_version(), "platform": platform.platform(), "torch": torch.__version__,
           "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
           "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "float32_matmul_precision": torch.get_float32_matmul_precision(),
           "cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
           "cuda_matmul_fp32_precision": getattr(torch.backends.cuda.matmul, "fp32_precision", None),
           "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32}
    try:
        with open("/proc/cpuinfo") as f:
            env["cpu"] = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        env["cpu"] = platform.processor()
    if target == "cuda":
        props = torch.cuda.get_device_properties(0)
        env.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                   compute_capability=f"{props.major}.{props.minor}", cuda_runtime=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version())
        smi = shutil.which("nvidia-smi")
        if smi:
            try:
                q = subprocess.run([smi, "--query-gpu=name,driver_version", "--format=csv,noheader"],
                                   capture_output=True, text=True, timeout=20, check=False)
                env["driver"] = q.stdout.strip().split(",")[-1].strip() or None
            except (OSError, subprocess.SubprocessError):
                env["driver"] = None
    return env


class Report:
    """The report on disk, rewritten after every part (JSON first: the Markdown is derived)."""

    def __init__(self, ctx: Context, env: dict | None, reason: str | None = None):
        self.ctx = ctx
        self.data = {"format": "imochain-gpucheck/1", "target": ctx.target, "dry_run": ctx.dry_run,
                     "environment": env, "parts": {}}
        if reason:
            self.data["skipped"] = reason
        self.started = time.perf_counter()

    def add(self, name: str, result: PartResult) -> None:
        self.data["parts"][name] = {"status": result.status, "summary": result.summary, **result.data}
        self.write()

    def write(self) -> None:
        from .render import render_markdown
        self.data["elapsed_s"] = round(time.perf_counter() - self.started, 1)
        self.ctx.out_dir.mkdir(parents=True, exist_ok=True)
        (self.ctx.out_dir / "gpucheck.json").write_text(json.dumps(self.data, indent=1, default=str) + "\n")
        (self.ctx.out_dir / "gpucheck.md").write_text(render_markdown(self.data))


def run(ctx: Context, parts=PARTS) -> int:
    """Run the chosen parts; returns the exit status (see the module docstring)."""
    from imochain.models import runtime
    if not ctx.dry_run and not runtime.cuda_available():
        reason = "no CUDA device (torch sees none): every part skipped"
        report = Report(ctx, None, reason)
        for name in parts:
            report.add(name, PartResult("skipped", reason))
        ctx.log(f"gpucheck: {reason}; report: {ctx.out_dir / 'gpucheck.md'}")
        return EXIT_OK
    from . import checks, text
    runners = {"golden": checks.golden, "bench": checks.bench, "oracle": checks.oracle, "text": text.run}
    torch = runtime.torch_module()
    threads_before = torch.get_num_threads()
    if ctx.threads:
        torch.set_num_threads(ctx.threads)
    try:
        return _run_parts(ctx, parts, runners)
    finally:
        torch.set_num_threads(threads_before)     # the process's setting, as it was


def _run_parts(ctx: Context, parts, runners) -> int:
    from . import checks
    report = Report(ctx, environment(ctx.target))
    env = report.data["environment"]
    if ctx.target == "cuda":
        try:
            env["cuda_latency"] = checks.cuda_latency()
        except Exception as exc:     # context for the figures only: never stop the parts
            env["cuda_latency"] = None
            env["cuda_latency_error"] = f"{type(exc).__name__}: {exc}"[:300]
    ctx.log(f"gpucheck: CPU vs {ctx.target}{' (dry run: the CPU stands in for CUDA)' if ctx.dry_run else ''}"
            f" on {env.get('gpu') or env['cpu']}, torch {env['torch']}"
            f"{', CUDA ' + str(env.get('cuda_runtime')) + ', driver ' + str(env.get('driver')) if ctx.target == 'cuda' else ''}")
    status = EXIT_OK
    for name in parts:
        t0 = time.perf_counter()
        if t0 > ctx.deadline:
            result = PartResult("skipped", "time budget spent by the parts before it")
        else:
            try:
                result = runners[name](ctx)
            except Exception as exc:   # one part's failure must not hide the others' results
                result = PartResult("error", f"{type(exc).__name__}: {exc}"[:500],
                                    {"traceback": traceback.format_exc()[-4000:]})
        result.data["seconds"] = round(time.perf_counter() - t0, 1)
        report.add(name, result)
        ctx.log(f"[{name}] {result.status}: {result.summary} ({result.data['seconds']:.0f} s)")
        if result.status == "int8 differs":
            status = EXIT_INT8_DIFFERS
        elif result.status == "error" and status == EXIT_OK:
            status = EXIT_PART_FAILED
    ctx.log(f"gpucheck: report {ctx.out_dir / 'gpucheck.md'} ({report.data['elapsed_s']:.0f} s), exit {status}")
    return status


def main(argv=None) -> int:
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message):       # one line, exit 2 (the project's CLI convention)
            print(f"gpucheck: error: {message}", file=sys.stderr)
            raise SystemExit(EXIT_USAGE)

    p = Parser(prog="python -m imochain.gpucheck", description=__doc__.split("\n")[0])
    p.add_argument("out_dir", metavar="OUTDIR", help="folder for gpucheck.json and gpucheck.md")
    p.add_argument("--dry-run", action="store_true", help="let the CPU stand in for CUDA (tests the script)")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    p.add_argument("--models", default=None, help="comma-separated model names (default: all)")
    p.add_argument("--golden", default=None, metavar="PATH", help="golden vectors JSON (default: the checkout's)")
    p.add_argument("--text-gguf", default=None, metavar="PATH",
                   help="a Llama GGUF to measure as well (default: SmolLM2's, when installed; 'none': no file)")
    p.add_argument("--text-layers", type=int, default=None, metavar="N",
                   help="build the SmolLM2-shaped random model with only N of its 30 layers (quick checks)")
    p.add_argument("--budget-s", type=float, default=270.0, help="skip parts that would start after this")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="torch CPU threads for the CPU runs (default: torch's; the text model keeps its own)")
    args = p.parse_args(argv)
    parts = tuple(x for x in args.parts.split(",") if x)
    unknown = [x for x in parts if x not in PARTS]
    if unknown or not parts:
        p.error(f"--parts: unknown part(s) {','.join(unknown) or '(none given)'}; choose from {','.join(PARTS)}")
    if args.budget_s <= 0:
        p.error("--budget-s must be positive")
    if args.threads is not None and not 1 <= args.threads <= 1024:
        p.error("--threads must be between 1 and 1024")
    if args.golden and not Path(args.golden).is_file():
        p.error(f"--golden: no such file {args.golden}")
    if args.text_gguf and args.text_gguf != "none" and not Path(args.text_gguf).is_file():
        p.error(f"--text-gguf: no such file {args.text_gguf}")
    if args.text_layers is not None and not 1 <= args.text_layers <= 30:
        p.error("--text-layers must be between 1 and 30")
    out_dir = Path(args.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        p.error(f"OUTDIR {out_dir} exists and is not a folder")
    ctx = Context(out_dir=out_dir, target="cpu" if args.dry_run else "cuda", dry_run=args.dry_run,
                  models=tuple(args.models.split(",")) if args.models else None,
                  golden_path=Path(args.golden) if args.golden else None, text_layers=args.text_layers,
                  text_gguf=False if args.text_gguf == "none" else args.text_gguf,
                  deadline=time.perf_counter() + args.budget_s, threads=args.threads,
                  log=lambda m: print(m, flush=True))
    return run(ctx, parts)
