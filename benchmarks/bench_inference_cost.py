"""What inference on-chain costs, as pytest-benchmark figures (the same regimes as `imochain bench`).

Each test times one regime with pytest-benchmark and puts the figures measured beside it in the
same test (gas, raw torch µs, ratios) into ``extra_info``, so a saved benchmark JSON carries them.
Run: make bench, or
  .venv/bin/python -m pytest benchmarks/bench_inference_cost.py -o python_files='bench_*.py' \
      -p no:xdist --benchmark-enable -s
The full report with plots: `imochain bench` (this file is the CI-friendly subset).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from imochain.bench import evm
from imochain.bench.runner import BATCH_SIZES, SCALAR_MAX_MACS, sample_input
from imochain.chain import NodeConfig
from imochain.precompiles import INFERENCE_ADDRESS, InferencePrecompile
from imochain.models.tensor import encode_array, encode_call
from imochain.testing import in_process_web3

ZOO = ["digits-classifier", "digits-generator", "mlp-784-32-10", "mlp-784-256-256-10", "mlp-784-256-256-10-fp32",
       "cnn-28-residual", "mlp-3072-1024-1024-10"]
PURE_EVM = ["digits-classifier", "digits-generator", "mlp-784-32-10", "mlp-784-256-256-10"]


@pytest.fixture(scope="module")
def chain():
    w3, node = in_process_web3(NodeConfig(genesis_contracts=False, default_text_model=False, device="cpu"))
    return w3, node, InferencePrecompile(node.models, "cpu")


def _model(node, name):
    h = node.models.find(name)
    if h is None:
        pytest.skip(f"model {name} is not in the store")
    return node.models.get(h)


@pytest.mark.parametrize("name", ZOO)
def test_precompile_eth_call(benchmark, chain, name):
    w3, node, pc = chain
    model = _model(node, name)
    x = sample_input(model, 1)
    calldata = encode_call(model.hash, encode_array(x))
    params = [{"to": "0x" + INFERENCE_ADDRESS.hex(), "data": "0x" + calldata.hex()}, "latest"]
    out = pc.execute(calldata)
    rt = model.runtimes["cpu"]
    t = rt.torch.from_numpy(x[None].copy())

    def eth_call():
        return w3.provider.make_request("eth_call", params)["result"]

    assert bytes.fromhex(eth_call()[2:]) == out
    raw = []
    for _ in range(20):
        t0 = time.perf_counter()
        rt.forward_torch(t)
        raw.append(time.perf_counter() - t0)
    benchmark.pedantic(eth_call, rounds=20, iterations=1, warmup_rounds=2)
    call_us = benchmark.stats.stats.median * 1e6
    torch_us = float(np.median(raw)) * 1e6
    benchmark.extra_info.update(gas=pc.gas_cost(calldata), macs=model.graph.macs_per_sample,
                                torch_us=torch_us, eth_call_us=call_us, overhead=call_us / torch_us)
    print(f"\n{name}: gas {pc.gas_cost(calldata)}, eth_call {call_us:.0f} µs, torch {torch_us:.0f} µs, "
          f"overhead {call_us / torch_us:.1f}×")


@pytest.mark.parametrize("batch", BATCH_SIZES)
@pytest.mark.parametrize("name", ["digits-classifier", "mlp-784-32-10", "mlp-784-256-256-10"])
def test_batched_oracle(benchmark, chain, name, batch):
    _, node, pc = chain
    model = _model(node, name)
    tensors = [encode_array(sample_input(model, 1 + i)) for i in range(batch)]
    outs = pc.execute_batch(model.hash, tensors)
    assert outs == [pc.execute(encode_call(model.hash, t)) for t in tensors]   # int8: exact
    benchmark.pedantic(pc.execute_batch, args=(model.hash, tensors), rounds=10, iterations=1, warmup_rounds=1)
    per_request = benchmark.stats.stats.median * 1e6 / batch
    benchmark.extra_info.update(batch=batch, per_request_us=per_request)
    print(f"\n{name} batch {batch}: {per_request:.1f} µs per request")


@pytest.fixture(scope="module")
def evm_host(chain):
    why = evm.toolchain_missing()
    if why:
        pytest.skip(f"pure-EVM regime: {why}")
    _, node, _ = chain
    return evm.EvmHost(node, evm.compile_contract())


@pytest.mark.parametrize("name", PURE_EVM)
def test_pure_evm(benchmark, chain, evm_host, name):
    _, node, pc = chain
    model = _model(node, name)
    root, deploy_gas, contracts = evm_host.deploy_model(evm.pack_model(model))
    tensor = encode_array(sample_input(model, 1))
    ref = pc.execute(encode_call(model.hash, tensor))
    gas, out = evm_host.measure_infer(root, tensor)
    pgas, pout = evm_host.measure(INFERENCE_ADDRESS, encode_call(model.hash, tensor))
    assert out == ref == pout
    info = dict(gas=gas, precompile_gas_in_evm=pgas, ratio=gas / pgas, deploy_gas=deploy_gas, contracts=contracts)
    if model.graph.macs_per_sample <= SCALAR_MAX_MACS:
        sgas, sout = evm_host.measure_infer(root, tensor, scalar=True)
        assert sout == ref
        info["one_mac_loop_gas"] = sgas
    benchmark.pedantic(evm_host.infer, args=(root, tensor), rounds=3, iterations=1)
    benchmark.extra_info.update(info)
    print(f"\n{name}: pure EVM {gas} gas vs precompile {pgas} gas in the EVM ({gas / pgas:.0f}×), "
          f"deploy {deploy_gas} gas in {contracts} contracts")
