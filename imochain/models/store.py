"""The content-addressed model store: modelHash = keccak256(file bytes).

In memory by default; given a folder, every added model is also written there as
``<64 hex digits of the hash>.imo`` (atomically: temp file + rename) and the folder's models
are loaded, re-validated, when the store opens. Shipped models (``load_shipped``) are kept in
memory only. A model that fails validation never enters the store.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from .errors import ModelError, PrecompileError
from .modelfile import Model, parse_model

SHIPPED_DIR = Path(__file__).parent / "shipped"
MODEL_SUFFIX = ".imo"


class ModelStore:
    def __init__(self, path: str | None = None):
        self.path = Path(path) if path is not None else None
        self._models: dict[bytes, Model] = {}
        self._by_name: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.load_errors: list[str] = []   # files in the folder that failed validation (skipped)
        if self.path is not None:
            if self.path.exists() and not self.path.is_dir():
                raise ModelError(f"model store {self.path} exists and is not a folder")
            self.path.mkdir(parents=True, exist_ok=True)
            for file in sorted(self.path.glob("*" + MODEL_SUFFIX)):
                try:
                    model = parse_model(file.read_bytes())
                except (ModelError, OSError) as exc:
                    self.load_errors.append(f"{file.name}: {getattr(exc, 'reason', exc)}")
                    continue
                self._insert(model)

    def _insert(self, model: Model) -> None:
        with self._lock:
            self._models.setdefault(model.hash, model)
            self._by_name[model.name] = model.hash

    def load_shipped(self) -> None:
        """Add the models that ship inside the package (digits models and the benchmark zoo)."""
        for file in sorted(SHIPPED_DIR.glob("*" + MODEL_SUFFIX)):
            self._insert(parse_model(file.read_bytes()))

    def add(self, file_bytes: bytes) -> bytes:
        """Validate a model file fully (nothing in it is executed) and return its 32-byte hash."""
        if not isinstance(file_bytes, (bytes, bytearray, memoryview)):
            raise ModelError("model file must be bytes")
        model = parse_model(bytes(file_bytes))
        if self.path is not None and model.hash not in self._models:
            target = self.path / (model.hash.hex() + MODEL_SUFFIX)
            fd, tmp = tempfile.mkstemp(dir=self.path, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(bytes(file_bytes))
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, target)
            except OSError as exc:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise ModelError(f"cannot write model to {target}: {exc}") from None
        self._insert(model)
        return model.hash

    def get(self, model_hash: bytes) -> Model:
        model = self._models.get(bytes(model_hash))
        if model is None:
            raise PrecompileError(f"unknown model 0x{bytes(model_hash).hex()}")
        return model

    def __contains__(self, model_hash: bytes) -> bool:
        return bytes(model_hash) in self._models

    def __len__(self) -> int:
        return len(self._models)

    def find(self, name: str) -> bytes | None:
        """Hash of the model with this name (the latest added when several share it)."""
        return self._by_name.get(name)

    def list(self) -> list[dict]:
        # the price at 0xA1 for one sample: the gas schedule belongs to the precompile
        from imochain.precompiles.gas import batch1_gas
        rows = []
        for model in list(self._models.values()):
            g = model.graph
            rows.append({
                "hash": "0x" + model.hash.hex(),
                "name": g.name,
                "kind": "tensor",
                "mode": g.mode,
                "macs": g.macs_per_sample,
                "params": g.params,
                "input_dtype": g.input_dtype,
                "input_shape": list(g.input_shape),
                "output_dtype": g.output_dtype,
                "output_shape": list(g.output_shape),
                "gas": batch1_gas(g),
                "size": model.size,
                "description": g.description,
            })
        return sorted(rows, key=lambda r: (r["name"], r["hash"]))
