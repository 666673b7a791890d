"""Soak: the node's memory stays flat over 10 000 blocks and a WebSocket client that stops reading.

The node runs as its own process with `--db` (the chain itself then lives on disk; in memory it
would grow with every block by design). RSS is read from /proc: VmRSS, and RssAnon, the part
that is the node's own heap (LMDB's pages are file-backed and the kernel may drop them).
Printed: RSS after a warm-up of 5 000 blocks (the baseline, same run), after 10 000 more, and
after a subscriber that stops reading was sent ~40 MiB it never read, with the ratios to the
baseline. Bounds: under 8 MiB of heap growth over the 10 000 blocks, under 32 MiB over the
whole soak (16 MiB of it is the stalled reader's queue cap, which the allocator may keep).
Run: .venv/bin/python -m pytest benchmarks/bench_soak.py --benchmark-enable -s -p no:xdist
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

from imochain.testing import free_port, rpc

BLOCKS = 10_000
WARMUP = 5_000  # fills the 4 096-entry block and receipt caches: the baseline is steady state
MIB = 1024 * 1024
MAX_BLOCKS_GROWTH = 8 * MIB  # heap over 10 000 blocks at steady state (measured: ~2 MiB)
MAX_GROWTH = 32 * MIB  # the whole soak: the stalled reader's 16 MiB queue cap, which the allocator may keep
BIG = "0x" + "22" * 20
RETURN_256K = "0x62040000" + "6000f3"  # PUSH3 0x40000, PUSH1 0, RETURN


def rss(pid: int) -> dict[str, int]:
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "RssAnon"):
                fields[name] = int(value.split()[0]) * 1024
    return fields


def mine(url: str, blocks: int) -> None:
    for _ in range(blocks // 1000):
        reply = rpc(url, "evm_mine", [{"blocks": 1000}])
        assert reply.get("result") == "0x0", reply


def stalled_subscriber(port: int) -> socket.socket:
    """A WebSocket client that subscribes, asks for ~40 MiB of answers and never reads them."""
    from websockets.client import ClientProtocol
    from websockets.protocol import State
    from websockets.uri import parse_uri
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    proto = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}"), max_size=None)
    proto.send_request(proto.connect())
    for chunk in proto.data_to_send():
        sock.sendall(chunk)
    while proto.state is not State.OPEN:
        proto.receive_data(sock.recv(65536))
    requests = [{"jsonrpc": "2.0", "id": 0, "method": "eth_subscribe", "params": ["newHeads"]}]
    requests += [{"jsonrpc": "2.0", "id": i, "method": "eth_call",
                  "params": [{"to": BIG}, "latest", {BIG: {"code": RETURN_256K}}]} for i in range(1, 81)]
    for r in requests:
        proto.send_text(json.dumps(r).encode())
    for chunk in proto.data_to_send():
        sock.sendall(chunk)
    return sock


def test_memory_stays_flat(benchmark, tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "imochain.cli", "node", "--port", str(port), "--quiet",
                             "--db", str(tmp_path / "chain"), "--no-mining", "--no-oracle", "--no-challenger"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                rpc(url, "eth_blockNumber")
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(proc.stderr.read().decode()[-2000:]) from None
                time.sleep(0.1)
        mine(url, WARMUP)
        start = rss(proc.pid)
        began = time.perf_counter()
        benchmark.pedantic(mine, args=(url, BLOCKS), rounds=1, iterations=1)
        seconds = time.perf_counter() - began
        after_blocks = rss(proc.pid)
        sock = stalled_subscriber(port)
        mine(url, 2000)  # notifications pile up for the stalled client until it is dropped
        time.sleep(1)
        after_slow = rss(proc.pid)
        sock.close()
        assert int(rpc(url, "eth_blockNumber")["result"], 16) == WARMUP + BLOCKS + 2000
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    mib = MIB
    print(f"\nsoak: {BLOCKS} blocks in {seconds:.1f} s ({BLOCKS / seconds:.0f} blocks/s), --db, manual mining")
    for label, r in ((f"after {WARMUP}-block warm-up (baseline)", start), (f"after {BLOCKS} more blocks", after_blocks),
                     ("after a stalled WebSocket reader", after_slow)):
        print(f"  {label:38s} VmRSS {r['VmRSS'] / mib:7.1f} MiB ({r['VmRSS'] / start['VmRSS']:.3f}x)  "
              f"RssAnon {r['RssAnon'] / mib:7.1f} MiB ({r['RssAnon'] / start['RssAnon']:.3f}x)")
    blocks_growth = after_blocks["RssAnon"] - start["RssAnon"]
    growth = after_slow["RssAnon"] - start["RssAnon"]
    print(f"  heap growth over the blocks {blocks_growth / mib:.1f} MiB ({blocks_growth / BLOCKS:.0f} B/block; "
          f"bound {MAX_BLOCKS_GROWTH // mib} MiB), over the whole soak {growth / mib:.1f} MiB "
          f"(bound {MAX_GROWTH // mib} MiB)")
    benchmark.extra_info.update(rss_start=start, rss_after_blocks=after_blocks, rss_after_slow_reader=after_slow)
    assert blocks_growth < MAX_BLOCKS_GROWTH
    assert growth < MAX_GROWTH
