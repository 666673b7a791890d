"""Block-batched oracle: 64 mlp-784-32-10 requests mined in one block.

Inference time of the worker's one forward pass against running the same 64 requests one by
one through the precompile, in the same run; request-to-callback latency in blocks and ms; and
block time per request with the oracle contracts before and after issue 14, side by side.
Run: make bench  (or .venv/bin/python -m pytest benchmarks/bench_oracle.py -o python_files='bench_*.py'
--benchmark-enable -s -p no:xdist)
"""

from __future__ import annotations

import time

import numpy as np
from eth_abi import encode

from imochain.chain import NodeConfig
from imochain.oracle import start_services
from imochain.bench import oracle_path
from imochain.contracts import GENESIS_ADDRESSES, abi
from imochain.contracts.genesis import model_ids
from imochain.testing import in_process_web3

N = 64
ZERO = "0x" + "00" * 20


def test_64_requests_in_one_block(benchmark):
    # A request costs ~0.13 Mgas (the input is kept by hash) and the answers go out in a few
    # invokeCallbacks; the 100 M block keeps this test's figures comparable with older runs.
    w3, node = in_process_web3(NodeConfig(gas_limit=100_000_000))
    (worker,) = start_services(node, challenger=False)
    oracle = w3.eth.contract(address=GENESIS_ADDRESSES["AIOracle"], abi=abi("AIOracle"))
    model_hash = node.models.find("mlp-784-32-10")
    ids = model_ids([(m["name"], bytes.fromhex(m["hash"][2:])) for m in node.inference.list()])
    model_id = ids["mlp-784-32-10"]
    rng = np.random.default_rng(0)
    inputs = [encode(["uint8", "uint32[]", "bytes"], [1, [784], rng.integers(-128, 128, 784, dtype=np.int8).tobytes()])
              for _ in range(N)]
    node.inference.execute(encode(["bytes32", "bytes"], [model_hash, inputs[0]]))  # warm the runtime

    def one_by_one() -> float:
        t0 = time.perf_counter()
        for x in inputs:
            node.inference.execute(encode(["bytes32", "bytes"], [model_hash, x]))
        return time.perf_counter() - t0

    singles = min(one_by_one() for _ in range(5))

    fee = oracle.functions.estimateFee(model_id, 0).call()
    w3.provider.make_request("evm_setAutomine", [False])
    gas = oracle.functions.requestCallback(model_id, inputs[0], ZERO, 0, b"").estimate_gas(
        {"from": w3.eth.accounts[1], "value": fee}) * 11 // 10
    for x in inputs:
        oracle.functions.requestCallback(model_id, x, ZERO, 0, b"").transact(
            {"from": w3.eth.accounts[1], "value": fee, "gas": gas})
    passes = len(worker.records)
    t0 = time.perf_counter()
    mined = node.mine()[0]  # the worker answers right after this block
    request_block = mined.number
    assert len(mined.transactions) == N, f"only {len(mined.transactions)} requests in the block"
    node.mine()  # the block that carries the 64 callbacks
    latency_ms = (time.perf_counter() - t0) * 1e3
    first = oracle.functions.nextRequestId().call() - N
    assert all(any(oracle.functions.getOutputHash(first + i).call()) for i in range(N))
    assert w3.eth.block_number == request_block + 1  # every callback in the very next block
    new = worker.records[passes:]
    assert len(new) == 1 and new[0].batch_size == N  # one forward pass for the whole block
    worker_pass = new[0].micros / 1e6  # the first batch of this shape: includes torch's warm-up
    benchmark.pedantic(lambda: node.inference.execute_batch(model_hash, inputs), rounds=10, iterations=1)
    batched = benchmark.stats.stats.min  # the same pass, warm, as in a long-running node
    ratio = singles / batched
    benchmark.extra_info.update(one_by_one_ms=singles * 1e3, batched_ms=batched * 1e3, speedup=ratio,
                                worker_first_pass_ms=worker_pass * 1e3, latency_ms=latency_ms)
    print(f"\n{N} requests, one block: one by one {singles * 1e3:.2f} ms, one batched pass {batched * 1e3:.2f} ms "
          f"({ratio:.1f}x less; the worker's first, cold pass {worker_pass * 1e3:.2f} ms); request block "
          f"{request_block} -> callbacks in block {request_block + 1}; request-to-callback {latency_ms:.0f} ms "
          f"(mining both blocks, 64 requests)")


def test_block_time_before_and_after_issue_14(benchmark):
    """The whole oracle path per request, old contracts and worker against new, alternating
    rounds in one run (imochain/bench/oracle_path.py; `python -m imochain.bench.oracle_path
    --update docs/bench` writes the same figures into the committed report)."""
    result = benchmark.pedantic(lambda: oracle_path.run(N, rounds=3), rounds=1, iterations=1)
    assert result["same_outputs"] and result["before"]["all_answered"] and result["after"]["all_answered"]
    benchmark.extra_info.update({k: result[k] for k in result if k.startswith("ratio_")})
    print("\n" + "\n".join(oracle_path.markdown(result)))
    print(f"before/after: {result['ratio_wall_ms_per_request']:.2f}x wall, "
          f"{result['ratio_cpu_ms_per_request']:.2f}x CPU, {result['ratio_gas_per_request']:.2f}x gas per request")
