"""Bit-exact integer (int8) mode of Llama-family text models: runtime, quantiser and model file.

    from imochain.models.text.int8 import Int8Llama
    m = Int8Llama.tiny(seed=0)                # random small model for tests
    x = m.embed(5)
    k = v = np.zeros((0, m.kv_dim), m.kv_dtype)
    x, k_new, v_new = m.layer(0, 0, x, k, v)  # one layer of one token
    m.generate([5, 6, 7], max_new=4)          # greedy, bit-identical on every device

Importing this package imports neither torch nor safetensors (first use does).
"""

from __future__ import annotations

from .model import Int8Llama

__all__ = ["Int8Llama", "load", "save"]


def load(path: str) -> Int8Llama:
    """Load and validate an int8 text model file."""
    from .file import load as _load

    return _load(path)


def save(model: Int8Llama, path: str) -> str:
    from .file import save as _save

    return _save(model, path)
