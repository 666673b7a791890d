"""The content-addressed model store: modelHash = keccak256(file bytes).

In memory by default; given a folder, every added model is also written there as
``<64 hex digits of the hash>.imo`` (atomically: temp file + rename) and the folder's models
are loaded, re-validated, when the store opens. Shipped models (``load_shipped``) are kept in
memory only. A model that fails validation never enters the store.

Hashes are a model's identity; names are labels that anyone may repeat. When models share a
name, the name goes to a shipped model if one has it, else to the lowest hash, whatever order
they arrived in; each other one is labelled ``name@<first 8 hex digits of its hash>`` (in
``list`` and ``find``) and noted in ``name_clashes``. Uploads are bounded by a quota
(MAX_STORED_MODELS models, MAX_STORED_BYTES bytes of files beside the shipped ones).
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
MAX_STORED_MODELS = 256
MAX_STORED_BYTES = 2 * 1024 * 1024 * 1024


class ModelStore:
    def __init__(self, path: str | None = None, max_models: int = MAX_STORED_MODELS,
                 max_bytes: int = MAX_STORED_BYTES):
        self.path = Path(path) if path is not None else None
        self.max_models, self.max_bytes = max_models, max_bytes
        self._models: dict[bytes, Model] = {}
        self._shipped: set[bytes] = set()
        self._labels: dict[bytes, str] = {}    # hash -> unique label (see the module docstring)
        self._by_label: dict[str, bytes] = {}
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

    def _insert(self, model: Model, shipped: bool = False) -> None:
        with self._lock:
            self._models.setdefault(model.hash, model)
            if shipped:
                self._shipped.add(model.hash)
            self._relabel()

    def _relabel(self) -> None:
        holders: dict[str, list[bytes]] = {}
        for h, m in self._models.items():
            holders.setdefault(m.name, []).append(h)
        labels = {}
        for name, hashes in holders.items():
            owner = min(hashes, key=lambda h: (h not in self._shipped, h))
            for h in hashes:
                labels[h] = name if h == owner else f"{name}@{h.hex()[:8]}"
        self._labels = labels
        self._by_label = {label: h for h, label in labels.items()}

    @property
    def name_clashes(self) -> list[str]:
        """One line per model that lost its name to another (what `list` and `find` call it)."""
        return [f"model 0x{h.hex()} is named {self._models[h].name!r} like another; it is listed as {label!r}"
                for h, label in sorted(self._labels.items(), key=lambda kv: kv[1])
                if label != self._models[h].name]

    def load_shipped(self) -> None:
        """Add the models that ship inside the package (digits models and the benchmark zoo)."""
        for file in sorted(SHIPPED_DIR.glob("*" + MODEL_SUFFIX)):
            self._insert(parse_model(file.read_bytes()), shipped=True)

    def _check_quota(self, size: int) -> None:
        stored = [m for h, m in self._models.items() if h not in self._shipped]
        if len(stored) + 1 > self.max_models:
            raise ModelError(f"model store quota reached: {len(stored)} models, limit {self.max_models}")
        used = sum(m.size for m in stored)
        if used + size > self.max_bytes:
            raise ModelError(f"model store quota reached: {used} + {size} bytes exceeds {self.max_bytes}")

    def add(self, file_bytes: bytes) -> bytes:
        """Validate a model file fully (nothing in it is executed) and return its 32-byte hash."""
        if not isinstance(file_bytes, (bytes, bytearray, memoryview)):
            raise ModelError("model file must be bytes")
        model = parse_model(bytes(file_bytes))
        if model.hash in self._models:
            return model.hash
        self._check_quota(model.size)
        if self.path is not None:
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
        """Hash of the model with this label: a name, or ``name@hash8`` for one that lost it."""
        return self._by_label.get(name)

    def list(self) -> list[dict]:
        # the price at 0xA1 for one sample: the gas schedule belongs to the precompile
        from imochain.precompiles.gas import batch1_gas
        rows = []
        labels = self._labels
        for model in list(self._models.values()):
            g = model.graph
            rows.append({
                "hash": "0x" + model.hash.hex(),
                "name": labels.get(model.hash, g.name),
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
