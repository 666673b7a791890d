"""Model names and the store (issue 11 parts 5 and 10): a duplicate name bricked the next start;
uploads had no quota; a Linear of shape [0, 64] was accepted."""

from __future__ import annotations

import json

import numpy as np
import pytest
from security_support import NodeProcess, error_of, rpc

from imochain.models import ModelError, ModelStore
from imochain.models.graph import GRAPH_FORMAT
from imochain.models.modelfile import GRAPH_METADATA_KEY, write_model
from imochain.models.tensor import encode_array


def tiny_model(name: str, seed: int = 0) -> bytes:
    spec = {"format": GRAPH_FORMAT, "name": name, "mode": "int8",
            "input": {"dtype": "int8", "shape": [8]}, "ops": [{"op": "Linear", "weight": "w"}]}
    w = np.random.default_rng(seed).integers(-3, 4, size=(4, 8)).astype(np.int8)
    return write_model(spec, {"w": w})


def _names(url: str) -> dict[str, str]:
    return {m["hash"]: m["name"] for m in rpc(url, "imo_listModels")["result"]}


def test_duplicate_name_does_not_brick_the_next_start(tmp_path):
    models = str(tmp_path / "models")
    first = NodeProcess(models=models)
    try:
        shipped = {n: h for h, n in _names(first.url).items()}["digits-classifier"]
        upload = rpc(first.url, "imo_uploadModel", ["0x" + tiny_model("digits-classifier").hex()])["result"]
        twins = [rpc(first.url, "imo_uploadModel", ["0x" + tiny_model("twin", s).hex()])["result"] for s in (1, 2)]
        names = _names(first.url)
    finally:
        first.stop()
    assert names[shipped] == "digits-classifier"  # a shipped model keeps its name
    assert names[upload] == f"digits-classifier@{upload[2:10]}"
    low, high = sorted(twins)
    assert names[low] == "twin" and names[high] == f"twin@{high[2:10]}"  # lowest hash, any order
    again = NodeProcess(models=models)  # exited with "duplicate model names" before
    try:
        assert _names(again.url) == names
        zeros = "0x" + encode_array(np.zeros(8, np.int8)).hex()
        assert rpc(again.url, "imo_dryRun", [upload, zeros])["result"]["gas"] > 0
    finally:
        again.stop()


def test_labels_do_not_depend_on_arrival_order():
    a, b = tiny_model("same", 1), tiny_model("same", 2)
    one, two = ModelStore(), ModelStore()
    one.add(a), one.add(b)
    two.add(b), two.add(a)
    assert one.list() == two.list()
    owner = one.find("same")
    other = next(bytes.fromhex(r["hash"][2:]) for r in one.list() if r["name"] != "same")
    assert owner < other and one.find(f"same@{other.hex()[:8]}") == other
    assert len(one.name_clashes) == 1 and f"same@{other.hex()[:8]}" in one.name_clashes[0]


def test_text_and_tensor_names_do_not_clash():
    from imochain.precompiles.router import ModelRouter
    store = ModelStore()
    tensor = store.add(tiny_model("chat"))
    router = ModelRouter(store, "cpu")
    router.text_files[b"\x01" * 32] = ("chat", "/nowhere.gguf")
    names = {r["name"] for r in router.list()}
    assert names == {"chat", f"chat@{tensor.hex()[:8]}"}
    assert router.find("chat") == b"\x01" * 32 and router.find(f"chat@{tensor.hex()[:8]}") == tensor


def test_upload_quota_counts_models_and_bytes(tmp_path):
    store = ModelStore(str(tmp_path), max_models=2, max_bytes=10**9)
    store.load_shipped()  # shipped models are not counted
    store.add(tiny_model("a", 1))
    store.add(tiny_model("a", 1))  # the same file again costs nothing
    store.add(tiny_model("b", 2))
    with pytest.raises(ModelError, match="quota reached: 2 models"):
        store.add(tiny_model("c", 3))
    assert len(list(tmp_path.iterdir())) == 2
    small = ModelStore(str(tmp_path / "small"), max_bytes=len(tiny_model("a")) + 10)
    small.add(tiny_model("a"))
    with pytest.raises(ModelError, match="quota reached"):
        small.add(tiny_model("b", 5))


def _file_with_tensor(shape: list[int], input_shape: list[int]) -> bytes:
    graph = {"format": GRAPH_FORMAT, "name": "zero", "mode": "int8",
             "input": {"dtype": "int8", "shape": input_shape}, "ops": [{"op": "Linear", "weight": "w"}]}
    header = json.dumps({"__metadata__": {GRAPH_METADATA_KEY: json.dumps(graph)},
                         "w": {"dtype": "I8", "shape": shape, "data_offsets": [0, 0]}}).encode()
    header += b" " * (-len(header) % 8)
    return len(header).to_bytes(8, "little") + header


@pytest.mark.parametrize("shape", [[0, 64], [64, 0]])
def test_zero_dimension_is_refused_at_upload(survives, shape):
    err = error_of(survives.url, "imo_uploadModel", ["0x" + _file_with_tensor(shape, [64]).hex()])
    assert err["code"] == -32602 and "bad shape" in err["message"], err


def test_models_none_keeps_uploads_in_memory(tmp_path, monkeypatch):
    from imochain.cli import build_parser, node_config
    monkeypatch.setenv("IMOCHAIN_MODEL_STORE", str(tmp_path / "shared"))
    parse = build_parser().parse_args
    assert node_config(parse(["node"])).model_store == str(tmp_path / "shared")
    assert node_config(parse(["node", "--models", str(tmp_path / "own")])).model_store == str(tmp_path / "own")
    assert node_config(parse(["node", "--models", "none"])).model_store is None
