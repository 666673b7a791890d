"""The int8 text model file: content address, save -> load round trip, and clear errors for
damaged or foreign files."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from imochain.models.text.errors import TextModelError
from imochain.models.text.int8 import Int8Llama, load, save
from imochain.models.text.int8 import file as int8_file


@pytest.fixture(scope="module")
def tiny():
    return Int8Llama.tiny(seed=5)


def test_round_trip_keeps_hash_and_outputs(tiny, tmp_path):
    from Crypto.Hash import keccak

    path = save(tiny, str(tmp_path / "m.safetensors"))
    raw = open(path, "rb").read()
    assert keccak.new(digest_bits=256, data=raw).digest() == tiny.model_hash
    back = load(path)
    assert back.model_hash == tiny.model_hash
    assert back.generate([3, 4, 5], 5) == tiny.generate([3, 4, 5], 5)
    assert int8_file.model_bytes(back) == raw  # re-serialising is byte-stable
    assert b"pickle" not in raw[:8] and int8_file.is_int8_text(raw[:1 << 16])


def _rewrite(tiny, edit) -> bytes:
    tensors = dict(tiny.tensors)
    consts = json.loads(json.dumps(tiny.consts))
    cfg = tiny.cfg
    edit(tensors, consts)
    return int8_file.to_bytes(cfg, tensors, consts)


@pytest.mark.parametrize("edit, match", [
    (lambda t, c: t.pop("blk.1.o.q"), "lacks tensor blk.1.o.q"),
    (lambda t, c: t.__setitem__("blk.0.qkv.q", t["blk.0.qkv.q"][:, :-1]), "blk.0.qkv.q is int8"),
    (lambda t, c: t.__setitem__("blk.0.gu.m", t["blk.0.gu.m"].astype(np.int64)), "blk.0.gu.m is int64"),
    (lambda t, c: t.__setitem__("lut.exp2", t["lut.exp2"] * 4), "values outside"),
    (lambda t, c: t.__setitem__("extra", np.zeros(3, np.int8)), "unexpected tensor extra"),
    (lambda t, c: c.__setitem__("fx", 99), "constants"),
    (lambda t, c: c["layers"].pop(), "constants"),
    (lambda t, c: c.__setitem__("positions", 10**9), "constants"),
])
def test_damaged_tensors_or_constants_are_refused(tiny, edit, match):
    with pytest.raises(TextModelError, match=match):
        int8_file.from_bytes(_rewrite(tiny, edit))


def test_damaged_bytes_are_refused(tiny, tmp_path):
    good = int8_file.model_bytes(tiny)
    n = struct.unpack("<Q", good[:8])[0]
    cases = {
        "empty": b"",
        "truncated header": good[:8 + n // 2],
        "truncated tensors": good[: len(good) - 100],
        "huge header length": struct.pack("<Q", 1 << 40) + good[8:],
        "not json": good[:8] + b"\xff" * n + good[8 + n:],
        "foreign safetensors": _foreign(),
    }
    for what, data in cases.items():
        with pytest.raises(TextModelError) as e:
            int8_file.from_bytes(data)
        assert e.value.code in ("corrupt_file",), what
    with pytest.raises(TextModelError, match="not found"):
        load(str(tmp_path / "missing"))


def _foreign() -> bytes:
    from safetensors.numpy import save as st_save

    return st_save({"w": np.zeros(4, np.float32)}, metadata={"format": "pt"})


def test_config_outside_proven_limits_is_refused(tiny):
    import dataclasses

    big = dataclasses.replace(tiny.cfg, width=1 << 15)
    with pytest.raises(TextModelError, match="width"):
        int8_file.from_bytes(int8_file.to_bytes(big, tiny.tensors, tiny.consts))
