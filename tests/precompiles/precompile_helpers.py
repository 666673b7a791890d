"""Shared helpers for the precompile tests (a plain module: this test folder has no package)."""

import functools

import numpy as np

from imochain.models import ModelStore
from imochain.precompiles import InferencePrecompile
from imochain.models.graph import GRAPH_FORMAT
from imochain.models.modelfile import write_model
from imochain.models.tensor import encode_array, encode_call

ZOO = ["mlp-784-32-10", "mlp-784-256-256-10", "cnn-28-residual", "mlp-3072-1024-1024-10"]


@functools.lru_cache(maxsize=None)
def shipped_store() -> ModelStore:
    store = ModelStore()
    store.load_shipped()
    return store


def precompile(device: str = "cpu") -> InferencePrecompile:
    return InferencePrecompile(shipped_store(), device)


def call(model_hash: bytes, x: np.ndarray) -> bytes:
    return encode_call(model_hash, encode_array(x))


def random_inputs(shape, count: int, seed: int) -> np.ndarray:
    rng = np.random.Generator(np.random.PCG64(seed))
    return rng.integers(-128, 128, size=(count,) + tuple(shape), dtype=np.int64).astype(np.int8)


def graph_file(ops, weights, input_shape, name="t", mode="int8") -> bytes:
    spec = {"format": GRAPH_FORMAT, "name": name, "mode": mode,
            "input": {"dtype": "int8" if mode == "int8" else "float32", "shape": list(input_shape)},
            "ops": ops}
    return write_model(spec, weights)
