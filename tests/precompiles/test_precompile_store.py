"""Model files and the store: validation of every kind of bad file, persistence, list/find."""

import json
import pickle

import numpy as np
import pytest
from eth_utils import keccak
from precompile_helpers import graph_file, shipped_store
from safetensors.numpy import load as safetensors_load
from safetensors.numpy import save as safetensors_save

from imochain.models import ModelError, ModelStore
from imochain.models.graph import GRAPH_FORMAT
from imochain.models.modelfile import GRAPH_METADATA_KEY, parse_model

W = {"w": np.ones((4, 8), np.int8), "b": np.zeros(4, np.int32)}
OPS = [{"op": "Linear", "weight": "w", "bias": "b"}]


def _file(spec_changes=None, weights=None, raw_graph=None):
    spec = {"format": GRAPH_FORMAT, "name": "t", "mode": "int8",
            "input": {"dtype": "int8", "shape": [8]}, "ops": OPS}
    spec.update(spec_changes or {})
    graph = raw_graph if raw_graph is not None else json.dumps(spec)
    return safetensors_save(dict(W if weights is None else weights), metadata={GRAPH_METADATA_KEY: graph})


def test_our_files_are_valid_safetensors_and_hash_is_keccak():
    data = graph_file(OPS, W, [8])
    loaded = safetensors_load(data)
    assert set(loaded) == {"w", "b"} and (loaded["w"] == W["w"]).all()
    assert parse_model(data).hash == keccak(data)
    assert parse_model(_file()).graph.macs_per_sample == 32     # files from the safetensors library load too


BAD_FILES = {
    "garbage bytes": (b"\x00\x01garbage" * 50, "not a model file"),
    "pickle": (pickle.dumps({"w": [1, 2, 3]}), "not a model file"),
    "empty": (b"", "too short"),
    "bad graph JSON": (_file(raw_graph="{not json"), "not valid JSON"),
    "no graph": (safetensors_save(W), "no graph"),
    "unknown op": (_file({"ops": [{"op": "Softmax"}]}), "unknown op 'Softmax'"),
    "unknown op key": (_file({"ops": [{"op": "Linear", "weight": "w", "bias": "b", "act": "gelu"}]}), "unknown keys"),
    "missing weight": (_file({"ops": [{"op": "Linear", "weight": "nope"}]}), "missing"),
    "unused weight": (_file({"ops": [{"op": "Linear", "weight": "w"}]}), "no op uses"),
    "wrong weight shape": (_file({"input": {"dtype": "int8", "shape": [9]}}), "does not match input"),
    "wrong weight dtype": (_file(weights={"w": np.ones((4, 8), np.float32), "b": np.zeros(4, np.int32)}),
                           "expected int8"),
    "wrong bias shape": (_file(weights={"w": np.ones((4, 8), np.int8), "b": np.zeros(5, np.int32)}),
                         "expected [4]"),
    "shapes do not chain": (_file({"ops": OPS + [{"op": "Linear", "weight": "w"}]}), "requantize to int8 first"),
    "bad mode": (_file({"mode": "int4"}), "mode must be"),
    "bad name": (_file({"name": "../etc/passwd"}), "model name"),
    "bad input dtype": (_file({"input": {"dtype": "float32", "shape": [8]}}), "input dtype"),
    "unknown top key": (_file({"code": "import os"}), "unknown keys"),
    "Requantize in fp32": (_file({"mode": "fp32", "input": {"dtype": "float32", "shape": [8]},
                                  "ops": [{"op": "Requantize", "multiplier": 1, "shift": 0}]},
                                 weights={}), "only in int8"),
    "bad multiplier": (_file({"ops": OPS + [{"op": "Requantize", "multiplier": 2 ** 31, "shift": 3}]}),
                       "multiplier"),
    "empty ops": (_file({"ops": []}), "ops must be"),
    "dangling input ref": (_file({"ops": OPS + [{"op": "Add", "inputs": ["x", "input"]}]}), "inputs must"),
    "reshape mismatch": (_file({"ops": OPS + [{"op": "Reshape", "shape": [3]}]}), "cannot reshape"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_model_files_are_refused_and_store_unchanged(case, tmp_path):
    data, fragment = BAD_FILES[case]
    store = ModelStore(str(tmp_path))
    with pytest.raises(ModelError) as info:
        store.add(data)
    assert fragment in info.value.reason, info.value.reason
    assert len(store) == 0 and store.list() == [] and list(tmp_path.iterdir()) == []


def test_structural_safetensors_defects():
    good = graph_file(OPS, W, [8])
    header_len = int.from_bytes(good[:8], "little")
    with pytest.raises(ModelError, match="after the last tensor"):
        parse_model(good + b"\0")
    with pytest.raises(ModelError, match="header length"):
        parse_model((10 ** 9).to_bytes(8, "little") + good[8:])
    with pytest.raises(ModelError, match="outside|needs"):
        parse_model(good[:-4])
    header = json.loads(good[8:8 + header_len])
    header["w"]["data_offsets"] = [0, 16]                 # overlapping/short entry
    raw = json.dumps(header).encode()
    with pytest.raises(ModelError):
        parse_model(len(raw).to_bytes(8, "little") + raw + good[8 + header_len:])
    dup = good[8:8 + header_len].replace(b'{"__metadata__"', b'{"b":1,"__metadata__"', 1)
    with pytest.raises(ModelError, match="duplicate"):
        parse_model(len(dup).to_bytes(8, "little") + dup + good[8 + header_len:])


def test_int32_overflow_bound_is_checked():
    k = 140_000
    weights = {"w": np.full((1, k), -128, np.int8)}
    with pytest.raises(ModelError, match="overflows int32"):
        graph_file([{"op": "Linear", "weight": "w"}], weights, [k])


def test_store_persists_and_reloads(tmp_path):
    data = graph_file(OPS, W, [8], name="persisted")
    store = ModelStore(str(tmp_path))
    model_hash = store.add(data)
    assert store.add(data) == model_hash                       # idempotent
    assert (tmp_path / (model_hash.hex() + ".imo")).read_bytes() == data
    (tmp_path / "broken.imo").write_bytes(b"junk")
    again = ModelStore(str(tmp_path))
    assert again.find("persisted") == model_hash and again.get(model_hash).name == "persisted"
    assert len(again.load_errors) == 1 and "broken.imo" in again.load_errors[0]


def test_unknown_hash_and_list():
    store = shipped_store()
    with pytest.raises(Exception) as info:
        store.get(b"\xab" * 32)
    assert info.value.reason == "unknown model 0x" + "ab" * 32
    rows = {r["name"]: r for r in store.list()}
    assert {"digits-classifier", "digits-generator", "mlp-784-32-10", "mlp-784-256-256-10",
            "cnn-28-residual", "mlp-3072-1024-1024-10"} <= set(rows)
    row = rows["mlp-784-32-10"]
    assert row["kind"] == "tensor" and row["mode"] == "int8" and row["macs"] == 784 * 32 + 32 * 10
    assert row["params"] == 784 * 32 + 32 + 32 * 10 + 10 and row["input_shape"] == [784]
    assert row["output_shape"] == [10] and row["gas"] <= 10_000
    assert row["hash"] == "0x" + store.find("mlp-784-32-10").hex()
    assert store.find("no-such-model") is None
