"""Chain import: Ethereum's rpc-compat chain (54 blocks, Frontier to BPO2) validated block by block.

Baseline in the same run: the same blocks decoded and hashed without execution, so the ratio
is what full validation (execution, state root, receipts) costs over reading the file.
Run: .venv/bin/python -m pytest benchmarks/bench_import.py --benchmark-enable -s -p no:xdist
"""

import time
from pathlib import Path

import pytest
import rlp

from imochain.chain.geth_genesis import load_genesis
from imochain.chain.importer import genesis_chain, import_blocks, split_blocks

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "execution-apis-tests" / "tests"


@pytest.mark.skipif(not (FIXTURES / "chain.rlp").exists(), reason="rpc-compat fixtures not found")
def test_import_speed(benchmark):
    genesis = load_genesis(FIXTURES / "genesis.json")
    blocks = list(split_blocks((FIXTURES / "chain.rlp").read_bytes()))

    def decode_only():
        for raw in blocks:
            rlp.decode(raw)

    def full_import():
        chain = genesis_chain(genesis, blocks)
        return import_blocks(chain, blocks)

    result = benchmark.pedantic(full_import, rounds=3, iterations=1)
    baseline = benchmark.stats.stats.median
    t = time.perf_counter()
    for _ in range(20):
        decode_only()
    decode_s = (time.perf_counter() - t) / 20
    print(f"\nimport of {result.imported} blocks: median {baseline:.2f} s = "
          f"{result.imported / baseline:.1f} blocks/s, {result.gas / 1e6 / baseline:.2f} Mgas/s; "
          f"decode only {decode_s * 1000:.1f} ms (validation costs {baseline / decode_s:.0f}x reading)")
