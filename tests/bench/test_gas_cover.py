"""Gas vs measured time: the calibration fit, the report's flags, the CLI, and plot labels."""

import copy

import numpy as np
import pytest

from imochain.bench import calibrate
from imochain.bench import report as rep
from imochain.cli import main as cli_main
from imochain.models import ModelStore
from imochain.precompiles import InferencePrecompile


def _rows(call_us=40.0, ns_int8=0.4, ns_fp32=0.2, ns_byte=3.0):
    """Synthetic rows whose time follows known per-call, per-MAC and per-byte costs."""
    rows = []
    for name, mode, macs, nbytes in (("a", "int8", 25_000, 1_000), ("b", "int8", 270_000, 4_000),
                                     ("c", "int8", 740_000, 130_000), ("d", "fp32", 270_000, 7_000)):
        for batch in (1, 8, 64):
            us = call_us + (macs * (ns_int8 if mode == "int8" else ns_fp32) + nbytes * ns_byte) * batch / 1000
            rows.append({"model": name, "mode": mode, "batch": batch, "macs": macs * batch,
                         "bytes": nbytes * batch, "us": us, "gas": 1, "time_per_gas": us * 100})
    return rows


@pytest.mark.parametrize("margin", [1.0, 1.5, 3.0])
def test_fit_covers_every_row_with_the_margin(margin):
    rows = _rows()
    constants = calibrate.fit(rows, margin)
    for r in rows:
        assert calibrate.charge(constants, r) >= margin * r["us"] * 100 - 1e-6, r
    # the true costs are a feasible schedule: the fit charges single calls no more than that one
    # (up to rounding each constant up to a whole milli-gas)
    true = {"call": 40 * 100 * 1000 * margin, "mac_int8": 0.04 * 1000 * margin, "mac_fp32": 0.02 * 1000 * margin,
            "byte": 0.3 * 1000 * margin}
    single = [r for r in rows if r["batch"] == 1]
    assert sum(calibrate.charge(constants, r) / r["us"] for r in single) <= \
        1.03 * sum(calibrate.charge(true, r) / r["us"] for r in single)


def test_over_rows_are_flagged(tmp_path):
    rows = [dict(r, device="cpu") for r in _rows()]
    rows[0]["time_per_gas"], rows[1]["time_per_gas"] = 1.7, 0.4
    report = {"gas_cover": {"rows": rows}}
    md = "\n".join(rep.gas_cover_markdown(report))
    assert "Rows above 1.0 in this run: **" in md
    assert sum(1 for line in md.splitlines() if line.endswith("| **over** |")) == \
        sum(1 for r in rows if r["time_per_gas"] > 1.0)
    text = rep.gas_cover_text(report)
    assert text.splitlines()[0].startswith(f"gas vs median wall time of whole 0xA1 calls "
                                           f"({sum(1 for r in rows if r['time_per_gas'] > 1.0)} of {len(rows)}")
    assert any(line.rstrip().endswith("OVER") for line in text.splitlines())


def test_measure_times_whole_calls():
    store = ModelStore()
    store.load_shipped()
    models = [store.get(store.find(n)) for n in ("digits-classifier", "mlp-784-256-256-10-fp32")]
    rows = calibrate.measure(InferencePrecompile(store, "cpu"), models, repeats=1)
    assert [(r["model"], r["batch"]) for r in rows] == [(m.graph.name, b) for m in models for b in (1, 8, 64)]
    for r in rows:
        assert r["us"] > 0 and r["gas"] == calibrate.charge(calibrate.current_constants(), r)
        assert r["time_per_gas"] == pytest.approx(r["us"] * 100 / r["gas"])


@pytest.mark.parametrize("args,message", [(["bench", "--margin", "2"], "--margin needs --calibrate"),
                                          (["bench", "--calibrate", "--threads", "0"], "--threads must be")])
def test_bench_cli_bad_flags(capsys, args, message):
    assert cli_main(args) == 2
    assert message in capsys.readouterr().err


def test_bench_cli_margin_must_be_a_number(capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main(["bench", "--calibrate", "--margin", "lots"])
    assert exc.value.code == 2


def test_labels_never_overlap():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    ax.set(xscale="log", yscale="log", xlim=(1e3, 1e9), ylim=(1e3, 1e8))
    # twins at one point (int8 / fp32 of one shape) and a tight cluster, as in the real plots
    points = [(268_800, 19_609, "mlp-784-256-256-10 (int8)"), (268_800, 19_609, "mlp-784-256-256-10 (fp32)"),
              (4_736, 5_384, "digits-classifier (int8)"), (16_896, 6_330, "digits-generator (int8)"),
              (25_408, 6_576, "mlp-784-32-10 (int8)"), (741_664, 80_904, "cnn-28-residual (int8)")]
    labels = rep.place_labels(ax, points)
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in labels]
    assert len({t.get_text() for t in labels}) == len(points)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b)
    plt.close(fig)


def test_real_plots_label_each_model(tmp_path):
    pytest.importorskip("matplotlib")
    rows = [{"name": "m8", "mode": "int8", "macs": 1000}, {"name": "m8-fp32", "mode": "fp32", "macs": 1000}]
    pre = [{"model": r["name"], "device": "cpu", "gas": 5000 + i, "torch_us": 10.0, "execute_us": 20.0,
            "eth_call_us": 30.0 + i} for i, r in enumerate(rows)]
    report = {"models": rows, "precompile": pre, "batch": [dict(model=r["name"], device="cpu",
                                                                per_request_us={"64": 1.0}) for r in rows]}
    seen = []
    real = rep.place_labels
    rep.place_labels = lambda ax, points, **kw: seen.append([p[2] for p in points]) or real(ax, points, **kw)
    try:
        rep.plot(copy.deepcopy(report), tmp_path)
    finally:
        rep.place_labels = real
    assert seen[0] == ["m8 (int8)", "m8 (fp32)"]
    assert seen[1] == ["m8 (int8) [cpu]", "m8 (fp32) [cpu]"]
    assert np.all([(tmp_path / p).exists() for p in rep.PLOTS])
