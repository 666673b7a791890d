"""Inference precompile benchmarks (pytest-benchmark; nothing here asserts on time).

Run: ``.venv/bin/python -m pytest benchmarks/bench_precompile.py --benchmark-enable -s -q``

* per zoo model: gas, µs per call through ``InferencePrecompile.execute`` (decode, checks, gas,
  forward, encode) vs the raw torch forward of the same prepared graph on a ready tensor, in the
  same run -> overhead ratio (target <= 1.5x for mlp-784-256-256-10 and larger); plus a plain
  float32 ``nn.Sequential`` of the same shape for reference;
* µs per sample at batch 64 vs batch 1 for mlp-784-32-10 (target >= 10x fewer);
* the gas calibration: median wall time of whole calls vs the gas schedule at 10 ns/gas
  (100 Mgas/s), every shipped model at batch 1, 8, 64 (``imochain.bench.calibrate``).

Torch threads: $IMOCHAIN_BENCH_THREADS (default 2). Timings are the best of several rounds (the machine is shared; minima are the stable figure),
in process CPU time when one thread is used (see CLOCK).
"""

import os
import time

import numpy as np
import pytest

from imochain.models import ModelStore
from imochain.precompiles import InferencePrecompile
from imochain.models.tensor import encode_array, encode_call

ZOO = ["mlp-784-32-10", "mlp-784-256-256-10", "cnn-28-residual", "mlp-3072-1024-1024-10",
       "mlp-784-256-256-10-fp32"]
NS_PER_GAS = 10.0
# Torch threads. On a shared, busy 2-core machine 2 OpenMP threads degrade badly (spin-waits
# against other processes); IMOCHAIN_BENCH_THREADS=1 gives stable figures there.
THREADS = int(os.environ.get("IMOCHAIN_BENCH_THREADS", "2"))
# With one thread, CPU time of this process equals the wall time an idle machine would show and
# ignores time spent waiting for a core other processes hold; with more threads use wall time.
CLOCK = time.process_time if THREADS == 1 else time.perf_counter


@pytest.fixture(scope="module")
def env():
    import torch

    torch.set_num_threads(THREADS)
    store = ModelStore()
    store.load_shipped()
    return store, InferencePrecompile(store, "cpu"), torch


def best_us(fn, min_time=0.2, rounds=5) -> float:
    fn()
    start, n = CLOCK(), 0
    while CLOCK() - start < 0.02:
        fn()
        n += 1
    per_round = max(1, int(min_time / rounds / ((CLOCK() - start) / n)))
    best = float("inf")
    for _ in range(rounds):
        t = CLOCK()
        for _ in range(per_round):
            fn()
        best = min(best, (CLOCK() - t) / per_round)
    return best * 1e6


def _inputs(model, batch, seed=0):
    rng = np.random.default_rng(seed)
    shape = (batch,) + model.graph.input_shape
    if model.mode == "int8":
        return rng.integers(-128, 128, shape).astype(np.int8)
    return rng.standard_normal(shape).astype(np.float32)


def _plain_torch(model, torch):
    """A float32 nn.Sequential with the same layer shapes (MLPs only), for reference."""
    layers = []
    for node in model.graph.nodes:
        if node.op == "Linear":
            w = model.weights[node.attrs["weight"]]
            layers.append(torch.nn.Linear(w.shape[1], w.shape[0]))
        elif node.op == "ReLU":
            layers.append(torch.nn.ReLU())
        elif node.op in ("Conv2d", "Add"):
            return None
    return torch.nn.Sequential(*layers).eval()


@pytest.mark.parametrize("name", ZOO)
def test_execute_vs_raw_forward(benchmark, env, name):
    store, p, torch = env
    model = store.get(store.find(name))
    x = _inputs(model, 1)
    data = encode_call(model.hash, encode_array(x[0]))
    p.execute(data)
    runtime = model.runtimes["cpu"]
    xt = torch.from_numpy(x)
    raw = best_us(lambda: runtime.forward_torch(xt))
    through = best_us(lambda: p.execute(data))
    plain = _plain_torch(model, torch)
    plain_us = None
    if plain is not None:
        xf = torch.from_numpy(x.astype(np.float32))
        with torch.inference_mode():
            plain_us = best_us(lambda: plain(xf))
    g = p.gas_cost(data)
    print(f"\n{name:26s} gas {g:>8d} (= {g * NS_PER_GAS / 1000:8.1f} µs at 10 ns/gas)  execute {through:8.1f} µs  "
          f"raw forward {raw:8.1f} µs  overhead x{through / raw:4.2f}"
          + (f"  plain fp32 nn.Sequential {plain_us:8.1f} µs" if plain_us else ""))
    benchmark.extra_info.update(gas=g, execute_us=through, raw_forward_us=raw, overhead=through / raw,
                                plain_torch_us=plain_us)
    benchmark(p.execute, data)


def test_batch_speedup(benchmark, env):
    store, p, _ = env
    model = store.get(store.find("mlp-784-32-10"))
    one = encode_call(model.hash, encode_array(_inputs(model, 1)[0]))
    many = encode_call(model.hash, encode_array(_inputs(model, 64)))
    per_sample_1 = best_us(lambda: p.execute(one))
    per_sample_64 = best_us(lambda: p.execute(many)) / 64
    print(f"\nmlp-784-32-10: {per_sample_1:.1f} µs/sample at batch 1, {per_sample_64:.2f} µs/sample at batch 64 "
          f"-> {per_sample_1 / per_sample_64:.1f}x fewer; gas {p.gas_cost(one)} vs {p.gas_cost(many) / 64:.0f}/sample")
    benchmark.extra_info.update(us_per_sample_batch1=per_sample_1, us_per_sample_batch64=per_sample_64)
    benchmark(p.execute, many)


def test_gas_calibration(benchmark, env):
    """Median wall time of whole calls (gas_cost + execute) of every shipped model at batch 1, 8,
    64 against their gas at 10 ns/gas, and the constants that would cover 1.5x those medians
    (the same measurement as `imochain bench --calibrate`; torch threads: THREADS)."""
    from imochain.bench import calibrate

    store, p, _ = env
    models = sorted((store.get(bytes.fromhex(r["hash"][2:])) for r in store.list()),
                    key=lambda m: (m.graph.macs_per_sample, m.graph.name))
    rows = calibrate.measure(p, models, repeats=9)
    proposal = calibrate.fit(rows, calibrate.DEFAULT_MARGIN)
    print("\n" + calibrate.table(rows, proposal))
    print(f"in force: {calibrate.current_constants()}  fitted (milli-gas): {proposal}")
    benchmark.extra_info.update(rows=rows, fitted=proposal)
    model = store.get(store.find("mlp-784-32-10"))
    benchmark(p.gas_cost, encode_call(model.hash, encode_array(_inputs(model, 1)[0])))
