"""InferencePrecompile: the behaviour of 0xA1 (inference) and 0xA2 (quote), as pure functions of
call data and the model store. Gas is computed from the graph before anything runs; torch is only
imported by the first inference.
"""

from __future__ import annotations

import time

import numpy as np

from imochain.models import runtime
from imochain.models.errors import PrecompileError
from .gas import batch1_gas, check_budget, inference_gas, quote_gas
from imochain.models.modelfile import Model
from imochain.models.store import ModelStore
from imochain.models.tensor import (DTYPE_CODES, DTYPE_NAMES, NUMPY_DTYPES, TensorView, _padded, decode_call, decode_tensor,
                     encode_tensor)

DEVICES = ("auto", "cpu", "cuda")
MODE_CODES = {"int8": 1, "fp32": 2}


def runtime_dtype(name: str):
    """numpy dtype of a graph dtype name ("int8", "int32", "float32")."""
    return NUMPY_DTYPES[DTYPE_CODES[name]]


def _fmt(shape) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


class InferencePrecompile:
    def __init__(self, store: ModelStore, device: str = "auto"):
        if device not in DEVICES:
            raise PrecompileError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
        if device == "cuda" and not runtime.cuda_available():
            raise PrecompileError("device 'cuda' requested but torch sees no CUDA device "
                                  "(CPU-only torch build or no GPU); use --device cpu or auto")
        self.store = store
        self.requested_device = device
        self._device = None if device == "auto" else device

    @property
    def device(self) -> str:
        """'cpu' or 'cuda'; resolving 'auto' imports torch, so it is done on first use."""
        if self._device is None:
            self._device = "cuda" if runtime.cuda_available() else "cpu"
        return self._device

    # -- decoding and checks (no torch) ---------------------------------------------------
    def _check_input(self, model: Model, view: TensorView, what: str = "tensor") -> tuple[int, bool]:
        """Return (batch, batched) for a tensor given to this model, or raise with the reason."""
        g = model.graph
        if DTYPE_NAMES[view.dtype] != g.input_dtype:
            raise PrecompileError(f"{what} dtype {DTYPE_NAMES[view.dtype]} does not match model input "
                                  f"dtype {g.input_dtype}")
        if view.shape == g.input_shape:
            return 1, False
        if len(view.shape) == len(g.input_shape) + 1 and view.shape[1:] == g.input_shape:
            return view.shape[0], True
        raise PrecompileError(f"{what} shape {_fmt(view.shape)} does not match model input "
                              f"[*,{_fmt(g.input_shape)[1:]}")

    def _gas(self, model: Model, batch: int, view: TensorView) -> int:
        check_budget(model.graph, batch)
        return inference_gas(model.graph, batch, view.data_len)

    def _parse(self, data: bytes):
        model_hash, view = decode_call(bytes(data))
        model = self.store.get(model_hash)
        batch, batched = self._check_input(model, view)
        return model, view, batch, batched

    def gas_cost(self, data: bytes) -> int:
        model, view, batch, _ = self._parse(data)
        return self._gas(model, batch, view)

    # -- running ----------------------------------------------------------------------------
    def _runtime(self, model: Model):
        device = self.device
        rt = model.runtimes.get(device)
        if rt is None:
            rt = model.runtimes[device] = runtime.TorchRuntime(model.graph, model.weights, device)
        return rt

    def warm_up(self, model_hash: bytes) -> None:
        """Build a model's runtime now (imports torch): its first real call is then cheap."""
        self._runtime(self.store.get(model_hash))

    def _run(self, model: Model, x: np.ndarray) -> np.ndarray:
        try:
            return self._runtime(model).forward(x)
        except PrecompileError:
            raise
        except (RuntimeError, MemoryError) as exc:   # e.g. CUDA out of memory: fail the call, not the node
            raise PrecompileError(f"inference failed on {self.device}: {str(exc).splitlines()[0]}") from None

    def _encode(self, model: Model, out: np.ndarray, batched: bool) -> bytes:
        if not batched:
            out = out[0]
        return encode_tensor(DTYPE_CODES[model.graph.output_dtype], out.shape, out.tobytes())

    def execute(self, data: bytes) -> bytes:
        model, view, batch, batched = self._parse(data)
        self._gas(model, batch, view)    # enforces the MAC and activation budget
        x = view.array().reshape((batch,) + model.graph.input_shape)
        return self._encode(model, self._run(model, x), batched)

    def execute_batch(self, model_hash: bytes, tensors: list[bytes]) -> list[bytes]:
        """Many tensors for one model in one forward pass; int8 outputs equal one-by-one calls."""
        model = self.store.get(model_hash)
        if not tensors:
            return []
        fast = self._batch_of_single_samples(model, tensors)
        if fast is not None:
            return fast
        parts, layout = [], []
        total = 0
        for i, tensor in enumerate(tensors):
            try:
                view = decode_tensor(bytes(tensor))
                batch, batched = self._check_input(model, view)
            except PrecompileError as exc:
                raise PrecompileError(f"tensor {i}: {exc.reason}") from None
            parts.append(view.array().reshape((batch,) + model.graph.input_shape))
            layout.append((batch, batched))
            total += batch
        check_budget(model.graph, total)
        out = self._run(model, np.concatenate(parts) if len(parts) > 1 else parts[0])
        results, row = [], 0
        for batch, batched in layout:
            results.append(self._encode(model, out[row:row + batch], batched))
            row += batch
        return results

    def _batch_of_single_samples(self, model: Model, tensors: list[bytes]) -> list[bytes] | None:
        """The oracle's usual batch: every tensor one sample in the canonical encoding. Such a
        tensor is a fixed header, the data, then zero padding, so checking it is a prefix
        compare and encoding an output is a concatenation; per-tensor decoding in Python
        otherwise costs more than the forward pass of a small model. None: not that case."""
        g = model.graph
        n_in = int(np.prod(g.input_shape)) * np.dtype(runtime_dtype(g.input_dtype)).itemsize
        sample = encode_tensor(DTYPE_CODES[g.input_dtype], g.input_shape, bytes(n_in))
        head, tail = sample[:len(sample) - _padded(n_in)], sample[len(sample) - _padded(n_in) + n_in:]
        stop = len(head) + n_in
        for t in tensors:
            if len(t) != len(sample) or not t.startswith(head) or t[stop:] != tail:
                return None
        try:
            check_budget(g, len(tensors))
        except PrecompileError:
            return None  # the general path reports it
        x = np.frombuffer(b"".join([t[len(head):stop] for t in tensors]),
                          dtype=runtime_dtype(g.input_dtype)).reshape((len(tensors),) + g.input_shape)
        out = np.ascontiguousarray(self._run(model, x.copy()))
        row_bytes = out[0].nbytes
        template = encode_tensor(DTYPE_CODES[g.output_dtype], out.shape[1:], bytes(row_bytes))
        out_head = template[:len(template) - _padded(row_bytes)]
        out_tail = template[len(out_head) + row_bytes:]
        flat = out.tobytes()
        return [out_head + flat[i * row_bytes:(i + 1) * row_bytes] + out_tail for i in range(len(tensors))]

    def dry_run(self, data: bytes) -> dict:
        gas = self.gas_cost(data)
        start = time.perf_counter()
        output = self.execute(data)
        micros = (time.perf_counter() - start) * 1e6
        return {"output": "0x" + output.hex(), "gas": gas, "device": self.device, "micros": micros}

    # -- 0xA2 ---------------------------------------------------------------------------------
    def quote_gas_cost(self, data: bytes) -> int:
        """Gas of a call to the quote precompile 0xA2 (fixed base + 3 gas per call-data word)."""
        return quote_gas(len(data))

    def quote(self, data: bytes) -> bytes:
        """0xA2. 32-byte call data ``modelHash`` -> model metadata::

            abi.encode(string name, uint8 mode, uint8 inputDtype, uint32[] inputShape,
                       uint8 outputDtype, uint32[] outputShape, uint256 macs, uint256 params,
                       uint256 gasBatch1)

        ``abi.encode(bytes32 modelHash, bytes tensor)`` -> the price of that inference::

            abi.encode(uint256 gas, uint256 macs, uint8 outputDtype, uint32[] outputShape)

        mode: 1 = int8, 2 = fp32; dtypes as in the tensor codec. Nothing runs; no torch.
        """
        from eth_abi import encode   # only here: eth_abi costs ~0.3 s to import

        data = bytes(data)
        if len(data) == 32:
            g = self.store.get(data).graph
            return encode(
                ["string", "uint8", "uint8", "uint32[]", "uint8", "uint32[]", "uint256", "uint256", "uint256"],
                [g.name, MODE_CODES[g.mode], DTYPE_CODES[g.input_dtype], list(g.input_shape),
                 DTYPE_CODES[g.output_dtype], list(g.output_shape), g.macs_per_sample, g.params, batch1_gas(g)])
        model, view, batch, batched = self._parse(data)
        gas = self._gas(model, batch, view)
        out_shape = ([batch] if batched else []) + list(model.graph.output_shape)
        return encode(["uint256", "uint256", "uint8", "uint32[]"],
                      [gas, model.graph.macs_per_sample * batch, DTYPE_CODES[model.graph.output_dtype], out_shape])
