"""The oracle before/after harness (imochain/bench/oracle_path.py): both paths answer every request
with the same outputs, the new one for a fraction of the gas; its report section replaces itself."""

from __future__ import annotations

import json

import pytest

from imochain.bench import oracle_path


def test_before_and_after_answer_alike_and_after_costs_far_less_gas():
    result = oracle_path.compare(n=4, rounds=1, log=lambda *_: None)
    assert result["before"]["all_answered"] and result["after"]["all_answered"]
    assert result["same_outputs"]
    # gas is deterministic (timings are only printed): the 784-byte inputs no longer go to storage
    # (4.1x), a request writes three slots and a result two, the game none (7.7x)
    assert result["ratio_gas_per_request"] > 7
    # the old worker sent one invokeCallback per result; the new one a single invokeCallbacks
    assert result["before"]["transactions"] == 8 and result["after"]["transactions"] == 5


def _result(ratio: float) -> dict:
    side = {"wall_ms_per_request": 10.0 * ratio, "cpu_ms_per_request": 5.0 * ratio, "gas_per_request": 1000,
            "blocks": 2, "transactions": 65, "all_answered": True}
    return {"requests": 64, "rounds": 3, "model": "mlp-784-32-10", "before": side,
            "after": {**side, "wall_ms_per_request": 10.0, "cpu_ms_per_request": 5.0},
            "same_outputs": True, "measured": "now", "machine": "test", "load": [[1, 1, 1], [1, 1, 1]],
            "ratio_wall_ms_per_request": ratio}


def test_report_section_replaces_the_previous_one(tmp_path):
    (tmp_path / "report.md").write_text("# Report\n\n## Earlier\n\nkept\n", encoding="utf-8")
    (tmp_path / "report.json").write_text(json.dumps({"other": 1}), encoding="utf-8")
    oracle_path.update_report(tmp_path, _result(3.0))
    oracle_path.update_report(tmp_path, _result(4.0))
    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert text.count(oracle_path.SECTION) == 1 and "## Earlier\n\nkept" in text
    assert "| 40.0 | 10.0 | 4.00× |" in text and "3.00×" not in text
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["other"] == 1 and report["oracle_before_after"]["ratio_wall_ms_per_request"] == 4.0


@pytest.mark.parametrize("argv", [["--rounds", "0"], ["--requests", "x"], ["--update", "/nonexistent"]])
def test_bad_flags_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        oracle_path.main(argv)
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err
