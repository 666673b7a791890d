"""``imochain model add | list | export | run``: argparse wiring for the model store.

``register(subparsers)`` adds the ``model`` command to the main CLI's subparsers; each leaf
sets ``func`` (called with the parsed args, returns the exit status). Errors print one line
``error: <reason>`` on stderr and exit 1, no traceback. Standalone:
``python -m imochain.models.modelcli model list``.

The store folder defaults to ``$IMOCHAIN_MODEL_STORE`` or ``~/.imochain/models``.
``model list`` always includes the shipped models. ``model run`` lives in ``modelrun``.

``model export BUILDER --out FILE`` quantises a trained torch model: BUILDER is a shipped model
name (``digits-classifier``, ``digits-generator``, a zoo name) or ``package.module:function``
returning a dict with the keyword arguments of ``export.export_sequential`` (``module``,
``name``, ``input_shape``, ``input_scale``, ``calibration``, optional ``output_scale``,
``mode``, ``description``) plus optional ``eval_inputs`` (float, like the module's input) and
``eval_labels`` for the float-vs-int8 accuracy report.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

from .errors import PrecompileError

DEFAULT_STORE = os.environ.get("IMOCHAIN_MODEL_STORE", "~/.imochain/models")


def _store(path: str):
    from .store import ModelStore
    return ModelStore(str(Path(path).expanduser()))


def cmd_add(args) -> int:
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise PrecompileError(f"cannot read {args.file}: {exc.strerror}") from None
    store = _store(args.store)
    model_hash = store.add(data)
    model = store.get(model_hash)
    print(f"0x{model_hash.hex()}  {model.name} ({model.mode}) added to {store.path}")
    return 0


def _listing(store) -> list[dict]:
    """What a node with this store serves (the default text model too, as imo_listModels
    shows it), each with the oracle model id a fresh node's genesis gives it."""
    from imochain.precompiles.router import ModelRouter
    router = ModelRouter(store, device="cpu")
    try:
        from .text import locate_default_gguf
        path = locate_default_gguf()
        if path:
            router.add_text_file(path)
            router.add_int8_export(path, "smollm2-int8")
    except (ImportError, PrecompileError):  # no text model installed, or an unreadable one
        pass
    rows = router.list()
    try:
        from imochain.contracts.genesis import model_ids
        ids = model_ids([(r["name"], bytes.fromhex(r["hash"][2:])) for r in rows])
    except ImportError:
        ids = {}
    return [dict(r, oracle_id=ids.get(r["name"])) for r in rows]


def cmd_list(args) -> int:
    store = _store(args.store)
    store.load_shipped()
    rows = _listing(store)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'oracle id':>9s} {'hash':68s} {'name':26s} {'mode':5s} {'MACs':>10s} {'params':>10s} {'gas':>9s}"
          "  input -> output")
    for r in rows:
        oracle_id = "-" if r["oracle_id"] is None else str(r["oracle_id"])
        if r["kind"] == "text":
            print(f"{oracle_id:>9s} {r['hash']:68s} {r['name']:26s} {r['mode']:5s} {'-':>10s} {'-':>10s} "
                  f"{'per call':>9s}  text -> text")
            continue
        print(f"{oracle_id:>9s} {r['hash']:68s} {r['name']:26s} {r['mode']:5s} {r['macs']:>10d} {r['params']:>10d} "
              f"{r['gas']:>9d}  {r['input_dtype']}{r['input_shape']} -> {r['output_dtype']}{r['output_shape']}")
    for line in store.load_errors:
        print(f"skipped invalid file {line}", file=sys.stderr)
    return 0


def _builder_job(spec: str) -> dict:
    if ":" not in spec:
        raise PrecompileError(f"builder must be a shipped model name or module:function, got {spec!r}")
    module_name, func_name = spec.split(":", 1)
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as exc:
        raise PrecompileError(f"cannot load builder {spec}: {exc}") from None
    job = func()
    if not isinstance(job, dict) or "module" not in job:
        raise PrecompileError(f"builder {spec} must return a dict with at least 'module'")
    return job


def cmd_export(args) -> int:
    import numpy as np

    from . import build_models
    from .export import export_sequential, quantize_input, run_model_file

    out = Path(args.out)
    if args.builder == "digits-classifier":
        data = build_models.build_digits_classifier(verbose=True)
    elif args.builder == "digits-generator":
        data = build_models.build_digits_generator(verbose=True)
    elif args.builder in build_models.ZOO:
        data = build_models.ZOO[args.builder]()
    else:
        job = _builder_job(args.builder)
        eval_x, eval_y = job.pop("eval_inputs", None), job.pop("eval_labels", None)
        module = job.pop("module")
        if args.mode:
            job["mode"] = args.mode
        result = export_sequential(module, **job)
        data = result.file_bytes
        if eval_x is not None and eval_y is not None:
            import torch
            with torch.no_grad():
                float_pred = module.float()(torch.as_tensor(np.asarray(eval_x), dtype=torch.float32)).argmax(1).numpy()
            x = np.asarray(eval_x)
            if job.get("mode", "int8") == "int8":
                x = quantize_input(x, result.input_scale)
            else:
                x = x.astype(np.float32)
            q_pred = run_model_file(data, x).reshape(len(x), -1).argmax(1)
            labels = np.asarray(eval_y)
            print(f"accuracy: float {(float_pred == labels).mean():.4f}  "
                  f"{job.get('mode', 'int8')} {(q_pred == labels).mean():.4f}  ({len(labels)} samples)")
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise PrecompileError(f"cannot write {out}: {exc.strerror}") from None
    from eth_utils import keccak
    print(f"0x{keccak(data).hex()}  {len(data)} bytes written to {out}")
    return 0


def _guard(func):
    def run(args) -> int:
        try:
            return func(args)
        except PrecompileError as exc:
            print(f"error: {exc.reason}", file=sys.stderr)
            return 1
    return run


def register(subparsers) -> None:
    model = subparsers.add_parser("model", help="manage inference models (add, list, export, run)")
    sub = model.add_subparsers(dest="model_command", metavar="{add,list,export,run}")
    sub.required = True
    add = sub.add_parser("add", help="validate a model file and put it in the store; prints its hash")
    add.add_argument("file")
    add.add_argument("--store", default=DEFAULT_STORE, help="model store folder (default %(default)s)")
    add.set_defaults(func=_guard(cmd_add))
    lst = sub.add_parser("list", help="list shipped and stored models with MACs, params and gas")
    lst.add_argument("--store", default=DEFAULT_STORE, help="model store folder (default %(default)s)")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.set_defaults(func=_guard(cmd_list))
    exp = sub.add_parser(
        "export", help="quantise a trained torch model to a model file",
        description="Quantise a trained torch model into a model file. BUILDER is a shipped model name "
                    "(digits-classifier, digits-generator, a zoo name) or package.module:function, a "
                    "function taking no arguments that returns a dict: 'module' (a torch.nn.Sequential "
                    "of Linear or Conv2d layers and activations), 'name', 'input_shape', 'input_scale', 'calibration' "
                    "(sample float inputs), optionally 'output_scale', 'mode' (int8 or fp32), "
                    "'description', and 'eval_inputs' with 'eval_labels' for a float-vs-quantised "
                    "accuracy report.")
    exp.add_argument("builder", help="shipped model name or package.module:function")
    exp.add_argument("--out", required=True, help="output model file")
    exp.add_argument("--mode", choices=["int8", "fp32"], help="override the builder's mode")
    exp.set_defaults(func=_guard(cmd_export))
    from .modelrun import register as register_run
    register_run(sub, DEFAULT_STORE)
    from .text.int8.cli import register as register_export_text
    register_export_text(sub)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="imochain")
    subparsers = parser.add_subparsers(dest="command", required=True)
    register(subparsers)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
