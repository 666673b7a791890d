"""Serving the int8 mode: export from a GGUF (a tiny synthetic one, so no download is needed), the
`model export-text` CLI, the TextModel-like wrapper, and the router behind 0xA1."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from imochain.models.errors import PrecompileError
from imochain.models.text import encode_text_call
from imochain.models.text.errors import TextModelError
from imochain.models.text.int8 import export as int8_export
from imochain.models.text.int8 import file as int8_file
from imochain.models.text.int8.serve import Int8TextModel

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "text"))
from tiny_gguf import make_weights, write_tiny_llama  # noqa: E402


@pytest.fixture(scope="module")
def gguf(tmp_path_factory):
    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    write_tiny_llama(path, make_weights(np.random.default_rng(11), tied=True), heads=4, kv_heads=2)
    return str(path)


@pytest.fixture(scope="module")
def int8_path(gguf, tmp_path_factory):
    model = int8_export.export_gguf(gguf, cache_dir=False)
    path = str(tmp_path_factory.mktemp("int8") / "tiny.int8.safetensors")
    int8_file.save(model, path)
    return path


def test_export_is_deterministic(gguf, int8_path):
    again = int8_file.model_bytes(int8_export.export_gguf(gguf, cache_dir=False))
    assert again == open(int8_path, "rb").read()


def test_served_model_generates_greedily_and_refuses_seeds(int8_path):
    m = Int8TextModel.load(int8_path)
    out = m.generate("the cat", 8)
    ids = m.encode_prompt("the cat")
    want = m.net.generate(ids, 8, m.template.stop_ids)
    assert m.last_stats["token_ids"] == want
    import codecs

    utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a cut-off last char is dropped
    assert out == "".join(utf8.decode(m.tokenizer.token_bytes[t]) for t in want)
    assert m.generate("the cat", 8, seed=0) == out
    pieces = []
    assert m.generate("the cat", 8, stream=pieces.append) == "".join(pieces) == out
    with pytest.raises(TextModelError, match="seed must be 0"):
        m.generate("the cat", 8, seed=7)
    with pytest.raises(TextModelError, match="exceeds the context"):
        m.generate("the cat " * 40, 8)
    assert m.info()["numeric_mode"] == "int8" and m.info()["hash"] == "0x" + m.model_hash.hex()
    assert 0 < m.quote("the cat", 1) < m.quote("the cat", 8) < m.quote("the cat the cat the cat", 8)


def test_cli_export_text(gguf, tmp_path, capsys):
    from imochain.cli import main

    out = tmp_path / "x.int8.safetensors"
    assert main(["model", "export-text", gguf, "-o", str(out)]) == 0
    line = capsys.readouterr().out
    model = int8_file.load(str(out))
    assert line.startswith("0x" + model.model_hash.hex()) and "mode int8" in line
    assert main(["model", "export-text", str(tmp_path / "missing.gguf")]) == 2
    assert "error:" in capsys.readouterr().err
    assert main(["model", "export-text", str(out)]) == 2  # an int8 file is not a GGUF
    assert "not a GGUF" in capsys.readouterr().err


def test_router_serves_an_int8_file_under_its_hash(int8_path):
    from imochain.models.store import ModelStore
    from imochain.precompiles.router import ModelRouter

    router = ModelRouter(ModelStore(None), device="cpu")
    h = router.add_text_file(int8_path)
    assert h == int8_file.load(int8_path).model_hash and router.is_text(h)
    row = next(r for r in router.list() if r["hash"] == "0x" + h.hex())
    assert row["mode"] == "int8" and row["kind"] == "text" and row["name"] == "tiny-llama-int8"
    call = encode_text_call(h, "the cat", 4, 0)
    assert router.gas_cost(call) > 0
    want = Int8TextModel.load(int8_path).generate("the cat", 4).encode()
    assert router.execute(call) == want
    with pytest.raises(PrecompileError, match="seed must be 0"):
        router.execute(encode_text_call(h, "the cat", 4, 3))


def test_cached_export_refuses_a_build_with_another_hash(gguf, tmp_path, monkeypatch):
    from imochain.models.text import gguf_file

    cache = str(tmp_path / "cache")
    gguf_hash = gguf_file.file_hash(gguf, cache).hex()
    monkeypatch.setitem(int8_export.KNOWN_EXPORTS, gguf_hash, "11" * 32)
    assert int8_export.known_hash(gguf, cache) == bytes.fromhex("11" * 32)
    with pytest.raises(TextModelError, match="expected 0x1111"):
        int8_export.cached_export(gguf, cache)
    monkeypatch.delitem(int8_export.KNOWN_EXPORTS, gguf_hash)
    path = int8_export.cached_export(gguf, cache)  # unknown GGUF: built and kept
    assert int8_export.known_hash(gguf, cache) == int8_file.load(path).model_hash
