"""zkML regime, run by a Python that has ezkl (and onnx): the precompile's int8 MLP as an ezkl
circuit; prove one inference, emit its EVM verifier, and compare the circuit's outputs with the
precompile's sample by sample. Standalone on purpose (no imochain import): ezkl lives in its
own environment.

    python zkml_ezkl.py SPEC.json WORKDIR   ->  prints one JSON line with timings, agreement, paths

SPEC: {"layers": [{"w": [[int]], "b": [int], "requant": [multiplier, shift] | null, "relu": bool}],
       "inputs": [[int8 ...], ...], "expected": [[precompile output ...], ...]}.
The graph is the same integer function as the precompile: y = W x + b (integers), then for a
requantised layer round(y * multiplier / 2^shift) (ONNX Round: half to even, as the precompile)
saturated to [-128, 127] (to [0, 127] with ReLU); the last layer stays an integer accumulator.
ezkl evaluates it in its own fixed point (scales from calibration), so the constant
multiplier/2^shift is represented at ezkl's parameter scale: the comparison says how close that
is. The SRS is generated locally (ezkl.gen_srs: a test SRS, no download, no ceremony).
"""

import asyncio
import inspect
import json
import sys
import time
from pathlib import Path


def _call(fn, *args, **kwargs):
    """Call an ezkl function inside a running event loop (some of them need one) and await
    its result when it is awaitable."""
    async def run():
        value = fn(*args, **kwargs)
        if inspect.isawaitable(value):
            value = await value
        return value
    return asyncio.run(run())


def build_onnx(spec: dict, path: Path) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    k = len(spec["inputs"][0])
    cur = "x"
    for i, layer in enumerate(spec["layers"]):
        w = np.asarray(layer["w"], dtype=np.float32)
        b = np.asarray(layer["b"], dtype=np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes.append(helper.make_node("Gemm", [cur, f"w{i}", f"b{i}"], [f"h{i}"], transB=1))
        cur = f"h{i}"
        if layer.get("requant"):
            m, shift = layer["requant"]
            # m < 2^22 and a power-of-two divisor: m / 2^shift is exact in float32
            inits += [numpy_helper.from_array(np.array(m / 2.0 ** shift, dtype=np.float32), f"scale{i}"),
                      numpy_helper.from_array(np.array(0.0 if layer["relu"] else -128.0, dtype=np.float32), f"lo{i}"),
                      numpy_helper.from_array(np.array(127.0, dtype=np.float32), f"hi{i}")]
            nodes += [helper.make_node("Mul", [cur, f"scale{i}"], [f"m{i}"]),
                      helper.make_node("Round", [f"m{i}"], [f"q{i}"]),
                      helper.make_node("Clip", [f"q{i}", f"lo{i}", f"hi{i}"], [f"c{i}"])]
            cur = f"c{i}"
        elif layer.get("relu"):
            nodes.append(helper.make_node("Relu", [cur], [f"r{i}"]))
            cur = f"r{i}"
    n_out = len(spec["layers"][-1]["b"])
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k])],
                              [helper.make_tensor_value_info(cur, TensorProto.FLOAT, [1, n_out])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def witness_outputs(witness_path: str) -> list[float]:
    """The circuit's outputs as numbers (ezkl's rescaled outputs of a witness file)."""
    data = json.loads(Path(witness_path).read_text())
    return [float(v) for v in data["pretty_elements"]["rescaled_outputs"][0]]


def compare(spec: dict, got: list[list[float]]) -> dict:
    """Sample by sample: the circuit's outputs, rounded to integers, against the precompile's."""
    expected = spec.get("expected") or []
    equal = [round_all(g) == e for g, e in zip(got, expected)]
    diffs = [max(abs(a - b) for a, b in zip(round_all(g), e)) for g, e in zip(got, expected)]
    argmax = [max(range(len(g)), key=g.__getitem__) == max(range(len(e)), key=e.__getitem__)
              for g, e in zip(got, expected)]
    return {"samples": len(equal), "outputs_equal": sum(equal), "argmax_equal": sum(argmax),
            "max_abs_diff": max(diffs, default=None)}


def round_all(values):
    return [int(round(v)) for v in values]


def main() -> int:
    import ezkl

    spec = json.loads(Path(sys.argv[1]).read_text())
    work = Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    p = {n: str(work / n) for n in ("model.onnx", "settings.json", "data.json", "model.compiled", "kzg.srs",
                                    "witness.json", "vk.key", "pk.key", "proof.json", "Verifier.sol",
                                    "verifier.abi", "calldata.bin")}
    build_onnx(spec, Path(p["model.onnx"]))
    Path(p["data.json"]).write_text(json.dumps({"input_data": [spec["inputs"][0]]}))
    times = {}
    t = time.perf_counter()
    args = ezkl.PyRunArgs()
    args.input_visibility = "public"
    args.output_visibility = "public"
    args.param_visibility = "fixed"
    args.input_scale = 0              # int8 inputs are integers: exact at scale 0
    assert _call(ezkl.gen_settings, p["model.onnx"], p["settings.json"], py_run_args=args)
    _call(ezkl.calibrate_settings, p["data.json"], p["model.onnx"], p["settings.json"], "resources")
    assert _call(ezkl.compile_circuit, p["model.onnx"], p["model.compiled"], p["settings.json"])
    logrows = json.loads(Path(p["settings.json"]).read_text())["run_args"]["logrows"]
    times["settings_s"] = time.perf_counter() - t
    t = time.perf_counter()
    _call(ezkl.gen_srs, p["kzg.srs"], logrows)
    times["srs_s"] = time.perf_counter() - t
    _call(ezkl.gen_witness, p["data.json"], p["model.compiled"], p["witness.json"])
    t = time.perf_counter()
    assert _call(ezkl.setup, p["model.compiled"], p["vk.key"], p["pk.key"], p["kzg.srs"])
    times["setup_s"] = time.perf_counter() - t
    t = time.perf_counter()
    _call(ezkl.prove, p["witness.json"], p["model.compiled"], p["pk.key"], p["proof.json"], p["kzg.srs"])
    times["prove_s"] = time.perf_counter() - t
    t = time.perf_counter()
    assert _call(ezkl.verify, p["proof.json"], p["settings.json"], p["vk.key"], p["kzg.srs"])
    times["verify_s"] = time.perf_counter() - t
    result = {"ezkl": getattr(ezkl, "__version__", None), "logrows": logrows, **times,
              "proof_bytes": len(Path(p["proof.json"]).read_bytes())}
    # every sample through the circuit's witness (no proof needed for its outputs)
    got = []
    for i, x in enumerate(spec["inputs"]):
        data_i, wit_i = str(work / f"data{i}.json"), str(work / f"witness{i}.json")
        Path(data_i).write_text(json.dumps({"input_data": [x]}))
        _call(ezkl.gen_witness, data_i, p["model.compiled"], wit_i)
        got.append(witness_outputs(wit_i))
    result["agreement"] = compare(spec, got)
    # ezkl renders Verifier.sol and then compiles it with a native solc that it would download
    # (svm); offline that last step fails, but the rendered source is complete: we compile it
    # ourselves with the npm solc on the chain side.
    try:
        _call(ezkl.create_evm_verifier, p["vk.key"], p["settings.json"], p["Verifier.sol"], p["verifier.abi"],
              p["kzg.srs"])
    except Exception as exc:
        result["verifier_note"] = f"{type(exc).__name__}: {exc}"[:300]
    try:
        _call(ezkl.encode_evm_calldata, p["proof.json"], p["calldata.bin"])
        result["calldata"] = p["calldata.bin"]
    except Exception as exc:
        result["verifier_error"] = f"encode_evm_calldata: {type(exc).__name__}: {exc}"[:500]
    if Path(p["Verifier.sol"]).exists():
        result["verifier_sol"] = p["Verifier.sol"]
    else:
        result.setdefault("verifier_error", result.get("verifier_note", "no Verifier.sol"))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
