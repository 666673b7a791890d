"""Models: the content-addressed store, model files, int8/fp32 runtimes, export tools, text/ (LLM).

Importing this package does not import torch; the first inference does.
"""

from .errors import ModelError, PrecompileError
from .modelfile import Model
from .store import ModelStore

__all__ = ["Model", "ModelError", "ModelStore", "PrecompileError"]
