"""`imochain bench`: the report's structure and agreement between regimes (no timing asserted).

One reduced run (few models, one repeat) feeds every test in the module; the pure-EVM checks
need node + npm solc and are skipped with the reason when the toolchain is missing.
"""

import json

import numpy as np
import pytest

from imochain.bench import evm, report as rep
from imochain.bench.runner import Settings, run
from imochain.cli import build_parser
from imochain.precompiles import InferencePrecompile
from imochain.models.tensor import encode_array, encode_call

MODELS = ("digits-classifier", "digits-generator", "mlp-784-32-10", "mlp-784-256-256-10-fp32", "cnn-28-residual")
NEEDS_SOLC = pytest.mark.skipif(evm.toolchain_missing() is not None,
                                reason=f"pure-EVM regime needs the npm solc: {evm.toolchain_missing()}")


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    s = Settings(quick=True, devices=("cpu",), repeats=1, batch_repeats=1, evm_inputs=1, node_tx=3,
                 node_calls=3, models=MODELS, oracle_batch_sizes=(1, 8),
                 threads=1, scalar_max_macs=5000)   # one torch thread: no pool contention on a busy CI box
    result = run(s, log=lambda m: None)
    out = tmp_path_factory.mktemp("bench-report")
    paths = rep.write(result, out)
    return result, out, paths


def test_json_has_every_section(bench):
    result, out, _ = bench
    data = json.loads((out / "report.json").read_text())
    for key in ("format", "environment", "settings", "models", "precompile", "batch", "oracle", "pure_evm", "zkml",
                "node", "agreement", "elapsed_s", "gas_cover"):
        assert key in data, key
    cover = data["gas_cover"]["rows"]
    assert sorted((r["model"], r["batch"]) for r in cover) == sorted((m, b) for m in MODELS for b in (1, 8, 64))
    for r in cover:
        assert r["us"] > 0 and r["gas"] > 0 and r["time_per_gas"] == pytest.approx(r["us"] * 100 / r["gas"])
    env = data["environment"]
    for key in ("python", "torch", "py-evm", "torch_threads", "devices", "cpu"):
        assert env[key], key
    assert {m["name"] for m in data["models"]} == set(MODELS)
    for m in data["models"]:
        assert m["macs"] > 0 and m["params"] > 0 and m["input_bytes"] > 0 and m["output_bytes"] > 0
    for p in data["precompile"]:
        for key in ("gas", "eth_call_us", "execute_us", "torch_us", "overhead_eth_call"):
            assert p[key] > 0, key
    for b in data["batch"]:
        assert set(b["per_request_us"]) == {"1", "8", "64"}
    node = data["node"]
    for key in ("http_transfers_per_s", "in_process_transfers_per_s", "transfer_ratio_http_vs_in_process",
                "http_eth_call_p50_us", "in_process_call_p50_us", "eth_call_ratio_http_vs_in_process"):
        assert node[key] > 0, key
    assert "skipped" in data["zkml"] or "verify_gas" in data["zkml"]
    gas = data["contract_gas"]
    for key in ("erc7641 transfer between holders", "oracle request (no callback)", "challenge (won, corrected)",
                "invokeCallback, later (opML game opened)", "erc7007 tokenURI (eth_estimateGas)"):
        assert gas[key] > 21_000, key
    if "erc20 transfer between holders" in gas:  # one checkpoint per account per snapshot, not per block
        assert gas["erc7641 transfer between holders"] < 2 * gas["erc20 transfer between holders"]


def test_markdown_has_a_main_table_row_per_model(bench):
    result, out, _ = bench
    md = (out / "report.md").read_text()
    main = md.split("## Main table", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in main.splitlines() if line.startswith("| ") and not line.startswith("| model")]
    assert sorted(r.split("|")[1].strip() for r in rows) == sorted(MODELS)
    assert "## Pure EVM" in md and "## Node throughput" in md and "## zkML" in md
    assert "| erc7641 transfer between holders |" in md.split("## IMO contracts: gas", 1)[1]


    assert "## Does gas cover the time?" in md and "time/gas" in rep.gas_cover_text(result)
    # the printed table has the same rows
    text = rep.main_table_text(result)
    for name in MODELS:
        assert any(line.startswith(name + " ") for line in text.splitlines()), name


def test_plots_are_png_files(bench):
    pytest.importorskip("matplotlib")
    _, out, paths = bench
    for p in paths["plots"]:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", p


@NEEDS_SOLC
def test_pure_evm_equals_precompile_equals_batch(bench):
    result, _, _ = bench
    pre = {r["model"]: r for r in result["precompile"]}
    bat = {r["model"]: r for r in result["batch"]}
    evm_models = result["pure_evm"]["models"]
    for name in ("digits-classifier", "digits-generator", "mlp-784-32-10"):
        e = evm_models[name]
        assert e["outputs_equal"] and e["scalar"].get("equal", True), name
        assert e["first_output_hex"] == pre[name]["output_hex"] == bat[name]["first_output_hex"], name
        assert e["gas"] > e["precompile_gas_in_evm"] > 0
        assert e["deploy_gas"] > 0 and e["fits_block"]
    assert evm_models["digits-classifier"]["scalar"]["equal"]          # the one-MAC loop too
    oracle = result["oracle"]["models"]["digits-classifier"]         # the node's worker, real blocks
    assert all(oracle["outputs_equal"].values())
    assert oracle["first_output_hex"] == pre["digits-classifier"]["output_hex"]
    assert "fp32" in evm_models["mlp-784-256-256-10-fp32"]["skipped"]
    assert "Conv2d" in evm_models["cnn-28-residual"]["skipped"]
    for name, checks in result["agreement"].items():
        assert checks and all(checks.values()), (name, checks)


@pytest.fixture(scope="module")
def evm_host():
    from imochain.builder import build_node
    from imochain.chain import NodeConfig
    node = build_node(NodeConfig(genesis_contracts=False, default_text_model=False, device="cpu"))
    return node, evm.EvmHost(node, evm.compile_contract())


@NEEDS_SOLC
@pytest.mark.parametrize("name", ["digits-classifier", "digits-generator"])
def test_pure_evm_matches_on_edge_inputs(evm_host, name):
    """Saturation and rounding paths: extreme, zero and random inputs give the precompile's bytes."""
    node, host = evm_host
    model = node.models.get(node.models.find(name))
    root, _, _ = host.deploy_model(evm.pack_model(model))
    pc = InferencePrecompile(node.models, "cpu")
    shape = model.graph.input_shape
    rng = np.random.default_rng(7)
    inputs = [np.full(shape, -128, np.int8), np.full(shape, 127, np.int8), np.zeros(shape, np.int8),
              rng.integers(-128, 128, shape, dtype=np.int8), rng.integers(-128, 128, shape, dtype=np.int8)]
    tensors = [encode_array(x) for x in inputs]
    batch = pc.execute_batch(model.hash, tensors)
    for t, b in zip(tensors, batch):
        assert host.infer(root, t) == pc.execute(encode_call(model.hash, t)) == b


def test_pack_linear_layout():
    """Byte p (from the least significant end) of word (block, k) is u[32*block + 8*(p%4) + p//4][k]."""
    w = np.arange(40 * 3, dtype=np.int64).reshape(40, 3) % 256 - 128
    packed = evm.pack_linear(w.astype(np.int8))
    assert len(packed) == 2 * 3 * 32                    # 2 blocks of 32 outputs, 3 inputs
    for block in range(2):
        for k in range(3):
            word = int.from_bytes(packed[(block * 3 + k) * 32:(block * 3 + k + 1) * 32], "big")
            for p in range(32):
                j = 32 * block + 8 * (p % 4) + p // 4
                want = int(w[j, k]) + 128 if j < 40 else 0
                assert (word >> (8 * p)) & 0xFF == want


def test_cli_registers_bench():
    args = build_parser().parse_args(["bench", "--quick", "--out", "x", "--device", "cpu", "--threads", "1"])
    assert args.command == "bench" and args.quick and args.out == "x" and args.device == "cpu"
    assert args.threads == 1 and callable(args.func)


def test_markdown_renders_zkml_and_cuda_rows(bench):
    """The zkML table and CUDA rows render (their data come from ezkl / a GPU, absent on CI)."""
    import copy
    result = copy.deepcopy(bench[0])
    result["zkml"] = {"python": "py", "srs": "local", "models": {
        "digits-classifier": {"logrows": 15, "srs_s": 1.0, "setup_s": 1.0, "prove_s": 2.0, "verify_s": 0.1,
                              "proof_bytes": 100, "verifier_code_bytes": 20000, "verifier_deploy_gas": 4_000_000,
                              "verify_gas": 500_000, "verified_on_chain": True, "tampered_rejected": True,
                              "agreement": {"samples": 16, "outputs_equal": 3, "argmax_equal": 15,
                                            "max_abs_diff": 1188}},
        "mlp-784-32-10": {"error": "exit 1: boom"}}}
    for key in ("precompile", "batch"):
        result[key] += [dict(r, device="cuda") for r in result[key]]
    result["environment"]["devices"] = ["cpu", "cuda"]
    md = rep.render_markdown(result)
    assert "| digits-classifier | 15 |" in md and "error: exit 1: boom" in md
    assert "| yes | yes | 3 of 16 | 15 of 16 | 1,188 |" in md
    assert sum(1 for line in md.splitlines() if line.startswith("| digits-classifier | int8 | cuda |")) == 1


def test_bisection_moves_and_final_step_fit_a_block(bench):
    result, out, _ = bench
    game = result["bisection_gas"]["game (tiny int8 Llama)"]
    assert game["winner"] == "ChallengerWon" and game["rounds"] <= (game["steps"] - 1).bit_length() + 1
    step = result["bisection_gas"]["final step, SmolLM2-135M layer shape"]
    # the worst case: the game's last position, its whole KV cache in calldata, EIP-7623's floor
    assert step["fits EIP-7825 cap"] and step["fits 30M block"] and step["fits 128 KiB calldata"], step
    assert "opML bisection over text answers" in (out / "report.md").read_text()
