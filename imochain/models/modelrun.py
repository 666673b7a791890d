"""``imochain model run NAME|HASH INPUT``: one inference from the command line, through 0xA1's code.

INPUT is a prompt for a text model; for a tensor model a ``.npy`` file, a JSON list (nested or
flat, reshaped to the model's input shape) or ``-`` to read either from stdin. The call goes
through the precompile's own decode -> run -> encode path (``dry_run``), so gas and output are
what an ``eth_call`` to 0xA1 returns; a tensor model runs twice (the first call loads torch and
prepares the weights), the second is timed and must give the same bytes. Prints the output (text; a classifier's logits with the
argmax; the digits generator's 8x8 image as terminal characters), gas, device and µs, or one
JSON object with ``--json``. Bad input: one line ``error: ...`` on stderr, exit status 2.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np

from .errors import PrecompileError

MAX_INPUT_BYTES = 16 << 20            # a .npy or JSON input larger than this is refused unread
SHADES = " .:-=+*#%@"                 # 10 levels, dark to bright


class InputError(PrecompileError):
    """Bad command-line input (exit status 2)."""


def _resolve(router, ref: str) -> bytes:
    text = ref[2:] if ref.lower().startswith("0x") else ref
    if len(text) == 64:
        try:
            model_hash = bytes.fromhex(text)
        except ValueError:
            model_hash = None
        if model_hash is not None and (model_hash in router.store or router.is_text(model_hash)):
            return model_hash
    found = router.find(ref)
    if found is None:
        raise InputError(f"unknown model {ref!r} (see `imochain model list`)")
    return found


def _read_source(source: str, stdin) -> bytes:
    if source == "-":
        data = stdin.buffer.read(MAX_INPUT_BYTES + 1) if hasattr(stdin, "buffer") else stdin.read().encode()
    else:
        if source.lstrip().startswith("["):
            data = source.encode("utf-8", "replace")        # an inline JSON list
        else:
            try:
                with open(source, "rb") as handle:
                    data = handle.read(MAX_INPUT_BYTES + 1)
            except OSError as exc:
                raise InputError(f"cannot read {source}: {exc.strerror} (INPUT is a .npy file, a JSON list or -)") from None
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"input is larger than {MAX_INPUT_BYTES} bytes")
    return data


def parse_tensor_input(data: bytes, dtype: str, shape: tuple) -> np.ndarray:
    """A .npy file's bytes or a JSON list -> array of the model's input dtype, [*shape] or [B,*shape]."""
    if data.startswith(b"\x93NUMPY"):
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)   # never unpickle
        except (ValueError, OSError) as exc:
            raise InputError(f"not a readable .npy array: {exc}") from None
    else:
        try:
            array = np.asarray(json.loads(data.decode("utf-8")))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InputError(f"input is neither a .npy file nor a JSON list of numbers ({type(exc).__name__})") from None
    if array.dtype.kind not in "iuf" or array.size == 0:
        raise InputError(f"input must be a non-empty array of numbers, got dtype {array.dtype}, {array.size} values")
    per_sample = int(np.prod(shape))
    if array.shape == tuple(shape) or array.shape[1:] == tuple(shape):
        pass
    elif array.size == per_sample:
        array = array.reshape(shape)
    else:
        raise InputError(f"input has shape {list(array.shape)} ({array.size} values); model wants {list(shape)} "
                         f"({per_sample} values) or [N,{','.join(map(str, shape))}]")
    target = np.dtype(dtype)
    if target.kind == "i":
        if array.dtype.kind == "f" and not np.all(np.isfinite(array) & (array == np.round(array))):
            raise InputError(f"model input is {dtype}: values must be integers")
        info = np.iinfo(target)
        if array.min() < info.min or array.max() > info.max:
            raise InputError(f"model input is {dtype}: values must lie in {info.min}..{info.max}")
    elif not np.all(np.isfinite(array)):
        raise InputError("input values must be finite")
    return np.ascontiguousarray(array.astype(target))


def terminal_image(pixels: np.ndarray, top: float) -> list[str]:
    """Rows of characters for a 2-D image, brightness 0..top over SHADES (two characters a pixel)."""
    levels = np.clip(np.rint(pixels.astype(np.float64) / top * (len(SHADES) - 1)), 0, len(SHADES) - 1).astype(int)
    return ["".join(SHADES[v] * 2 for v in row) for row in levels]


def _describe(name: str, output: np.ndarray) -> dict:
    """What to show of a tensor output: the digits image, or a classifier's argmax."""
    shown = {}
    if name == "digits-generator":
        shown["images"] = [terminal_image(np.maximum(img, 0), 112) for img in output.reshape(-1, 8, 8)]
    elif output.ndim in (1, 2) and output.shape[-1] > 1:      # logits: [classes] or [N, classes]
        shown["argmax"] = output.argmax(-1).tolist()
    return shown


def run(ref: str, source: str, device: str = "auto", store_path: str | None = None, max_new_tokens: int = 64,
        seed: int | None = None, stdin=None) -> dict:
    """Run one inference; returns the result as a JSON-ready dict."""
    from imochain.precompiles.router import ModelRouter
    from .store import ModelStore
    from .tensor import decode_array, encode_array, encode_call

    stdin = stdin or sys.stdin
    store = ModelStore(str(Path(store_path).expanduser()) if store_path else None)
    store.load_shipped()
    from .text import locate_default_gguf
    default_text = locate_default_gguf()
    router = ModelRouter(store, device, [default_text] if default_text else [])
    if default_text:
        router.add_int8_export(default_text, "smollm2-int8")
    model_hash = _resolve(router, ref)
    if router.is_text(model_hash):
        from .text import encode_text_call
        raw = _read_source(source, stdin) if source == "-" else None
        try:
            prompt = raw.decode("utf-8") if raw is not None else source
            prompt.encode("utf-8")
        except UnicodeError:
            raise InputError("the prompt is not valid UTF-8") from None
        router.text_model(model_hash)      # load once (seconds), outside the timed call
        result = router.dry_run(encode_text_call(model_hash, prompt, max_new_tokens, seed or 0))
        name = router.name_of(model_hash)
        return {"model": name, "hash": "0x" + model_hash.hex(), "kind": "text", "output": result["text"],
                "gas": result["gas"], "device": result["device"], "micros": result["micros"]}
    model = store.get(model_hash)
    g = model.graph
    x = parse_tensor_input(_read_source(source, stdin), g.input_dtype, g.input_shape)
    data = encode_call(model_hash, encode_array(x))
    first = router.dry_run(data)          # loads torch and prepares the runtime: not what a call costs
    result = router.dry_run(data)
    if result["output"] != first["output"]:
        raise PrecompileError(f"{g.name} gave two different outputs for the same input on {result['device']}")
    output = decode_array(bytes.fromhex(result["output"][2:]))
    return {"model": g.name, "hash": "0x" + model_hash.hex(), "kind": "tensor", "mode": g.mode,
            "input_shape": list(x.shape), "output_dtype": str(output.dtype), "output_shape": list(output.shape),
            "output": output.tolist(), **_describe(g.name, output),
            "gas": result["gas"], "device": result["device"], "micros": result["micros"],
            "output_hex": result["output"]}


def render(result: dict) -> str:
    lines = [f"{result['model']}  {result['hash']}"]
    if result["kind"] == "text":
        lines.append(result["output"])
    else:
        for image in result.get("images", []):
            lines += image + [""]
        if "images" not in result:
            out = np.asarray(result["output"])
            lines.append(f"output {result['output_dtype']}{result['output_shape']}: "
                         + np.array2string(out, max_line_width=100, threshold=200))
        if "argmax" in result:
            lines.append(f"argmax: {result['argmax']}")
    lines.append(f"gas {result['gas']:,}  device {result['device']}  {result['micros']:,.0f} µs")
    return "\n".join(lines)


def cmd_run(args) -> int:
    try:
        result = run(args.model, args.input, args.device, args.store, args.max_new_tokens, args.seed)
    except PrecompileError as exc:
        print(f"error: {exc.reason}", file=sys.stderr)
        return 2
    print(json.dumps(result) if args.json else render(result))
    return 0


def register(model_subparsers, default_store: str) -> None:
    p = model_subparsers.add_parser(
        "run", help="run one inference: a prompt for text models; .npy, JSON list or - for tensor models")
    p.add_argument("model", help="model name or 0x-hash (see `imochain model list`)")
    p.add_argument("input", help="prompt (text model); .npy file, JSON list, or - for stdin (tensor model)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--store", default=default_store, help="model store folder (default %(default)s)")
    p.add_argument("--max-new-tokens", type=int, default=64, help="text models: cap on generated tokens")
    p.add_argument("--seed", type=int, default=None, help="text models: seeded sampling instead of greedy")
    p.set_defaults(func=cmd_run)
