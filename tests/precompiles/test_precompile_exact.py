"""int8 exactness against the independent int64 numpy reference, including worst-case values."""

import numpy as np
import pytest
from precompile_helpers import ZOO, graph_file, random_inputs, shipped_store
from precompile_reference import forward as reference_forward
from precompile_reference import requantize as reference_requantize

from imochain.models.modelfile import parse_model
from imochain.models.runtime import NUMPY_MAX_BATCH, TorchRuntime


def _run(model, x):
    return TorchRuntime(model.graph, model.weights, "cpu").forward(x)


def _check(model, x):
    got = _run(model, x)
    want = reference_forward(model, x)
    assert got.dtype == np.dtype(model.graph.output_dtype)
    np.testing.assert_array_equal(got.astype(np.int64), want)
    return got


@pytest.mark.parametrize("name", ZOO + ["digits-classifier", "digits-generator"])
def test_shipped_models_match_reference(name):
    store = shipped_store()
    model = store.get(store.find(name))
    _check(model, random_inputs(model.graph.input_shape, 16, seed=7))


SMALL_BATCH_INPUTS = 1000
NUMPY_PATH_MODELS = {"mlp-784-32-10", "digits-classifier", "digits-generator"}


@pytest.mark.parametrize("name", ZOO + ["digits-classifier", "digits-generator"])
def test_small_batch_path_matches_reference_on_1000_inputs(name):
    # batches of NUMPY_MAX_BATCH take the numpy path where the model has one (small MLPs),
    # otherwise torch's small-batch kernels; both must equal the int64 reference everywhere
    store = shipped_store()
    model = store.get(store.find(name))
    rt = TorchRuntime(model.graph, model.weights, "cpu")
    assert (rt.numpy_steps is not None) == (name in NUMPY_PATH_MODELS)
    x = random_inputs(model.graph.input_shape, SMALL_BATCH_INPUTS, seed=11)
    x[0], x[1] = -128, 127                           # saturated inputs: the largest sums
    got = np.concatenate([rt.forward(x[i:i + NUMPY_MAX_BATCH]) for i in range(0, len(x), NUMPY_MAX_BATCH)])
    np.testing.assert_array_equal(got.astype(np.int64), reference_forward(model, x))


@pytest.mark.parametrize("k", [1024, 1025, 4096, 20000])
@pytest.mark.parametrize("fill", [-128, 127])
def test_linear_worst_case_large_k(k, fill):
    # all inputs -128 times all weights -128: every product is +2^14, the largest possible, so a
    # float32 sum over more than 1024 terms would exceed 2^24 and round; chunking must keep it exact
    rng = np.random.default_rng(k)
    weights = {"w": np.full((3, k), -128, np.int8), "b": np.array([2 ** 20, -5, 0], np.int32)}
    weights["w"][1] = rng.integers(-128, 128, k)
    model = parse_model(graph_file([{"op": "Linear", "weight": "w", "bias": "b"}], weights, [k]))
    x = np.stack([np.full(k, fill, np.int8), np.full(k, -128, np.int8),
                  rng.integers(-128, 128, k).astype(np.int8)])
    got = _check(model, x)
    assert got[1, 0] == k * 2 ** 14 + 2 ** 20          # 2^28 + 2^20 for k = 2^14: far above 2^24


def test_large_linear_uses_chunked_float32_path_exactly():
    k, n = 3000, 64          # 192 000 weights > SMALL_WEIGHTS: float32 chunk path
    weights = {"w": np.full((n, k), 127, np.int8), "b": np.zeros(n, np.int32)}
    weights["w"][::2] = -128
    model = parse_model(graph_file([{"op": "Linear", "weight": "w", "bias": "b"}], weights, [k]))
    x = np.full((5, k), -128, np.int8)
    x[1] = 127
    _check(model, x)


@pytest.mark.parametrize("c_in", [8, 120])     # K = c_in * 9: 72 (one chunk) and 1080 (two chunks)
def test_conv_worst_case(c_in):
    rng = np.random.default_rng(c_in)
    weights = {"w": np.full((4, c_in, 3, 3), -128, np.int8), "b": np.array([1, -1, 7, 2 ** 24], np.int32)}
    weights["w"][2] = rng.integers(-128, 128, (c_in, 3, 3))
    ops = [{"op": "Conv2d", "weight": "w", "bias": "b", "padding": 1, "stride": 2}]
    model = parse_model(graph_file(ops, weights, [c_in, 9, 9]))
    x = np.full((3, c_in, 9, 9), -128, np.int8)
    x[1] = rng.integers(-128, 128, (c_in, 9, 9))
    x[2] = 127
    _check(model, x)


@pytest.mark.parametrize("multiplier,shift", [
    (1, 1), (3, 2), (1 << 21, 22), ((1 << 22) - 1, 30), ((1 << 22) + 1, 30), ((1 << 31) - 1, 62),
    (12345, 0), (1, 0), ((1 << 31) - 1, 31)])
def test_requantize_rounding_and_saturation(multiplier, shift):
    # int32 accumulator values from Linear with identity-like weights, including exact ties
    values = np.concatenate([np.arange(-300, 301), [2 ** 31 - 1, -(2 ** 31) + 1, 2 ** 30, -(2 ** 30)]])
    k = 1
    weights = {"w": np.ones((1, k), np.int8), "b": np.zeros(1, np.int32)}
    model = parse_model(graph_file(
        [{"op": "Linear", "weight": "w", "bias": "b"}, {"op": "Requantize", "multiplier": multiplier, "shift": shift}],
        weights, [k]))
    rt = TorchRuntime(model.graph, model.weights, "cpu")
    import torch
    step = rt.steps[1]
    for dtype in (torch.float64, torch.int32):     # both representations an accumulator can have
        got = step([torch.tensor(values, dtype=dtype)]).to(torch.int64).numpy()
        np.testing.assert_array_equal(got, reference_requantize(values, multiplier, shift))
    # explicit ties: 1/2 -> 0, 3/2 -> 2, -1/2 -> 0, -3/2 -> -2 (half to even)
    if (multiplier, shift) == (1, 1):
        assert list(reference_requantize(np.array([1, 3, -1, -3, 5]), 1, 1)) == [0, 2, 0, -2, 2]


@pytest.mark.parametrize("kind", ["AvgPool2d", "MaxPool2d"])
@pytest.mark.parametrize("before", ["int8", "int32", "requantized"])
def test_pools_exact(kind, before):
    rng = np.random.default_rng(3)
    weights = {"w": rng.integers(-128, 128, (3, 2, 1, 1)).astype(np.int8), "b": np.zeros(3, np.int32)}
    ops = []
    if before != "int8":
        ops.append({"op": "Conv2d", "weight": "w", "bias": "b"})
        if before == "requantized":
            ops.append({"op": "Requantize", "multiplier": 3, "shift": 3})
        ops.append({"op": kind, "kernel": 3, "stride": 2})
        model = parse_model(graph_file(ops, weights, [2, 11, 11]))
    else:
        model = parse_model(graph_file([{"op": kind, "kernel": 3, "stride": 2}, {"op": "Flatten"}], {}, [2, 11, 11]))
    x = rng.integers(-128, 128, (6, 2, 11, 11)).astype(np.int8)
    x[0] = -128
    x[1] = 127
    _check(model, x)


def test_residual_add_and_relu_unfused():
    # the requantised value is read twice (by ReLU and by Add), so ReLU must not be fused
    rng = np.random.default_rng(5)
    weights = {"w": rng.integers(-128, 128, (6, 6)).astype(np.int8)}
    ops = [{"op": "Linear", "weight": "w"}, {"op": "Requantize", "multiplier": 5, "shift": 8, "id": "q"},
           {"op": "ReLU", "id": "r"}, {"op": "Add", "inputs": ["q", "r"]},
           {"op": "Add", "inputs": ["input", "input"]}]
    model = parse_model(graph_file(ops[:4], weights, [6]))
    _check(model, rng.integers(-128, 128, (9, 6)).astype(np.int8))
    model2 = parse_model(graph_file([ops[4]], {}, [6]))
    _check(model2, np.full((2, 6), -128, np.int8))
