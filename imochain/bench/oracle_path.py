"""Block time per AI-oracle request, before and after issue 14, measured side by side in one run.

"Before" is the genesis AIOracle and OpML as they were (each input stored on-chain, one
`invokeCallback` transaction per result; their creation bytecode is kept in oracle_before.json)
served by the worker one result per transaction; "after" is the current contracts and worker
(input hash only, a block's results in `invokeCallbacks`). Both nodes run in this process and
their rounds alternate, so both see the same machine load.
"""

from __future__ import annotations

import gc
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
        # the services' background warm-up (every model's runtime, after 2 s of quiet) done before
        # any round: it held the inference lock in the middle of a timed round (a ~1 s stall) and
        # its thread's CPU counted in whichever round it overlapped, of either node
        if self.worker.offlock is not None:
            self.worker.offlock.wait_idle(timeout=120)
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
        # as timeit does: the collector's pauses scale with the whole process's heap (both nodes)
        # and would land in whichever round crosses its threshold
        gc.collect()
        gc.disable()
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            while self.node.pending_count():
                self.node.mine()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        finally:
            gc.enable()
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
    for rs in runs.values():
        for r in rs:
            r.pop("output_hashes")
    for key in ("wall_ms_per_request", "cpu_ms_per_request", "gas_per_request"):
        out[f"ratio_{key}"] = out["before"][key] / out["after"][key]
    return out


SECTION = "## Oracle path: block time per request, before and after issue 14"


def markdown(result: dict) -> list[str]:
    """The report section for one `compare` run."""
    b, a = result["before"], result["after"]
    rows = [("block time, wall ms per request", "wall_ms_per_request", 1),
             ("block time, process CPU ms per request", "cpu_ms_per_request", 1),
             ("gas per request (request + its share of the answers)", "gas_per_request", 0),
             ("blocks to mine all", "blocks", 0), ("transactions", "transactions", 0)]
    out = [SECTION, "",
           f"Measured {result['measured']} on {result['machine']}, torch threads: "
           f"{result.get('torch_threads', '?')}; load average at start {result['load'][0]} "
           f"and end {result['load'][1]}. {result['requests']} `{result['model']}` requests (784-byte inputs, no "
           f"callback) sent unmined, then blocks mined until every request and answer is in, at the default "
           f"block gas limit; medians of {result['rounds']} rounds after a warm-up, the two nodes' rounds "
           "alternating in one process, the collector paused while a round mines (as timeit does) and every "
           "model's runtime built first. **before**: the AIOracle and OpML bytecode before issue 14 (each input "
           "stored on-chain, one `invokeCallback` per result); **after**: inputs and outputs kept by hash (the "
           "bytes stay in calldata and logs), a request written in three storage slots and a result in two, the "
           "opML game called once per `invokeCallbacks` and storing nothing per result until challenged. CPU "
           "time is this process's (all threads), which the machine's other load disturbs less than wall time. "
           "Where the time goes: docs/bench/oracle_profile.md.", "",
           "| figure | before | after | before / after |", "|---|---|---|---|"]
    for label, key, digits in rows:
        ratio = b[key] / a[key] if a[key] else float("nan")
        out.append(f"| {label} | {b[key]:,.{digits}f} | {a[key]:,.{digits}f} | {ratio:.2f}× |")
    out += ["", f"Outputs identical between the two: {'yes' if result['same_outputs'] else 'NO'}; every "
            f"request answered: {'yes' if b['all_answered'] and a['all_answered'] else 'NO'}.", ""]
    return out


def update_report(folder: Path, result: dict) -> None:
    """Puts the section into report.md (replacing an older one) and the figures into report.json."""
    md = folder / "report.md"
    text = md.read_text(encoding="utf-8")
    if SECTION in text:
        start = text.index(SECTION)
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + text[end + 1:] if end >= 0 else text[:start]
    md.write_text(text.rstrip("\n") + "\n\n" + "\n".join(markdown(result)), encoding="utf-8")
    js = folder / "report.json"
    report = json.loads(js.read_text(encoding="utf-8"))
    report["oracle_before_after"] = {k: v for k, v in result.items()}
    js.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


def run(n: int = 64, rounds: int = 3, log=print, threads: int = 1) -> dict:
    """`compare` with the machine and the time it ran on. `threads`: torch's, for the workers'
    forward passes (1, as in the committed report: spinning intra-op threads on a loaded 2-core
    machine made a 64-sample pass take up to half a second)."""
    import os
    import platform
    from datetime import datetime, timezone

    import torch

    start = os.getloadavg()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        result = compare(n, rounds, log)
    finally:
        torch.set_num_threads(before)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    result.update(measured=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  machine=f"{cpu} ({os.cpu_count()} CPUs)",
                  load=[[round(x, 2) for x in start], [round(x, 2) for x in os.getloadavg()]], torch_threads=threads)
    return result


def _bounded(lo: int, hi: int):
    def parse(text: str) -> int:
        import argparse
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is outside {lo}-{hi}")
        return value
    return parse


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m imochain.bench.oracle_path",
                                description="Oracle block time per request, before and after issue 14.")
    p.add_argument("--requests", type=_bounded(1, 256), default=64, metavar="N", help="requests a round (1-256)")
    p.add_argument("--rounds", type=_bounded(1, 20), default=3, metavar="R", help="timed rounds (1-20)")
    p.add_argument("--threads", type=_bounded(1, 64), default=1, metavar="T", help="torch threads (default 1)")
    p.add_argument("--update", type=Path, metavar="DIR", help="write the section into DIR/report.md and .json")
    args = p.parse_args(argv)
    if args.update and not (args.update / "report.md").is_file():
        p.error(f"{args.update}/report.md not found")
    result = run(args.requests, args.rounds, threads=args.threads)
    print("\n".join(markdown(result)))
    if args.update:
        update_report(args.update, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
