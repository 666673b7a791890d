"""Exceptions raised by the inference precompile.

Every failure the precompile can meet in call data or model files becomes one of these, with a
reason a person can read; the node turns them into an ordinary precompile failure.
"""


class PrecompileError(Exception):
    """A precompile call failed; ``reason`` says why in one human-readable line."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ModelError(PrecompileError):
    """A model file failed validation when it was added to the store."""
