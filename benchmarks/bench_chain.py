"""The chain's own per-transaction work, in-process (no HTTP): automined one-transaction blocks.

Baseline in the same run: the same node with the library speed-ups uninstalled (stock py-trie,
pyrlp and py-evm), measured in alternating rounds so a change in the shared machine's load hits
both. Also prints where one automined transfer's time goes (phases timed with perf_counter).
Run: .venv/bin/python -m pytest benchmarks/bench_chain.py --benchmark-enable -s -p no:xdist
"""

from __future__ import annotations

import collections
import cProfile
import functools
import gc
import os
import pstats
import statistics
import time

from eth_abi import encode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector as selector
from eth_utils import to_checksum_address

from imochain.builder import build_node
from imochain.chain import NodeConfig, speedups
from imochain.contracts import load_artifact

KEY0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ADDR0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
SINK = "0x000000000000000000000000000000000000dEaD"
PER_ROUND = 150
ROUNDS = 3  # each way


def _signed(start: int, count: int, to: str, data: bytes = b"", gas: int = 21_000) -> list[bytes]:
    return [bytes(Account.sign_transaction(
        dict(chainId=31337, nonce=n, maxPriorityFeePerGas=10**9, maxFeePerGas=10**11, gas=gas, to=to,
             value=0 if data else 1, data=data, type=2), KEY0).raw_transaction)
        for n in range(start, start + count)]


def _send_and_wait(node, raws: list[bytes]) -> float:
    """Seconds per transaction: submitted, automined into its own block, receipt read back."""
    t0 = time.perf_counter()
    for raw in raws:
        assert node.get_receipt(node.send_raw_transaction(raw)).status == 1
    return (time.perf_counter() - t0) / len(raws)


def _deploy_token(node) -> str:
    art = load_artifact("ERC7641")
    args = encode(["string", "string", "uint256", "uint256", "uint256", "address"],
                  ["Bench", "BNC", 10**27, 80, 3600, ADDR0])
    raw = Account.sign_transaction(dict(chainId=31337, nonce=0, maxPriorityFeePerGas=10**9, maxFeePerGas=10**11,
                                        gas=6_000_000, data=bytes.fromhex(art["bytecode"][2:]) + args, type=2),
                                   KEY0).raw_transaction
    return to_checksum_address(node.get_receipt(node.send_raw_transaction(bytes(raw))).contract_address)


def _compare(kind: str, make_raws) -> dict:
    """Alternating rounds with and without the speed-ups on one node; medians per transaction."""
    node = build_node(NodeConfig())
    raws = make_raws(node)
    chunks = [raws[i:i + PER_ROUND] for i in range(0, len(raws), PER_ROUND)]
    _send_and_wait(node, chunks[0])  # warm-up: imports, first blocks
    times = {"speed-ups": [], "stock": []}
    try:
        for i, chunk in enumerate(chunks[1:]):
            mode = "stock" if i % 2 else "speed-ups"
            (speedups.uninstall if mode == "stock" else speedups.install)()
            times[mode].append(_send_and_wait(node, chunk))
    finally:
        speedups.install()
        node.close()
    fast, stock = statistics.median(times["speed-ups"]), statistics.median(times["stock"])
    print(f"\n{kind}, automined in-process (load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores): "
          f"{1 / fast:.0f} tx/s ({fast * 1e3:.2f} ms/tx) with the speed-ups, {1 / stock:.0f} tx/s "
          f"({stock * 1e3:.2f} ms/tx) stock py-evm; speed-up {stock / fast:.2f}x")
    return {"tx_per_s": 1 / fast, "stock_tx_per_s": 1 / stock, "ratio": stock / fast}


def test_eth_transfer_blocks(benchmark):
    count = PER_ROUND * (2 * ROUNDS + 1)
    result = benchmark.pedantic(_compare, args=("ETH transfers", lambda node: _signed(0, count, SINK)),
                                rounds=1, iterations=1)
    benchmark.extra_info.update(result)


def test_erc20_transfer_blocks(benchmark):
    count = PER_ROUND * (2 * ROUNDS + 1)
    data = selector("transfer(address,uint256)") + encode(["address", "uint256"], [SINK, 1])

    def raws(node):
        return _signed(1, count, _deploy_token(node), data, gas=200_000)

    result = benchmark.pedantic(_compare, args=("ERC-20 transfers", raws), rounds=1, iterations=1)
    benchmark.extra_info.update(result)


def _cpu_per_op(run, items) -> float:
    """CPU seconds of this process per item (less sensitive to the shared machine's load than wall time)."""
    t0 = time.process_time()
    run(items)
    return (time.process_time() - t0) / len(items)


def _send_all(node, raws: list[bytes]) -> None:
    for raw in raws:
        assert node.get_receipt(node.send_raw_transaction(raw)).status == 1


def _calls_per_op(run, items) -> float:
    """Python calls per item (cProfile's count: deterministic, unlike time)."""
    profile = cProfile.Profile()
    profile.enable()
    run(items)
    profile.disable()
    return sum(v[1] for v in pstats.Stats(profile).stats.values()) / len(items)


def _take_turns(run, chunks: list, modes: tuple, switch) -> dict:
    """{mode: median CPU seconds per item}: the chunks take turns between `modes`, each run
    after `switch(mode)` (one warm node measured both ways)."""
    spent: dict = {mode: [] for mode in modes}
    for i, chunk in enumerate(chunks):
        mode = modes[i % len(modes)]
        switch(mode)
        spent[mode].append(_cpu_per_op(run, chunk))
    return {mode: statistics.median(values) for mode, values in spent.items()}


def _before_after(kinds: dict, per: int, modes: tuple, switch, profile: bool = False) -> dict:
    """{kind: {mode: (median CPU seconds per item, Python calls per item or None)}}: each kind's
    items in chunks of `per`, the first a warm-up, the rest taking turns between `modes`
    (`switch(mode)` before each); with `profile`, the last two chunks count Python calls, one
    each way. What exists so far (imports, genesis) is frozen out of the collector's full
    collections first, since one (~0.1 s) landing in a chunk would decide its median: the
    caller calls gc.unfreeze() after."""
    gc.collect()
    gc.freeze()
    results = {}
    for kind, (items, run) in kinds.items():
        chunks = [items[i:i + per] for i in range(0, len(items), per)]
        run(chunks[0])  # warm-up
        medians = _take_turns(run, chunks[1:-2] if profile else chunks[1:], modes, switch)
        calls = dict.fromkeys(modes)
        if profile:
            for mode, chunk in zip(modes, chunks[-2:]):
                switch(mode)
                calls[mode] = _calls_per_op(run, chunk)
        results[kind] = {mode: (medians[mode], calls[mode]) for mode in modes}
    return results


def _three_kinds(node, count: int) -> dict:
    """{kind: (items, run)} for `count` automined ETH transfers, OpenZeppelin ERC-20 transfers
    (a token deployed here) and eth_calls of its balanceOf at latest."""
    token = _deploy_token(node)
    transfer = selector("transfer(address,uint256)") + encode(["address", "uint256"], [SINK, 1])
    call = {"to": bytes.fromhex(token[2:]),
            "data": selector("balanceOf(address)") + encode(["address"], [ADDR0])}
    return {"ETH transfer": (_signed(1, count, SINK), lambda raws: _send_all(node, raws)),
            "ERC-20 transfer": (_signed(1 + count, count, token, transfer, gas=200_000),
                                lambda raws: _send_all(node, raws)),
            "eth_call balanceOf": ([None] * count, lambda items: [node.call(call) for _ in items])}


def test_tx_speedups_before_after(benchmark):
    """Round 3 (tx_speedups, evm_loop) off and on, alternating on one warm node: CPU per automined
    ETH transfer, ERC-20 transfer, and eth_call of balanceOf at latest; ratios printed."""
    per, rounds = 40, 8  # each way: small chunks, many turns (the shared machine's load drifts)
    count = per * (2 * rounds + 1)
    node = build_node(NodeConfig())
    kinds = _three_kinds(node, count)
    results = {}

    def measure():
        results.update(_before_after(kinds, per, (False, True), speedups.set_tx_speedups))

    try:
        benchmark.pedantic(measure, rounds=1, iterations=1)
    finally:
        gc.unfreeze()
        speedups.set_tx_speedups(True)
        node.close()
    print(f"\nround 3 (tx_speedups) off vs on, CPU ms per operation in-process "
          f"(load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
    for kind, by_mode in results.items():
        before, after = by_mode[False][0], by_mode[True][0]
        print(f"{kind:22s} {before * 1e3:7.3f} -> {after * 1e3:7.3f} ms  ({before / after:.2f}x)")
        benchmark.extra_info[kind] = {"before_ms": before * 1e3, "after_ms": after * 1e3}


PHASES = [  # (owner path, attribute, label): nested phases are shown indented
    ("imochain.chain.node.Node", "send_raw_transaction", "eth_sendRawTransaction (whole)"),
    ("imochain.chain.node", "decode_raw", "  decode"),
    ("imochain.chain.node", "check_signed", "  signature (sender recovery)"),
    ("imochain.chain.node", "check_for_pool", "  pool admission checks"),
    ("imochain.chain.node.Node", "_mine_one", "  mine the block"),
    ("imochain.chain.node", "build_block", "    build (execute + roots)"),
    ("eth.vm.forks.frontier.state.FrontierState", "apply_transaction", "      execute the transaction"),
    ("eth.vm.state.BaseState", "persist", "      state root + persist"),
    ("eth.vm.base.VM", "set_block_transactions_and_withdrawals", "      tx + receipt tries"),
    ("imochain.chain.storage.ChainStorage", "append_block", "    store the block"),
    ("imochain.chain.node.Node", "get_receipt", "eth_getTransactionReceipt"),
]


def _resolve(path: str):
    import importlib
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(path)


def _phase_times(node, raws: list[bytes]) -> tuple[dict, float]:
    spent = collections.Counter()
    saved = []

    def timed(fn, label):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - t
        return run

    for path, name, label in PHASES:
        owner = _resolve(path)
        saved.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, timed(getattr(owner, name), label))
    try:
        per_tx = _send_and_wait(node, raws)
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)
    return {label: spent[label] / len(raws) for _, _, label in PHASES}, per_tx


def _stock_then_fast(benchmark, measure):
    """`measure(node, raws)` on one warm node: a round with every speed-up uninstalled, then one
    with them (the benchmark's timed round)."""
    node = build_node(NodeConfig())
    raws = _signed(0, 3 * PER_ROUND, SINK)
    _send_and_wait(node, raws[:PER_ROUND])
    try:
        speedups.uninstall()
        stock = measure(node, raws[PER_ROUND:2 * PER_ROUND])
    finally:
        speedups.install()
    fast = benchmark.pedantic(measure, args=(node, raws[2 * PER_ROUND:]), rounds=1, iterations=1)
    node.close()
    return stock, fast


def test_where_a_transfer_goes(benchmark):
    """ms per automined transfer by phase, stock py-evm beside the speed-ups (same node)."""
    (stock, stock_tx), (fast, fast_tx) = _stock_then_fast(benchmark, _phase_times)
    print(f"\nwhere an automined ETH transfer's time goes, ms (load {os.getloadavg()[0]:.1f}):")
    print(f"{'phase':40s} {'stock':>8s} {'speed-ups':>10s}")
    for _, _, label in PHASES:
        print(f"{label:40s} {stock[label] * 1e3:8.3f} {fast[label] * 1e3:10.3f}")
    print(f"{'total per transaction':40s} {stock_tx * 1e3:8.3f} {fast_tx * 1e3:10.3f}")
    benchmark.extra_info.update(stock_ms=stock_tx * 1e3, fast_ms=fast_tx * 1e3)


PROFILED = [  # (label, file suffix(es), function name(s)): cumulative share of one automined transfer
    ("build the block", "chain/executor.py", "build_block"),
    ("  execute the transaction", "frontier/state.py", "apply_transaction"),
    ("  state root + persist", "eth/vm/state.py", "persist"),
    ("  create the header", "osaka/headers.py", "create_header_from_parent"),
    ("  tx + receipt tries", "eth/vm/base.py", "set_block_transactions_and_withdrawals"),
    ("  build a state (VM, AccountDB)", "eth/vm/base.py", "build_state"),
    ("store the block (py-evm chaindb + index)", "chain/storage.py", "append_block"),
    ("sender recovery", "eth/_utils/transactions.py", "extract_transaction_sender"),
    ("pool admission checks", "chain/validate.py", "check_for_pool"),
    ("receipt lookup", "chain/node.py", "get_receipt"),
    ("account reads (AccountDB._get_account)", ("eth/db/account.py", "chain/evm_speedups.py"), "_get_account"),
    ("trie writes (HexaryTrie.set)", ("trie/hexary.py", "chain/trie_values.py"), "set"),
    ("trie reads (HexaryTrie.get)", ("trie/hexary.py", "chain/trie_values.py"), "get"),
    ("Serializable construction", ("rlp/sedes/serializable.py", "chain/rlp_speedups.py"), ("__init__", "fast_init")),
    ("RLP decoding (rlp.decode)", "rlp/codec.py", "decode"),
]


def _profile(node, raws) -> tuple[dict, float, float]:
    import cProfile
    import pstats
    profile = cProfile.Profile()
    t0 = time.perf_counter()
    profile.enable()
    for raw in raws:
        node.get_receipt(node.send_raw_transaction(raw))
    profile.disable()
    total = time.perf_counter() - t0
    stats = pstats.Stats(profile).stats
    calls = sum(v[1] for v in stats.values())
    shares = {}
    for label, path, name in PROFILED:
        names = (name,) if isinstance(name, str) else name
        hits = [v[3] for (file, _, func), v in stats.items() if func in names and file.endswith(path)]
        shares[label] = max(hits, default=0.0) / total
    return shares, total / len(raws) * 1e3, calls / len(raws)


def test_profile_top_items(benchmark):
    """cProfile of automined transfers: each item's share of the time, stock and with the speed-ups."""
    (stock, stock_ms, stock_calls), (fast, fast_ms, fast_calls) = _stock_then_fast(benchmark, _profile)
    print(f"\ncProfile of an automined ETH transfer (load {os.getloadavg()[0]:.1f}): share of its time")
    print(f"{'item':44s} {'stock':>7s} {'speed-ups':>10s}")
    for label, _, _ in PROFILED:
        print(f"{label:44s} {stock[label] * 100:6.1f}% {fast[label] * 100:9.1f}%")
    print(f"{'ms per transaction under the profiler':44s} {stock_ms:7.2f} {fast_ms:10.2f}")
    print(f"{'Python function calls per transaction':44s} {stock_calls:7.0f} {fast_calls:10.0f}")


def test_evm_loop_ops_before_after(benchmark):
    """Round 5 (evm_loop's inline arithmetic, comparisons, shifts, environment pushes, CALLDATALOAD,
    MLOAD/MSTORE) off and on, alternating on one warm node: CPU and Python calls per ETH and
    ERC-20 transfer and per eth_call of balanceOf. "Off" leaves round 3's inline opcodes (PUSH, DUP,
    SWAP, POP, JUMPDEST, JUMP, JUMPI)."""
    from imochain.chain import evm_loop
    added = {fn: step for fn, step in evm_loop._INLINE.items() if step[0] > evm_loop.JUMPI}

    def set_round5(on: bool) -> None:
        for fn, step in added.items():
            if on:
                evm_loop._INLINE[fn] = step
            else:
                evm_loop._INLINE.pop(fn, None)
        evm_loop._tables.clear()

    _switched_off_and_on(benchmark, set_round5, "round 5 (evm_loop's inline ops)")


def _switched_off_and_on(benchmark, switch, title: str) -> dict:
    """`switch(False)`/`switch(True)` taking turns on one warm node (ETH transfers, which run no
    code, are the control): prints and records CPU and Python calls per operation both ways."""
    per, rounds = 40, 6
    count = per * (2 * rounds + 3)  # a warm-up chunk, the turns, then one profiled chunk each way
    node = build_node(NodeConfig())
    kinds = _three_kinds(node, count)
    results = {}

    def measure():
        results.update(_before_after(kinds, per, (False, True), switch, profile=True))

    try:
        benchmark.pedantic(measure, rounds=1, iterations=1)
    finally:
        gc.unfreeze()
        switch(True)
        node.close()
    print(f"\n{title} off vs on, in-process (load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
    for kind, by_mode in results.items():
        (before, calls_before), (after, calls_after) = by_mode[False], by_mode[True]
        print(f"{kind:22s} CPU {before * 1e3:7.3f} -> {after * 1e3:7.3f} ms ({before / after:.2f}x); "
              f"Python calls {calls_before:.0f} -> {calls_after:.0f}")
        benchmark.extra_info[kind] = {"before_ms": before * 1e3, "after_ms": after * 1e3,
                                      "calls_before": calls_before, "calls_after": calls_after}
    return results


def test_trie_batch_before_after(benchmark):
    """Round 6 (trie_batch: each trie's sets of a block in one pass) off and on, alternating on one
    warm node: CPU of `AccountDB.persist` (the state root and its writes) and of the whole
    operation per automined ETH and ERC-20 transfer, and Python calls inside persist."""
    from eth.db.account import AccountDB
    from imochain.chain import trie_batch
    stock = {"_apply_account_diff_without_proof": trie_batch._stock_apply_account_diff,
             "make_storage_root": trie_batch._stock_make_storage_root}

    def set_batched(on: bool) -> None:
        for owner, name, patched in trie_batch.patches():
            setattr(owner, name, patched if on else stock[name])

    per, rounds = 40, 6
    count = per * (2 * rounds + 3)  # a warm-up chunk, the turns, then one profiled chunk each way
    node = build_node(NodeConfig())
    kinds = _three_kinds(node, count)
    kinds.pop("eth_call balanceOf")  # a call writes no state
    inner = AccountDB.persist
    clock = {"mode": None, "spent": 0.0, "profile": None}
    persist_cpu: dict = {}

    def timed_persist(self):
        profile, t0 = clock["profile"], time.process_time()
        if profile:
            profile.enable()
        try:
            return inner(self)
        finally:
            if profile:
                profile.disable()
            clock["spent"] += time.process_time() - t0

    def switch(mode) -> None:  # closes the chunk before: its persist CPU goes to its mode
        if clock["mode"] is not None:
            persist_cpu.setdefault((clock["kind"], clock["mode"]), []).append(clock["spent"] / per)
        clock.update(mode=mode, spent=0.0)
        set_batched(bool(mode))

    results, calls = {}, {}

    def measure():
        for kind, (items, run) in kinds.items():
            clock.update(kind=kind, mode=None)
            results.update(_before_after({kind: (items[:-2 * per], run)}, per, (False, True), switch))
            switch(None)
            for mode, chunk in zip((False, True), (items[-2 * per:-per], items[-per:])):
                set_batched(mode)
                clock["profile"] = cProfile.Profile()
                run(chunk)
                calls[kind, mode] = sum(v[1] for v in pstats.Stats(clock["profile"]).stats.values()) / per
                clock["profile"] = None

    AccountDB.persist = timed_persist
    try:
        benchmark.pedantic(measure, rounds=1, iterations=1)
    finally:
        AccountDB.persist = inner
        gc.unfreeze()
        set_batched(True)
        node.close()
    print(f"\nround 6 (trie_batch) off vs on, CPU per automined transfer in-process "
          f"(load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
    for kind, by_mode in results.items():
        (before, _), (after, _) = by_mode[False], by_mode[True]
        p0, p1 = (statistics.median(persist_cpu[kind, mode]) for mode in (False, True))
        print(f"{kind:16s} AccountDB.persist {p0 * 1e3:6.3f} -> {p1 * 1e3:6.3f} ms ({(1 - p1 / p0) * 100:.0f} % less), "
              f"Python calls in it {calls[kind, False]:.0f} -> {calls[kind, True]:.0f}; "
              f"whole transfer {before * 1e3:6.3f} -> {after * 1e3:6.3f} ms ({before / after:.2f}x)")
        benchmark.extra_info[kind] = {"persist_before_ms": p0 * 1e3, "persist_after_ms": p1 * 1e3,
                                      "before_ms": before * 1e3, "after_ms": after * 1e3,
                                      "persist_calls_before": calls[kind, False],
                                      "persist_calls_after": calls[kind, True]}


def _round7_switch():
    """Round 7's switchable parts off and on: pyrlp's Serializable (de)serialisation by plans and
    copies without the constructor (rlp_plans), receipt blooms in one loop (bloom_speedups), the
    signing message read off the raw bytes and the sender kept without its property's checks
    (validate). Its direct record writes (persist_speedups, storage, assemble_block) stay on."""
    from eth.rlp.logs import Log
    from eth_bloom import BloomFilter
    from rlp.sedes.serializable import BaseSerializable

    from imochain.chain import bloom_speedups, rlp_plans, tx_speedups, validate
    speedups.install()  # as the node builder does: what the patches replaced is on record
    places = [(BaseSerializable, "serialize"), (BaseSerializable, "deserialize"), (BaseSerializable, "copy"),
              (BloomFilter, "extend"), (Log, "bloomables"), (validate, "_signing_message"), (validate, "_sender")]
    on = {place: place[0].__dict__[place[1]] for place in places}
    off = dict(zip(places, [
        classmethod(rlp_plans._stock_serialize), classmethod(rlp_plans._stock_deserialize),
        tx_speedups.make_fast_copy(tx_speedups._shareable),
        next(orig for owner, name, orig in speedups._originals if owner is BloomFilter and name == "extend"),
        bloom_speedups._stock_bloomables, lambda body: None, lambda tx: tx.sender]))

    def switch(enabled: bool) -> None:
        for (owner, name), value in (on if enabled else off).items():
            setattr(owner, name, value)
    return switch


def test_round7_before_after(benchmark):
    """Round 7 (the path from raw bytes to a stored block and its receipt, outside the EVM and the
    state root) off and on, alternating on one warm node: CPU and Python calls per operation."""
    _switched_off_and_on(benchmark, _round7_switch(), "round 7 (plans, copies, blooms, signing message)")
