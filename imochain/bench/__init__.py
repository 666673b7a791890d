"""`imochain bench`: what inference on-chain costs, measured on this machine.

    imochain bench [--quick] [--out DIR] [--device auto|cpu|cuda] [--threads N]

writes DIR (default ``bench-report/``): ``report.md`` (main table and details), ``report.json``
(every raw figure) and PNG plots, and prints the main table. See ``runner`` for the regimes.
"""

from __future__ import annotations

import sys


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="measure what inference on-chain costs and write a report",
                              description="Benchmark the inference precompile (eth_call, raw torch, batched "
                                          "oracle), the same models in pure EVM, and node throughput; write "
                                          "a Markdown report, raw JSON and PNG plots.")
    p.add_argument("--quick", action="store_true", help="fewer repeats, skip the largest model in pure EVM "
                                                        "(under 2 minutes)")
    p.add_argument("--out", default="bench-report", metavar="DIR", help="report folder (default bench-report/)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="auto: CPU, plus CUDA when torch sees a GPU")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="torch CPU threads (default: torch's default; on a loaded machine 1 avoids "
                        "thread-pool contention)")
    p.set_defaults(func=run_cli)


def run_cli(args) -> int:
    from pathlib import Path

    from . import report as rep
    from .runner import Settings, resolve_devices, run

    devices = resolve_devices(args.device)
    result = run(Settings.for_run(args.quick, devices, args.threads), log=lambda m: print(m, file=sys.stderr, flush=True))
    paths = rep.write(result, Path(args.out))
    print(rep.main_table_text(result))
    bad = {m: [k for k, v in checks.items() if not v] for m, checks in result["agreement"].items()}
    bad = {m: v for m, v in bad.items() if v}
    print(f"\nreport: {paths['markdown']}  raw: {paths['json']}  plots: {', '.join(str(p) for p in paths['plots'])}"
          f"  ({result['elapsed_s']:.0f} s)")
    if bad:
        print(f"error: regimes disagree: {bad}", file=sys.stderr)
        return 1
    return 0
