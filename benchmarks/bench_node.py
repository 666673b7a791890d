"""Node throughput over HTTP: automined transfers, ERC-20 transfers, eth_call, batches.

Each figure is printed beside a baseline measured in the same run: the same work through the
in-process Node (no HTTP, no JSON), so the ratio is the cost of the RPC layer.
Run: make bench  (or .venv/bin/python -m pytest benchmarks/bench_node.py --benchmark-enable -s)
"""

from __future__ import annotations

import json
import statistics
import time

import pytest
from eth_abi import encode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector as selector

from imochain.builder import build_node
from imochain.chain import Node, NodeConfig
from imochain.contracts import load_artifact
from imochain.testing import node_process

KEY0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ADDR0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
SINK = "0x000000000000000000000000000000000000dEaD"
N_TX = 300


def _signed(count: int, to: str, data: bytes = b"", gas: int = 21000, start: int = 0) -> list[bytes]:
    return [bytes(Account.sign_transaction(
        dict(chainId=31337, nonce=n, maxPriorityFeePerGas=10**9, maxFeePerGas=10**11, gas=gas,
             to=to, value=0 if data else 1, data=data, type=2), KEY0).raw_transaction)
        for n in range(start, start + count)]


class Client:
    """One persistent HTTP/1.1 connection (stdlib), like a script holding a provider; a lean
    client so the figures are the node's, not the client library's."""

    def __init__(self, url: str):
        import http.client
        host, port = url.rsplit("/", 1)[-1].split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        self.id = 0

    def post(self, body: str):
        self.conn.request("POST", "/", body, {"Content-Type": "application/json"})
        return json.loads(self.conn.getresponse().read())

    def call(self, method: str, params: list):
        self.id += 1
        body = self.post(json.dumps({"jsonrpc": "2.0", "id": self.id, "method": method, "params": params}))
        if "error" in body:
            raise RuntimeError(body["error"])
        return body["result"]


def _steady(client: Client) -> Client:
    """Bring the node to steady state first: the precompile's runtime (torch) is otherwise
    imported in the background a moment after start-up, in the middle of the measurement."""
    model = client.call("imo_listModels", [])[0]
    shape = model["input_shape"]
    size = 1
    for d in shape:
        size *= d
    client.call("imo_dryRun", [model["hash"], "0x" + encode(["uint8", "uint32[]", "bytes"],
                                                             [1, shape, bytes(size)]).hex()])
    time.sleep(3)  # the warm-up thread starts 2 s after start-up; let it finish
    return client


def _send_and_wait(client: Client, raws: list[bytes]) -> float:
    t0 = time.perf_counter()
    for raw in raws:
        h = client.call("eth_sendRawTransaction", ["0x" + raw.hex()])
        receipt = client.call("eth_getTransactionReceipt", [h])
        assert receipt is not None and receipt["status"] == "0x1"
    return len(raws) / (time.perf_counter() - t0)


def _in_process(raws: list[bytes], node: Node) -> float:
    t0 = time.perf_counter()
    for raw in raws:
        h = node.send_raw_transaction(raw)
        assert node.get_receipt(h).status == 1
    return len(raws) / (time.perf_counter() - t0)


def _deploy_token(client: Client) -> str:
    art = load_artifact("ERC7641")
    args = encode(["string", "string", "uint256", "uint256", "uint256", "address"],
                  ["Bench", "BNC", 10**27, 80, 3600, ADDR0])
    data = bytes.fromhex(art["bytecode"][2:]) + args
    nonce = int(client.call("eth_getTransactionCount", [ADDR0, "latest"]), 16)
    raw = Account.sign_transaction(dict(chainId=31337, nonce=nonce, maxPriorityFeePerGas=10**9,
                                        maxFeePerGas=10**11, gas=6_000_000, data=data, type=2),
                                   KEY0).raw_transaction
    h = client.call("eth_sendRawTransaction", ["0x" + bytes(raw).hex()])
    return client.call("eth_getTransactionReceipt", [h])["contractAddress"]


def test_transfer_throughput(benchmark):
    base = _in_process(_signed(N_TX, SINK), build_node(NodeConfig(genesis_contracts=False)))
    with node_process() as url:
        client = _steady(Client(url))
        rate = benchmark.pedantic(_send_and_wait, args=(client, _signed(N_TX, SINK)), rounds=1, iterations=1)
    benchmark.extra_info.update(tx_per_s=rate, in_process_tx_per_s=base)
    print(f"\nautomined ETH transfers over HTTP: {rate:.0f} tx/s; in-process Node: {base:.0f} tx/s; "
          f"HTTP/in-process = {rate / base:.2f}")


def test_erc20_throughput(benchmark):
    with node_process() as url:
        client = _steady(Client(url))
        token = _deploy_token(client)
        data = selector("transfer(address,uint256)") + encode(["address", "uint256"], [SINK, 1])
        raws = _signed(N_TX, token, data, gas=200_000, start=1)
        rate = benchmark.pedantic(_send_and_wait, args=(client, raws), rounds=1, iterations=1)
        base = _send_and_wait(client, _signed(N_TX, SINK, start=1 + N_TX))
    benchmark.extra_info.update(tx_per_s=rate, eth_transfer_tx_per_s=base)
    print(f"\nautomined ERC-20 transfers over HTTP: {rate:.0f} tx/s; ETH transfers same run: {base:.0f} tx/s;"
          f" ratio {rate / base:.2f}")


def test_eth_call_latency(benchmark):
    with node_process() as url:
        client = _steady(Client(url))
        token = _deploy_token(client)
        data = "0x" + (selector("balanceOf(address)") + encode(["address"], [ADDR0])).hex()
        samples, base = [], []
        for _ in range(300):
            t0 = time.perf_counter()
            client.call("eth_call", [{"to": token, "data": data}, "latest"])
            samples.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            client.call("eth_chainId", [])
            base.append(time.perf_counter() - t0)
        benchmark.pedantic(client.call, args=("eth_call", [{"to": token, "data": data}, "latest"]),
                           rounds=20, iterations=1)
    p50, b50 = statistics.median(samples) * 1e3, statistics.median(base) * 1e3
    benchmark.extra_info.update(eth_call_p50_ms=p50, eth_chainId_p50_ms=b50)
    print(f"\neth_call p50 {p50:.3f} ms; eth_chainId p50 (round-trip floor) {b50:.3f} ms; ratio {p50 / b50:.1f}")


def test_batch_of_100_get_balance(benchmark):
    with node_process() as url:
        client = _steady(Client(url))
        batch = json.dumps([{"jsonrpc": "2.0", "id": i, "method": "eth_getBalance",
                             "params": [ADDR0, "latest"]} for i in range(100)])

        def one_batch():
            assert len(client.post(batch)) == 100

        def hundred_singles():
            for _ in range(100):
                client.call("eth_getBalance", [ADDR0, "latest"])

        t0 = time.perf_counter()
        hundred_singles()
        singles = time.perf_counter() - t0
        benchmark.pedantic(one_batch, rounds=10, iterations=1)
    batch_s = benchmark.stats.stats.median
    print(f"\nbatch of 100 eth_getBalance: {batch_s * 1e3:.1f} ms; 100 single requests: {singles * 1e3:.1f} ms;"
          f" speed-up {singles / batch_s:.1f}x")


@pytest.mark.parametrize("n", [1])
def test_startup_time(benchmark, n):
    """Seconds from process start to the first answered request (target: under 3 s)."""
    import subprocess
    import sys

    from imochain.testing import free_port, rpc

    def start_and_answer():
        port = free_port()
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "imochain.cli", "node", "--port", str(port), "--quiet"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    rpc(f"http://127.0.0.1:{port}", "eth_chainId")
                    return time.perf_counter() - t0
                except OSError:
                    time.sleep(0.02)
        finally:
            proc.terminate()
            proc.wait()

    t_import = subprocess.run([sys.executable, "-c", "pass"], check=True)
    del t_import
    seconds = benchmark.pedantic(start_and_answer, rounds=3, iterations=1)
    print(f"\nnode answers {seconds:.2f} s after start (last round)")
