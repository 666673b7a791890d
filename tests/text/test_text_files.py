"""Loading arbitrary GGUF files: synthetic Llamas vs an independent numpy forward, bad files."""

import os
import subprocess
import sys

import numpy as np
import pytest

from imochain.models.text import TextModel, TextModelError
from tiny_gguf import hf_reference_logits, make_weights, write_tiny_llama


@pytest.mark.parametrize("tied,kv_heads,f16", [(False, 2, False), (True, 4, False), (False, 1, True)])
def test_tiny_llama_matches_numpy_reference(tmp_path, tied, kv_heads, f16):
    rng = np.random.default_rng(kv_heads)
    w = make_weights(rng, kv_heads=kv_heads, tied=tied)
    path = tmp_path / "tiny.gguf"
    write_tiny_llama(path, w, kv_heads=kv_heads, f16=f16)
    if f16:  # the file holds f16 weights: compare with what it holds
        w = {k: (v.astype(np.float16).astype(np.float32) if v.ndim == 2 else v) for k, v in w.items()}
    m = TextModel.load(str(path), cache_dir=False)
    ids = [1, 40, 72, 101, 259, 200, 7, 2, 33]
    ref = hf_reference_logits(w, ids, kv_heads=kv_heads)
    got = m.logits(ids).double().numpy()
    assert np.abs(got - ref[-1]).max() < 1e-4
    # KV-cache path: token by token must agree with the full-sequence logits at every step.
    from imochain.models.text.llama import KVCache

    cache = KVCache(m.cfg, len(ids))
    for t, tok in enumerate(ids):
        step = m.net.forward([tok], cache).double().numpy()
        assert np.abs(step - ref[t]).max() < 1e-4


def test_tiny_llama_generates_and_caches(tmp_path):
    w = make_weights(np.random.default_rng(0))
    path = tmp_path / "tiny.gguf"
    write_tiny_llama(path, w)
    cache = str(tmp_path / "cache")
    a = TextModel.load(str(path), cache_dir=cache)
    out = a.generate("the cat", max_new_tokens=8)
    b = TextModel.load(str(path), cache_dir=cache)  # from the safetensors cache
    assert b.generate("the cat", max_new_tokens=8) == out
    assert b.info()["name"] == "tiny" and a.model_hash == b.model_hash
    # A damaged cache is rebuilt from the GGUF, not trusted.
    wfile = os.path.join(cache, a.model_hash.hex(), "weights.safetensors")
    with open(wfile, "wb") as f:
        f.write(b"garbage")
    c = TextModel.load(str(path), cache_dir=cache)
    assert c.generate("the cat", max_new_tokens=8) == out
    assert os.path.getsize(wfile) > 1000
    for fn in os.listdir(os.path.dirname(wfile)):
        assert not fn.endswith(".pkl") and not fn.startswith(".tmp-")


def test_raw_prompt_model_without_template(tmp_path):
    w = make_weights(np.random.default_rng(1))
    path = tmp_path / "base.gguf"
    write_tiny_llama(path, w, template=False)
    m = TextModel.load(str(path), cache_dir=False)
    assert m.info()["chat_template"] == "raw"
    assert m.encode_prompt("the") == m.tokenizer.encode("the")


def test_hash_named_file_takes_its_name_from_metadata(tmp_path):
    w = make_weights(np.random.default_rng(6))
    path = tmp_path / ("ab" * 32 + ".gguf")  # how a content-addressed store may name it
    write_tiny_llama(path, w)
    assert TextModel.load(str(path), cache_dir=False).name == "tiny-llama"


def test_missing_file(tmp_path):
    with pytest.raises(TextModelError) as e:
        TextModel.load(str(tmp_path / "nope.gguf"))
    assert e.value.code == "not_found"


def test_garbage_file(tmp_path):
    p = tmp_path / "garbage.gguf"
    p.write_bytes(os.urandom(4096))
    with pytest.raises(TextModelError) as e:
        TextModel.load(str(p), cache_dir=False)
    assert e.value.code == "not_gguf"


def test_truncated_gguf(tmp_path):
    w = make_weights(np.random.default_rng(2))
    full = tmp_path / "full.gguf"
    write_tiny_llama(full, w)
    data = full.read_bytes()
    for cut in (8, 200, len(data) // 2, len(data) - 10):
        p = tmp_path / f"cut{cut}.gguf"
        p.write_bytes(data[:cut])
        with pytest.raises(TextModelError) as e:
            TextModel.load(str(p), cache_dir=False)
        assert e.value.code == "corrupt_file", (cut, e.value.reason)


def test_non_llama_architecture(tmp_path):
    w = make_weights(np.random.default_rng(3))
    p = tmp_path / "gpt2.gguf"
    write_tiny_llama(p, w, arch="gpt2")
    with pytest.raises(TextModelError) as e:
        TextModel.load(str(p), cache_dir=False)
    assert e.value.code == "unsupported_architecture" and "gpt2" in e.value.reason


def test_unexpected_tensor(tmp_path):
    w = make_weights(np.random.default_rng(4))
    p = tmp_path / "odd.gguf"
    write_tiny_llama(p, w, extra_tensor="blk.0.ffn_gate_exps.weight")
    with pytest.raises(TextModelError) as e:
        TextModel.load(str(p), cache_dir=False)
    assert e.value.code == "unsupported_architecture"


def test_missing_tensor(tmp_path):
    w = make_weights(np.random.default_rng(5))
    del w["blk.1.ffn_up.weight"]
    p = tmp_path / "missing.gguf"
    write_tiny_llama(p, w)
    with pytest.raises(TextModelError) as e:
        TextModel.load(str(p), cache_dir=False)
    assert e.value.code == "corrupt_file" and "ffn_up" in e.value.reason


def test_import_is_light():
    code = (
        "import sys, imochain.models.text, imochain.models.text.cli;"
        "bad = [m for m in ('torch', 'gguf', 'tokenizers', 'imochain.chain', 'imochain.rpc') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_long_prompts_prefill_in_chunks(tmp_path, monkeypatch):
    """Issue 11 part 6: attention memory is bounded by the chunk, not the prompt; the answer
    is the same (greedy tokens) as a prefill in one pass."""
    from imochain.models.text import model as text_model
    w = make_weights(np.random.default_rng(3))
    path = tmp_path / "tiny.gguf"
    write_tiny_llama(path, w)
    m = TextModel.load(str(path), cache_dir=False)
    prompt = "the cat in the hat at the inn"
    whole = m.generate(prompt, max_new_tokens=6)
    tokens = m.last_stats["token_ids"]
    n_prompt = m.last_stats["prompt_tokens"]
    assert n_prompt > 8
    calls = []
    forward = m.net.forward
    monkeypatch.setattr(m.net, "forward", lambda ids, cache: calls.append(len(ids)) or forward(ids, cache))
    monkeypatch.setattr(text_model, "PREFILL_CHUNK", 4)
    assert m.generate(prompt, max_new_tokens=6) == whole and m.last_stats["token_ids"] == tokens
    prefill = [4] * (n_prompt // 4) + ([n_prompt % 4] if n_prompt % 4 else [])
    assert calls[:len(prefill)] == prefill and all(n == 1 for n in calls[len(prefill):])
