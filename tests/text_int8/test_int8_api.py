"""The int8 text runtime's per-step API on tiny random models: shapes, purity, bad input, and the
batched prompt path bit-identical to embed/layer/head one token at a time."""

from __future__ import annotations

import numpy as np
import pytest

from imochain.models.text.errors import TextModelError
from imochain.models.text.int8 import Int8Llama
from imochain.models.text.int8 import model as int8_model


@pytest.fixture(scope="module")
def tiny():
    return Int8Llama.tiny(seed=1)


def stepwise(m: Int8Llama, ids: list[int], max_new: int) -> tuple[list[int], list]:
    """Greedy decoding from the public per-step API only; also returns each step's hidden states."""
    L = m.cfg.layers
    K = [np.zeros((0, m.kv_dim), m.kv_dtype) for _ in range(L)]
    V = [np.zeros((0, m.kv_dim), m.kv_dtype) for _ in range(L)]
    states, out, seq = [], [], list(ids)
    pos = 0
    while True:
        x = m.embed(seq[pos])
        for li in range(L):
            x, kn, vn = m.layer(li, pos, x, K[li], V[li])
            K[li] = np.concatenate([K[li], kn[None]])
            V[li] = np.concatenate([V[li], vn[None]])
            states.append(x.copy())
        pos += 1
        if pos < len(ids):
            continue
        if len(out) == max_new:
            return out, states
        tok = m.head(x)
        out.append(tok)
        seq.append(tok)
        if len(out) == max_new:
            return out, states


def test_step_api_shapes_and_purity(tiny):
    m = tiny
    assert m.kv_dim == m.cfg.kv_heads * m.cfg.head_dim and len(m.model_hash) == 32
    x = m.embed(3)
    assert x.dtype == np.int32 and x.shape == (m.cfg.width,)
    k = np.zeros((0, m.kv_dim), m.kv_dtype)
    x1, k1, v1 = m.layer(0, 0, x, k, k)
    assert x1.dtype == np.int32 and k1.dtype == np.int8 and v1.dtype == np.int8
    assert k1.shape == v1.shape == (m.kv_dim,)
    x_copy = x.copy()
    x2, k2, v2 = m.layer(0, 0, x, k, k)
    assert (x == x_copy).all(), "layer must not modify its input"
    assert (x1 == x2).all() and (k1 == k2).all() and (v1 == v2).all()
    assert not (x1 == x).all(), "a layer changes the residual stream"
    # A cache of one position: the next token attends to it.
    x3, _, _ = m.layer(0, 1, m.embed(4), k1[None], v1[None])
    x4, _, _ = m.layer(0, 1, m.embed(4), -k1[None], v1[None])
    assert not (x3 == x4).all(), "the cached keys must matter"
    assert 0 <= m.head(x1) < m.cfg.vocab


def test_generate_matches_stepwise_including_chunked_prefill(tiny, monkeypatch):
    ids = [5, 17, 200, 3, 3, 99, 42]
    want, _ = stepwise(tiny, ids, 6)
    assert tiny.generate(ids, 6) == want
    monkeypatch.setattr(int8_model, "PREFILL_CHUNK", 3)  # prompt split across batched calls
    assert tiny.generate(ids, 6) == want
    assert len(set(want)) > 1 or len(want) == 6


def test_generate_stops_before_a_stop_id(tiny):
    ids = [1, 2, 3]
    full = tiny.generate(ids, 5)
    assert tiny.generate(ids, 5, stop_ids={full[2]})[: full.index(full[2])] == full[: full.index(full[2])]
    assert full[2] not in tiny.generate(ids, 5, stop_ids={full[2]})
    assert tiny.generate(ids, 0) == []


def test_tiny_is_deterministic_and_seeded():
    a, b, c = Int8Llama.tiny(seed=2), Int8Llama.tiny(seed=2), Int8Llama.tiny(seed=3)
    assert a.model_hash == b.model_hash != c.model_hash
    assert a.generate([1, 2], 4) == b.generate([1, 2], 4)


def test_int8_tracks_the_float_model(tiny):
    """Top-1 agreement and logit correlation with the float model it was quantised from."""
    import torch

    from imochain.models.text.int8.quantize import tiny_float
    from imochain.models.text.llama import KVCache

    cfg, net, _ = tiny_float(1, 2, 64, 4, 2, 128, 256, 128)
    rng = np.random.default_rng(7)
    agree, corr = 0, []
    for trial in range(12):
        ids = rng.integers(0, 256, size=10).tolist()
        with torch.no_grad():
            fl = net.forward(ids, KVCache(cfg, len(ids))).double().numpy()
        x = tiny._embed_rows(ids)
        for li in range(cfg.layers):
            x, _, _ = tiny._layer_rows(li, 0, x, np.zeros((0, tiny.kv_dim), np.int8), np.zeros((0, tiny.kv_dim), np.int8))
        il = tiny.logits(x[-1]).astype(np.float64) / 2 ** tiny.lf
        agree += int(np.argmax(il) == np.argmax(fl))
        corr.append(np.corrcoef(il, fl)[0, 1])
        assert np.abs(il - fl).max() < 0.1 * np.abs(fl).max() + 0.05, trial
    assert min(corr) > 0.99
    assert agree >= 11


@pytest.mark.parametrize("call, match", [
    (lambda m: m.layer(2, 0, m.embed(1), *[np.zeros((0, m.kv_dim), np.int8)] * 2), "layer must be"),
    (lambda m: m.layer(-1, 0, m.embed(1), *[np.zeros((0, m.kv_dim), np.int8)] * 2), "layer must be"),
    (lambda m: m.layer(0, 1, m.embed(1), *[np.zeros((0, m.kv_dim), np.int8)] * 2), "k cache must have shape"),
    (lambda m: m.layer(0, 0, m.embed(1)[:5], *[np.zeros((0, m.kv_dim), np.int8)] * 2), "x must have shape"),
    (lambda m: m.layer(0, 0, m.embed(1).astype(np.float32), *[np.zeros((0, m.kv_dim), np.int8)] * 2), "integer"),
    (lambda m: m.layer(0, 1, m.embed(1), np.full((1, m.kv_dim), 300), np.zeros((1, m.kv_dim), np.int16)), "values"),
    (lambda m: m.layer(0, 10_000, m.embed(1), *[np.zeros((0, m.kv_dim), np.int8)] * 2), "position must be"),
    (lambda m: m.layer(0, True, m.embed(1), *[np.zeros((0, m.kv_dim), np.int8)] * 2), "position must be"),
    (lambda m: m.embed(256), "token id"),
    (lambda m: m.embed(-1), "token id"),
    (lambda m: m.head(np.zeros(3, np.int32)), "x must have shape"),
    (lambda m: m.generate([], 3), "at least one"),
    (lambda m: m.generate([1], -1), "max_new"),
    (lambda m: m.generate([1] * 100, 29), "exceed"),
    (lambda m: m.generate([1, 999], 1), "token id"),
])
def test_bad_input_is_a_clear_error(tiny, call, match):
    with pytest.raises(TextModelError, match=match):
        call(tiny)
