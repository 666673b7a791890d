"""What inference on-chain costs, as pytest-benchmark figures: the regimes of `imochain bench`.

Each test runs one regime of ``imochain.bench.regimes`` (the very functions the report uses) and
puts its figures (gas, µs, ratios measured in the same run) into ``extra_info``, so a saved
benchmark JSON carries them, and asserts the regime's output checks.
Run: make bench, or
  .venv/bin/python -m pytest benchmarks/bench_inference_cost.py -o python_files='bench_*.py' \
      -p no:xdist --benchmark-enable -s
The full report with plots: `imochain bench` (this file is the CI-friendly subset).
"""

from __future__ import annotations

import pytest

from imochain.bench import evm, regimes
from imochain.bench.regimes import Settings
from imochain.builder import build_node
from imochain.chain import NodeConfig
from imochain.testing import in_process_web3

ZOO = ["digits-classifier", "digits-generator", "mlp-784-32-10", "mlp-784-256-256-10", "mlp-784-256-256-10-fp32",
       "cnn-28-residual", "mlp-3072-1024-1024-10"]
PURE_EVM = ["digits-classifier", "digits-generator", "mlp-784-32-10", "mlp-784-256-256-10"]


@pytest.fixture(scope="module")
def chain():
    return in_process_web3(node=build_node(NodeConfig(genesis_contracts=False, default_text_model=False,
                                                      device="cpu")))


def _model(node, name):
    h = node.models.find(name)
    if h is None:
        pytest.skip(f"model {name} is not in the store")
    return node.models.get(h)


def _once(benchmark, fn):
    return benchmark.pedantic(fn, rounds=1, iterations=1)


@pytest.mark.parametrize("name", ZOO)
def test_precompile_eth_call(benchmark, chain, name):
    w3, node = chain
    res = _once(benchmark, lambda: regimes.bench_precompile(w3, node, _model(node, name), "cpu", Settings(repeats=20)))
    assert res["eth_call_equals_execute"] and res["torch_equals_execute"]
    benchmark.extra_info.update({k: v for k, v in res.items() if k != "output_hex"})
    print(f"\n{name}: gas {res['gas']}, eth_call {res['eth_call_us']:.0f} µs, torch {res['torch_us']:.0f} µs, "
          f"overhead {res['overhead_eth_call']:.1f}×")


@pytest.mark.parametrize("name", ["digits-classifier", "mlp-784-32-10", "mlp-784-256-256-10"])
def test_batched_oracle(benchmark, chain, name):
    _, node = chain
    res = _once(benchmark, lambda: regimes.bench_batch(node, _model(node, name), "cpu", Settings(batch_repeats=10)))
    assert all(res["equals_one_by_one"].values())   # int8: exact at every batch size
    benchmark.extra_info.update(per_request_us=res["per_request_us"], speedup_64_vs_1=res["speedup_64_vs_1"])
    print(f"\n{name}: µs per request " + ", ".join(f"batch {b} {us:.1f}" for b, us in res["per_request_us"].items())
          + f" ({res['speedup_64_vs_1']:.1f}× at 64)")


@pytest.mark.parametrize("name", PURE_EVM)
def test_pure_evm(benchmark, chain, name):
    why = evm.toolchain_missing()
    if why:
        pytest.skip(f"pure-EVM regime: {why}")
    _, node = chain
    model = _model(node, name)
    res = _once(benchmark, lambda: regimes.bench_pure_evm(node, [model], Settings(evm_inputs=1), print))
    row = res["models"][name]
    assert "skipped" not in row, row
    assert row["outputs_equal"] and row["scalar"].get("equal", True)
    benchmark.extra_info.update({k: v for k, v in row.items() if k != "first_output_hex"})
    print(f"\n{name}: pure EVM {row['gas']} gas vs precompile {row['precompile_gas_in_evm']} gas in the EVM "
          f"({row['ratio_vs_precompile']:.0f}×), deploy {row['deploy_gas']} gas in {row['contracts']} contracts")
