"""Shipped models rebuild byte for byte; the export path and the model CLI work."""

import numpy as np
import pytest
from eth_utils import keccak

from imochain.models import build_models, modelcli
from imochain.models.export import export_sequential, multiplier_shift, run_model_file
from imochain.models.modelfile import parse_model
from imochain.models.store import SHIPPED_DIR


def test_rebuild_matches_committed_files():
    built = build_models.build_all(verbose=False)
    committed = {p.stem: p.read_bytes() for p in SHIPPED_DIR.glob("*.imo")}
    assert set(built) == set(committed)
    for name, data in built.items():
        assert keccak(data) == keccak(committed[name]), f"{name} is not reproducible"


def test_multiplier_shift():
    for scale in [1e-9, 0.000123, 0.5, 0.7071, 1.0, 3.3]:
        m, s = multiplier_shift(scale)
        assert 2 ** 21 <= m < 2 ** 22 and 0 <= s <= 62
        assert abs(m / 2 ** s - scale) <= scale * 2 ** -21


def tiny_job():
    """A builder for `imochain model export` (also used by the CLI test)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.AvgPool2d(2),
                           nn.Flatten(), nn.Linear(16, 3))
    x = np.random.default_rng(0).random((32, 1, 8, 8))
    labels = module.double()(torch.as_tensor(x)).argmax(1).detach().numpy()
    return {"module": module.float(), "name": "tiny-cnn", "input_shape": [1, 8, 8], "input_scale": 1 / 127,
            "calibration": x, "eval_inputs": x, "eval_labels": labels}


@pytest.mark.parametrize("mode", ["int8", "fp32"])
def test_export_sequential_conv(mode):
    job = tiny_job()
    job.pop("eval_inputs"), job.pop("eval_labels")
    result = export_sequential(**job, mode=mode)
    model = parse_model(result.file_bytes)
    assert model.mode == mode and [n.op for n in model.graph.nodes][0] == "Conv2d"
    x = job["calibration"]
    x = (np.clip(np.rint(x * 127), -128, 127).astype(np.int8) if mode == "int8" else x.astype(np.float32))
    assert run_model_file(result.file_bytes, x).shape == (32, 3)


def test_cli_add_list_export(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parent))
    out = tmp_path / "tiny.imo"
    assert modelcli.main(["model", "export", "test_precompile_build:tiny_job", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "accuracy: float" in text and "int8" in text
    store = tmp_path / "store"
    assert modelcli.main(["model", "add", str(out), "--store", str(store)]) == 0
    model_hash = keccak(out.read_bytes()).hex()
    assert model_hash in capsys.readouterr().out
    assert modelcli.main(["model", "list", "--store", str(store)]) == 0
    listing = capsys.readouterr().out
    assert "tiny-cnn" in listing and "mlp-784-32-10" in listing and model_hash in listing


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.imo"
    bad.write_bytes(b"\x80\x04garbage pickle")
    assert modelcli.main(["model", "add", str(bad), "--store", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: not a model file") and "Traceback" not in err
    assert modelcli.main(["model", "add", str(tmp_path / "missing.imo"), "--store", str(tmp_path / "s")]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert modelcli.main(["model", "export", "no_such_module:f", "--out", str(tmp_path / "x")]) == 1
    assert "cannot load builder" in capsys.readouterr().err
