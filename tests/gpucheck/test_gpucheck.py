"""`python -m imochain.gpucheck`: CPU-only behaviour, the int8 mismatch exit status, flag errors,
and one failing part not hiding the others (the CUDA figures themselves need a GPU)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from imochain import gpucheck
from imochain.gpucheck import checks

GOLDEN = Path(__file__).parents[1] / "precompiles" / "golden_outputs.json"
ONE_MODEL = "mlp-784-32-10"


def _cuda_available() -> bool:
    from imochain.models import runtime
    return runtime.cuda_available()


def test_without_cuda_says_so_skips_everything_and_exits_0(tmp_path):
    if _cuda_available():
        pytest.skip("a CUDA device is present: the no-CUDA path is not reachable here")
    proc = subprocess.run([sys.executable, "-m", "imochain.gpucheck", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "no CUDA device" in proc.stdout
    report = json.loads((tmp_path / "out" / "gpucheck.json").read_text())
    assert set(report["parts"]) == set(gpucheck.PARTS)
    assert all(p["status"] == "skipped" for p in report["parts"].values())
    assert "no CUDA device" in (tmp_path / "out" / "gpucheck.md").read_text()


def test_dry_run_golden_passes_and_a_changed_hash_exits_1(tmp_path, capsys):
    args = ["--dry-run", "--parts", "golden", "--models", ONE_MODEL]
    assert gpucheck.main([str(tmp_path / "good"), *args]) == gpucheck.EXIT_OK
    good = json.loads((tmp_path / "good" / "gpucheck.json").read_text())["parts"]["golden"]
    assert good["status"] == "ok"
    assert {(r["device"], r["batch"]) for r in good["rows"]} == {("cpu", b) for b in checks.GOLDEN_BATCHES}
    assert all(r["equal"] for r in good["rows"])

    tampered = json.loads(GOLDEN.read_text())
    h = tampered[ONE_MODEL]["outputs_keccak"]
    tampered[ONE_MODEL]["outputs_keccak"] = h[:-1] + ("0" if h[-1] != "0" else "1")
    path = tmp_path / "golden.json"
    path.write_text(json.dumps(tampered))
    assert gpucheck.main([str(tmp_path / "bad"), *args, "--golden", str(path)]) == gpucheck.EXIT_INT8_DIFFERS
    bad = json.loads((tmp_path / "bad" / "gpucheck.json").read_text())["parts"]["golden"]
    assert bad["status"] == "int8 differs"
    assert {r["batch"] for r in bad["rows"] if not r["equal"]} == {64, 256}   # the full-input hashes
    assert "[golden] int8 differs" in capsys.readouterr().out


def test_a_failing_part_is_reported_and_the_others_still_run(tmp_path, monkeypatch):
    def broken(ctx):
        raise RuntimeError("boom")

    monkeypatch.setattr(checks, "golden", broken)
    monkeypatch.setattr(checks, "bench", lambda ctx: gpucheck.PartResult("ok", "fine", {"x": 1}))
    ctx = gpucheck.Context(out_dir=tmp_path, target="cpu", dry_run=True, log=lambda m: None)
    assert gpucheck.run(ctx, ("golden", "bench")) == gpucheck.EXIT_PART_FAILED
    parts = json.loads((tmp_path / "gpucheck.json").read_text())["parts"]
    assert parts["golden"]["status"] == "error" and "boom" in parts["golden"]["summary"]
    assert parts["bench"]["status"] == "ok"
    assert "RuntimeError: boom" in (tmp_path / "gpucheck.md").read_text()


@pytest.mark.parametrize("argv, message", [
    (["--parts", "golden,nope"], "unknown part"),
    (["--golden", "/nonexistent/golden.json"], "no such file"),
    (["--budget-s", "0"], "must be positive"),
    (["--threads", "0"], "--threads must be"),
    (["--text-layers", "31"], "--text-layers must be"),
])
def test_bad_flags_give_one_line_and_exit_2(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        gpucheck.main([str(tmp_path), *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_dry_run_of_bench_oracle_and_text_parts(tmp_path):
    """The CPU standing in for CUDA: every part's glue to the bench, the node's oracle worker and
    the text model runs and renders (one small model, the text model cut to 1 of 30 layers)."""
    out = tmp_path / "dry"
    status = gpucheck.main([str(out), "--dry-run", "--parts", "bench,oracle,text", "--models", "digits-classifier",
                            "--threads", "1", "--text-layers", "1", "--text-gguf", "none"])
    assert status == gpucheck.EXIT_OK
    report = json.loads((out / "gpucheck.json").read_text())
    assert report["dry_run"] and report["environment"]["torch_threads"] == 1
    parts = report["parts"]
    assert {k: p["status"] for k, p in parts.items()} == {"bench": "ok", "oracle": "ok", "text": "ok"}
    assert [p["model"] for p in parts["bench"]["precompile"]] == ["digits-classifier"] * 2
    assert all(parts["bench"]["compare"][0]["int8_checks"].values())
    assert parts["oracle"]["rows"][0]["outputs_equal_and_cpu=target"]
    text = parts["text"]["models"]
    assert len(text) == 1 and text[0]["layers"] == 1 and text[0]["greedy_equal"] == [True] * 3
    assert parts["text"]["int8"]["equal"] and len(parts["text"]["int8"]["cpu"]["tokens"]) == 8
    md = (out / "gpucheck.md").read_text()
    assert "Dry run" in md and "## d. text model" in md and "| digits-classifier | 64 |" in md
