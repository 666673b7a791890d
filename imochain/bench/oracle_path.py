"""Block time per AI-oracle request, before and after issue 14, measured side by side in one run.

"Before" is the genesis AIOracle and OpML as they were (each input stored on-chain, one
`invokeCallback` transaction per result; their creation bytecode is kept in oracle_before.json)
served by the worker one result per transaction; "after" is the current contracts and worker
(input hash only, a block's results in `invokeCallbacks`). Both nodes run in this process and
their rounds alternate, so both see the same machine load.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from unittest import mock

import numpy as np
from eth_abi import encode

BEFORE = Path(__file__).resolve().parent / "oracle_before.json"
ZERO = "0x" + "00" * 20
MODEL = "mlp-784-32-10"


class OraclePath:
    """One node with its oracle worker, and a way to time B requests through it."""

    def __init__(self, before: bool, gas_limit: int | None = None):
        from imochain.chain import NodeConfig
        from imochain.contracts import GENESIS_ADDRESSES, abi, genesis
        from imochain.oracle import start_services
        from imochain.testing import in_process_web3

        # the node's default block gas limit unless given, as in the committed report's regime
        config = NodeConfig(default_text_model=False, **({"gas_limit": gas_limit} if gas_limit else {}))
        if before:
            old = json.loads(BEFORE.read_text())
            real = genesis.bytecode
            codes = {name: bytes.fromhex(old[name][2:]) for name in ("AIOracle", "OpML")}
            with mock.patch.object(genesis, "bytecode", lambda name: codes.get(name) or real(name)):
                self.w3, self.node = in_process_web3(config)
        else:
            self.w3, self.node = in_process_web3(config)
        (self.worker,) = start_services(self.node, challenger=False)
        if before:
            self.worker.results_per_tx = 1
        self.oracle = self.w3.eth.contract(address=GENESIS_ADDRESSES["AIOracle"], abi=abi("AIOracle"))
        self.model_hash = self.node.models.find(MODEL)
        ids = genesis.model_ids([(m["name"], bytes.fromhex(m["hash"][2:])) for m in self.node.inference.list()])
        self.model_id = ids[MODEL]
        self.fee = self.oracle.functions.estimateFee(self.model_id, 0).call()

    def round(self, inputs: list[bytes]) -> dict:
        """Sends one request per input (not yet mined), then mines until every request and its
        answer are in; wall and process-CPU milliseconds per request, blocks, transactions."""
        rpc = self.w3.provider.make_request
        rpc("evm_setAutomine", [False])
        sender = self.w3.eth.accounts[1]
        first = self.oracle.functions.nextRequestId().call()
        for x in inputs:
            self.oracle.functions.requestCallback(self.model_id, x, ZERO, 0, b"").transact(
                {"from": sender, "value": self.fee, "gas": 1_500_000})
        start_block = self.node.head.block_number
        wall, cpu = time.perf_counter(), time.process_time()
        while self.node.pending_count():
            self.node.mine()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rpc("evm_setAutomine", [True])
        n = len(inputs)
        blocks = range(start_block + 1, self.node.head.block_number + 1)
        txs = sum(len(self.node.block_receipts(b)) for b in blocks)
        gas = sum(self.w3.eth.get_block(b)["gasUsed"] for b in blocks)
        outputs = [self.oracle.functions.getOutputHash(first + i).call() for i in range(n)]
        return {"wall_ms_per_request": wall * 1e3 / n, "cpu_ms_per_request": cpu * 1e3 / n,
                "blocks": len(blocks), "transactions": txs, "gas_per_request": gas // n,
                "answered": sum(1 for h in outputs if any(h)), "output_hashes": outputs}

    def close(self) -> None:
        self.worker.stop()
        self.node.close()


def sample_inputs(n: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [encode(["uint8", "uint32[]", "bytes"], [1, [784], rng.integers(-128, 128, 784, dtype=np.int8).tobytes()])
            for _ in range(n)]


def compare(n: int = 64, rounds: int = 3, log=print, gas_limit: int | None = None) -> dict:
    """Alternating rounds of n requests on the before and after nodes (one warm-up round each);
    medians per request and the before/after ratios."""
    paths = {"before": OraclePath(True, gas_limit), "after": OraclePath(False, gas_limit)}
    runs: dict[str, list[dict]] = {k: [] for k in paths}
    try:
        for i in range(rounds + 1):
            inputs = sample_inputs(n, seed=i)
            for name, path in paths.items():
                run = path.round(inputs)
                log(f"  round {i}{' (warm-up)' if i == 0 else ''} {name}: {run['wall_ms_per_request']:.1f} ms wall, "
                    f"{run['cpu_ms_per_request']:.1f} ms CPU per request; {run['blocks']} blocks, "
                    f"{run['transactions']} tx, {run['gas_per_request']:,} gas per request")
                if i:
                    runs[name].append(run)
    finally:
        for path in paths.values():
            path.close()
    out = {"requests": n, "rounds": rounds, "model": MODEL}
    for name, rs in runs.items():
        out[name] = {key: statistics.median(r[key] for r in rs)
                     for key in ("wall_ms_per_request", "cpu_ms_per_request", "blocks", "transactions",
                                 "gas_per_request")}
        out[name]["all_answered"] = all(r["answered"] == n for r in rs)
    # the same inputs got the same answers from both contracts
    out["same_outputs"] = [r["output_hashes"] for r in runs["before"]] == [r["output_hashes"] for r in runs["after"]]
    for key in ("wall_ms_per_request", "cpu_ms_per_request", "gas_per_request"):
        out[f"ratio_{key}"] = out["before"][key] / out["after"][key]
    return out
