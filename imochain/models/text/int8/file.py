"""The int8 text model file: safetensors (int tensors by name) whose header metadata holds the
config and integer constants as JSON. Never pickle; loading checks every name, dtype, shape and
the value ranges the runtime's overflow bounds rely on. model hash = keccak256 of the bytes.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import asdict, fields

import numpy as np

from imochain import safejson

from ..errors import CORRUPT_FILE, NOT_FOUND, UNSUPPORTED_ARCHITECTURE, TextModelError
from ..gguf_file import MAX_PARAMS, LlamaConfig

FORMAT = "imochain-text-int8"
VERSION = "1"
MAX_HEADER_BYTES = 64 << 20  # the tokenizer's vocabulary and merges live in the header
# Limits the runtime's integer bounds are proven for (see model.py / fixed.py).
LIMITS = {"width": 1 << 14, "ffn": 1 << 16, "head_dim": 256, "layers": 512, "vocab": 1 << 20, "heads": 256}
MAX_POSITIONS = 1 << 16


def keccak(data: bytes) -> bytes:
    from Crypto.Hash import keccak as _k

    return _k.new(digest_bits=256, data=data).digest()


def to_bytes(cfg, tensors: dict, consts: dict) -> bytes:
    from safetensors.numpy import save

    meta = {"format": FORMAT, "version": VERSION, "kind": "text", "mode": "int8",
            "config": asdict(cfg), "consts": consts}
    # One metadata key: safetensors writes several in hash-map order, which changes the bytes.
    return save({k: np.ascontiguousarray(v) for k, v in tensors.items()},
                metadata={"imochain": json.dumps(meta, sort_keys=True)})


def build(cfg, tensors: dict, consts: dict):
    """An Int8Llama whose hash is that of the file these tensors would make."""
    data = to_bytes(cfg, tensors, consts)
    return from_bytes(data)


def save(model, path: str) -> str:
    """Write ``model``'s file to ``path`` atomically; return the path."""
    from ..gguf_file import _atomic_write

    _atomic_write(os.path.abspath(path), model_bytes(model))
    return path


def model_bytes(model) -> bytes:
    return to_bytes(model.cfg, model.tensors, model.consts)


def load(path: str):
    if not os.path.isfile(path):
        raise TextModelError(NOT_FOUND, f"model file not found: {path}")
    with open(path, "rb") as f:
        return from_bytes(f.read())


def is_int8_text(data_head: bytes) -> bool:
    """Cheap sniff: does a file starting with these bytes declare our format? (first 64 KiB suffice)"""
    return len(data_head) > 8 and FORMAT.encode() in data_head[8:1 << 16]


def sniff(path: str) -> bool:
    """Whether ``path`` is an int8 text model file (by its header; nothing is loaded)."""
    try:
        with open(path, "rb") as f:
            return is_int8_text(f.read(1 << 16))
    except OSError:
        return False


def peek_name(path: str) -> str:
    """A display name from the file's header: its model name + "-int8", else the file's stem."""
    with open(path, "rb") as f:
        head = f.read(8)
        n = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
        meta = _header(head + f.read(min(n, MAX_HEADER_BYTES)))
    name = meta.get("config", {}).get("general_name") if isinstance(meta.get("config"), dict) else None
    stem = os.path.basename(path).split(".")[0]
    return f"{name}-int8" if isinstance(name, str) and name else stem


def _header(data: bytes) -> dict:
    if len(data) < 8:
        raise TextModelError(CORRUPT_FILE, "int8 text model file is truncated (no header)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_BYTES or 8 + n > len(data):
        raise TextModelError(CORRUPT_FILE, "int8 text model header length is out of range")
    try:
        head = safejson.loads(data[8:8 + n])
    except ValueError as e:
        raise TextModelError(CORRUPT_FILE, f"int8 text model header is not JSON: {e}") from None
    raw = head.get("__metadata__") if isinstance(head, dict) else None
    try:
        meta = safejson.loads(raw["imochain"])
    except (KeyError, TypeError, ValueError):
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise TextModelError(CORRUPT_FILE, "not an imochain int8 text model (format marker missing)")
    if meta.get("version") != VERSION or meta.get("mode") != "int8" or meta.get("kind") != "text":
        raise TextModelError(CORRUPT_FILE, f"int8 text model version {meta.get('version')!r} is not {VERSION}")
    return meta


def _config(raw) -> LlamaConfig:
    names = {f.name for f in fields(LlamaConfig)}
    if not isinstance(raw, dict) or set(raw) != names:
        raise TextModelError(CORRUPT_FILE, "int8 text model config has missing or unknown fields")
    try:
        cfg = LlamaConfig(**raw)
    except TypeError as e:
        raise TextModelError(CORRUPT_FILE, f"int8 text model config is malformed: {e}") from None
    for key, hi in LIMITS.items():
        v = getattr(cfg, key)
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= hi:
            raise TextModelError(UNSUPPORTED_ARCHITECTURE, f"config {key}={v!r} is outside 1..{hi}")
    if not isinstance(cfg.kv_heads, int) or cfg.kv_heads < 1 or cfg.heads % cfg.kv_heads:
        raise TextModelError(CORRUPT_FILE, "config heads must be a multiple of kv_heads")
    if cfg.width != cfg.heads * cfg.head_dim or cfg.head_dim % 2:
        raise TextModelError(CORRUPT_FILE, "config width must be heads x an even head_dim")
    return cfg


def expected(cfg, consts: dict, tied: bool) -> dict:
    """name -> (dtype, shape, (lo, hi)) of every tensor a file for ``cfg`` holds."""
    W, F, V, kvd, D = cfg.width, cfg.ffn, cfg.vocab, cfg.kv_heads * cfg.head_dim, cfg.head_dim
    i8, i32 = np.int8, np.int32
    mant = (0, 1 << 15)
    shift = (-64, 128)
    pos = consts.get("positions")
    e = {
        "embed.q": (i8, (V, W), None), "embed.m": (i32, (V,), mant), "embed.s": (i32, (V,), shift),
        "head.m": (i32, (V,), mant), "head.s": (i32, (V,), shift), "norm": (i32, (W,), (-(1 << 16), 1 << 16)),
        "rope.cos": (i32, (pos, D // 2), (-(1 << 14), 1 << 14)), "rope.sin": (i32, (pos, D // 2), (-(1 << 14), 1 << 14)),
        "lut.exp2": (i32, (1024,), (0, 1 << 15)), "lut.sigmoid": (i32, (8192,), (0, 1 << 15)),
    }
    if not tied:
        e["head.q"] = (i8, (V, W), None)
    for i in range(cfg.layers):
        p = f"blk.{i}."
        for name, k, n in (("qkv", W, W + 2 * kvd), ("o", W, W), ("gu", W, 2 * F), ("down", F, W)):
            e[p + name + ".q"] = (i8, (k, n), None)
            e[p + name + ".m"] = (i32, (n,), mant)
            e[p + name + ".s"] = (i32, (n,), shift)
        for name in ("attn_norm", "ffn_norm"):
            e[p + name] = (i32, (W,), (-(1 << 16), 1 << 16))
        for name in ("k.m", "v.m", "qk.m", "vo.m"):
            e[p + name] = (i32, (kvd,), mant)
        for name in ("k.s", "v.s"):
            e[p + name] = (i32, (kvd,), shift)
    return e


def _consts(raw, layers: int) -> dict:
    def small(v, lo=-256, hi=1 << 20):
        return not isinstance(v, bool) and isinstance(v, int) and lo <= v <= hi

    ok = isinstance(raw, dict) and all(small(raw.get(k)) for k in ("fx", "lf", "eps_m", "eps_e"))
    ok = ok and small(raw.get("positions"), 1, MAX_POSITIONS) and 0 <= raw["fx"] <= 24 and 0 <= raw["lf"] <= 24
    ok = ok and 0 < raw["eps_m"] < 1 << 15 and isinstance(raw.get("layers"), list) and len(raw["layers"]) == layers
    ok = ok and all(
        isinstance(L, dict) and set(L) == {"score_m", "score_s", "v_shift"} and 0 < L["score_m"] < 1 << 15
        and small(L["score_s"], -16, 96) and small(L["v_shift"], -32, 96) for L in raw["layers"]
    )
    if not ok:
        raise TextModelError(CORRUPT_FILE, "int8 text model constants are missing or out of range")
    return raw


def from_bytes(data: bytes):
    """Parse and validate a model file's bytes into an Int8Llama (clear errors, never a crash)."""
    from safetensors.numpy import load as st_load

    from .model import Int8Llama

    data = bytes(data)
    meta = _header(data)
    if not isinstance(meta, dict):
        raise TextModelError(CORRUPT_FILE, "int8 text model metadata must be an object")
    cfg = _config(meta.get("config"))
    consts = _consts(meta.get("consts"), cfg.layers)
    try:
        tensors = st_load(data)
    except Exception as e:  # safetensors raises its own error types for damaged files
        raise TextModelError(CORRUPT_FILE, f"int8 text model tensors are unreadable: {e}") from None
    want = expected(cfg, consts, tied="head.q" not in tensors)
    n_params = sum(int(np.prod(s)) for n, (_, s, _) in want.items() if n.endswith(".q"))
    if n_params > MAX_PARAMS:
        raise TextModelError(UNSUPPORTED_ARCHITECTURE, f"{n_params} parameters exceed {MAX_PARAMS}")
    extra = set(tensors) - set(want)
    if extra:
        raise TextModelError(CORRUPT_FILE, f"unexpected tensor {sorted(extra)[0]}")
    for name, (dtype, shape, rng) in want.items():
        t = tensors.get(name)
        if t is None:
            raise TextModelError(CORRUPT_FILE, f"int8 text model lacks tensor {name}")
        if t.dtype != dtype or t.shape != shape:
            raise TextModelError(
                CORRUPT_FILE, f"tensor {name} is {t.dtype}{list(t.shape)}, expected {np.dtype(dtype)}{list(shape)}"
            )
        if rng is not None and t.size and (int(t.min()) < rng[0] or int(t.max()) > rng[1]):
            raise TextModelError(CORRUPT_FILE, f"tensor {name} has values outside {rng[0]}..{rng[1]}")
    return Int8Llama(cfg, tensors, consts, keccak(data))
