"""Round 4: the per-block work of an automined block, in-process (no HTTP).

The baseline is measured in the same run, on the same warm node: this round's shortcuts
switched off (`py_evm_paths`: the header through py-evm's ten fork rules, the block assembled
from `vm.get_block()`, stored by py-evm's `persist_block`, type bytes through eth_utils),
alternating with them on. Prints Python function calls per operation (cProfile's count:
deterministic, the primary figure) and CPU ms per operation (medians of alternating chunks).
Run: .venv/bin/python -m pytest benchmarks/bench_block.py --benchmark-enable -s -p no:xdist
"""

from __future__ import annotations

import contextlib
import gc
import os
import statistics

from eth.db.chain import ChainDB
from eth_abi import encode
from eth_account import Account
from eth_utils import to_checksum_address

from bench_chain import SINK, _calls_per_op, _cpu_per_op, _send_all, _signed
from bench_node import _token_creation_code
from imochain.builder import build_node
from imochain.chain import NodeConfig, executor, persist_speedups, type_byte_speedups
from imochain.chain.forks.osaka import headers
from sidebyside import KEY0, erc20_transfer_data

PER, TURNS = 40, 8  # CPU: chunks of this many operations, this many turns each way
PROFILED = 100  # operations under cProfile, each way


def _py_evm_assembly(vm, header, state_root: bytes, transactions: list, receipts: list):
    return vm.set_block_transactions_and_withdrawals(vm.get_block(), header.copy(state_root=state_root),
                                                     transactions, receipts, withdrawals=[])


@contextlib.contextmanager
def py_evm_paths():
    """This round's shortcuts off, py-evm's own paths in their place; restored on exit."""
    replaced = [(headers, "direct_header", lambda *args: None), (executor, "assemble_block", _py_evm_assembly),
                (ChainDB, "persist_block", persist_speedups.stock_persist_block)]
    replaced += type_byte_speedups.STOCK
    saved = [(owner, name, owner.__dict__[name]) for owner, name, _ in replaced]
    for owner, name, value in replaced:
        setattr(owner, name, value)
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def _deploy_bench_token(node) -> str:
    raw = Account.sign_transaction(dict(chainId=31337, nonce=0, maxPriorityFeePerGas=10**9, maxFeePerGas=10**11,
                                        gas=3_000_000, type=2,
                                        data=_token_creation_code() + encode(["uint256"], [10**27])),
                                   KEY0).raw_transaction
    return to_checksum_address(node.get_receipt(node.send_raw_transaction(bytes(raw))).contract_address)


def test_block_round4_before_after(benchmark):
    node = build_node(NodeConfig())
    token = _deploy_bench_token(node)
    count = 2 * PROFILED + PER * (2 * TURNS + 1)
    run = lambda raws: _send_all(node, raws)  # noqa: E731
    kinds = {"ETH transfer": _signed(1, count, SINK),
             "ERC-20 transfer": _signed(1 + count, count, token, erc20_transfer_data(), gas=100_000)}
    results = {}

    def measure():
        gc.collect()
        gc.freeze()  # what exists so far stays out of full collections (see bench_chain)
        for kind, raws in kinds.items():
            with py_evm_paths():
                before_calls = _calls_per_op(run, raws[:PROFILED])
            after_calls = _calls_per_op(run, raws[PROFILED:2 * PROFILED])
            chunks = [raws[i:i + PER] for i in range(2 * PROFILED, len(raws), PER)]
            run(chunks[0])  # warm-up
            spent = {False: [], True: []}
            for i, chunk in enumerate(chunks[1:]):
                on = i % 2 == 1
                with contextlib.nullcontext() if on else py_evm_paths():
                    spent[on].append(_cpu_per_op(run, chunk))
            results[kind] = (before_calls, after_calls, statistics.median(spent[False]), statistics.median(spent[True]))

    try:
        benchmark.pedantic(measure, rounds=1, iterations=1)
    finally:
        gc.unfreeze()
        node.close()
    print(f"\nround 4 (header, block assembly, storing the block, type bytes) off vs on, automined in-process "
          f"(load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
    for kind, (calls_off, calls_on, cpu_off, cpu_on) in results.items():
        print(f"{kind:16s} calls/op {calls_off:7.0f} -> {calls_on:7.0f} ({calls_off / calls_on:.2f}x)   "
              f"CPU {cpu_off * 1e3:6.3f} -> {cpu_on * 1e3:6.3f} ms ({cpu_off / cpu_on:.2f}x)")
        benchmark.extra_info[kind] = {"calls_before": calls_off, "calls_after": calls_on,
                                      "cpu_ms_before": cpu_off * 1e3, "cpu_ms_after": cpu_on * 1e3}
