"""The zkML regime's circuit spec is the precompile's int8 function, and its outputs are compared."""

import importlib.util
import sys
from pathlib import Path

import pytest

from imochain.bench.runner import ZKML_MODELS, _int8_spec
from imochain.models import ModelStore
from imochain.precompiles import InferencePrecompile

sys.path.insert(0, str(Path(__file__).parents[2] / "imochain" / "bench"))
import zkml_ezkl  # noqa: E402  (standalone script: ezkl's Python imports it without imochain)


def _integer_forward(spec, x):
    """The spec's function written out in Python integers (what the circuit must compute)."""
    v = [int(a) for a in x]
    for layer in spec["layers"]:
        v = [sum(w * a for w, a in zip(row, v)) + b for row, b in zip(layer["w"], layer["b"])]
        if layer["requant"]:
            m, s = layer["requant"]
            lo = 0 if layer["relu"] else -128
            v = [min(127, max(lo, round(a * m / 2 ** s))) for a in v]   # round(): half to even
        elif layer["relu"]:
            v = [max(0, a) for a in v]
    return v


@pytest.mark.parametrize("name", ZKML_MODELS)
def test_spec_is_the_precompiles_int8_function(name):
    store = ModelStore()
    store.load_shipped()
    spec = _int8_spec(store.get(store.find(name)), InferencePrecompile(store, "cpu"))
    assert [bool(layer["requant"]) for layer in spec["layers"]] == [True] * (len(spec["layers"]) - 1) + [False]
    assert len(spec["inputs"]) == len(spec["expected"]) == 16
    for x, want in zip(spec["inputs"], spec["expected"]):
        assert _integer_forward(spec, x) == want
    assert zkml_ezkl.compare(spec, [[float(v) for v in e] for e in spec["expected"]])["outputs_equal"] == 16


def test_compare_counts_samples():
    spec = {"expected": [[1, 5, 3], [7, 2, 0], [0, 0, 9]]}
    got = [[1.2, 4.9, 3.0], [7.0, 2.0, 2.6], [0, 10.0, 9.0]]
    assert zkml_ezkl.compare(spec, got) == {"samples": 3, "outputs_equal": 1, "argmax_equal": 2, "max_abs_diff": 10}


@pytest.mark.skipif(importlib.util.find_spec("onnx") is None, reason="onnx is not installed (ezkl's environment has it)")
def test_onnx_graph_has_requantisation(tmp_path):
    import onnx
    spec = {"layers": [{"w": [[1, 2]], "b": [3], "requant": [3, 2], "relu": True},
                       {"w": [[1]], "b": [0], "requant": None, "relu": False}], "inputs": [[1, 1]]}
    zkml_ezkl.build_onnx(spec, tmp_path / "m.onnx")
    ops = [n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node]
    assert ops == ["Gemm", "Mul", "Round", "Clip", "Gemm"]
