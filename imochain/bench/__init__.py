"""`imochain bench`: what inference on-chain costs, measured on this machine.

    imochain bench [--quick] [--out DIR] [--device auto|cpu|cuda] [--threads N]
    imochain bench --calibrate [--margin M] [--threads N]

writes DIR (default ``bench-report/``): ``report.md`` (main table and details), ``report.json``
(every raw figure) and PNG plots, and prints the main table and gas vs time per model and batch (rows whose median
time exceeds their gas at 10 ns/gas are flagged). ``--calibrate`` only measures that and prints
the gas constants this machine needs (``calibrate``). See ``runner`` for the regimes.
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
    p.add_argument("--calibrate", action="store_true",
                   help="only time whole 0xA1 calls of every shipped model at batch 1, 8, 64 and print the gas "
                        "constants this machine needs")
    p.add_argument("--margin", type=_margin, default=None, metavar="M",
                   help="with --calibrate: cover M times the median time (default 1.5)")
    p.set_defaults(func=run_cli)


def _margin(text: str) -> float:
    import argparse
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 1.0 <= value <= 100.0:
        raise argparse.ArgumentTypeError("must be between 1 and 100")
    return value


def run_cli(args) -> int:
    from pathlib import Path

    from . import report as rep
    from .runner import Settings, resolve_devices, run

    log = lambda m: print(m, file=sys.stderr, flush=True)    # noqa: E731
    if args.threads is not None and args.threads < 1:
        print("error: --threads must be at least 1", file=sys.stderr)
        return 2
    if args.calibrate:
        from .calibrate import DEFAULT_MARGIN, calibrate_cli
        return calibrate_cli(7 if args.quick else 15, args.margin or DEFAULT_MARGIN, args.threads, log)
    if args.margin is not None:
        print("error: --margin needs --calibrate", file=sys.stderr)
        return 2
    devices = resolve_devices(args.device)
    result = run(Settings.for_run(args.quick, devices, args.threads), log=log)
    paths = rep.write(result, Path(args.out))
    print(rep.main_table_text(result))
    print("\n" + rep.gas_cover_text(result))
    bad = {m: [k for k, v in checks.items() if not v] for m, checks in result["agreement"].items()}
    bad = {m: v for m, v in bad.items() if v}
    print(f"\nreport: {paths['markdown']}  raw: {paths['json']}  plots: {', '.join(str(p) for p in paths['plots'])}"
          f"  ({result['elapsed_s']:.0f} s)")
    if bad:
        print(f"error: regimes disagree: {bad}", file=sys.stderr)
        return 1
    return 0
