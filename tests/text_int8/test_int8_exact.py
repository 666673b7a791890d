"""Bit-exactness of the int8 text runtime: thread counts and torch CPU kernel sets (subprocesses
with ATEN_CPU_CAPABILITY=default vs avx2/avx512) give the same tokens and the same hidden states."""

from __future__ import annotations

import hashlib
import json
import os
import sys

import numpy as np
import pytest

from imochain.models.text.int8 import Int8Llama, load, save

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "precompiles"))
from kernel_sets import finish, kernel_sets, start  # noqa: E402

PROMPT = [7, 1, 250, 33, 33, 90, 4, 18, 61]


def fingerprint(m: Int8Llama) -> dict:
    """Greedy tokens plus a digest of every layer's output row for the prompt (batched path)."""
    import torch

    out = {"threads": torch.get_num_threads(), "tokens": m.generate(PROMPT, 6)}
    x = m._embed_rows(PROMPT)
    h = hashlib.sha256()
    for li in range(m.cfg.layers):
        x, k, v = m._layer_rows(li, 0, x, np.zeros((0, m.kv_dim), np.int8), np.zeros((0, m.kv_dim), np.int8))
        h.update(x.astype(np.int64).tobytes() + k.tobytes() + v.tobytes())
    out["states"] = h.hexdigest()
    out["capability"] = torch.backends.cpu.get_cpu_capability()
    return out


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    m = Int8Llama.tiny(seed=4, layers=3, width=96, heads=6, kv_heads=2, ffn=1100)  # ffn > 1024: two K chunks
    path = str(tmp_path_factory.mktemp("int8") / "tiny.int8.safetensors")
    save(m, path)
    return path


def test_thread_counts_give_identical_bits(model_file):
    import torch

    m = load(model_file)
    prev = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = fingerprint(m)
        torch.set_num_threads(2)
        two = fingerprint(m)
    finally:
        torch.set_num_threads(prev)
    assert one["tokens"] == two["tokens"] and one["states"] == two["states"]


@pytest.mark.timeout(600)
def test_kernel_sets_give_identical_bits(model_file):
    sets = kernel_sets()
    if len(sets) < 2:
        pytest.skip("torch offers only its scalar kernels on this CPU")
    procs = {name: start([__file__, model_file], env) for name, env in sets.items()}
    got = {name: finish(p) for name, p in procs.items()}
    here = fingerprint(load(model_file))
    for name, g in got.items():
        assert g["capability"] == sets[name]["ATEN_CPU_CAPABILITY"].upper()
        assert (g["tokens"], g["states"]) == (here["tokens"], here["states"]), name


if __name__ == "__main__":  # a kernel-set subprocess: fingerprint the model file given
    print(json.dumps(fingerprint(load(sys.argv[1]))))
