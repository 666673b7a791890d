"""Quantise and export a trained torch ``nn.Sequential`` to the model-file format.

Supported layers: Linear, Conv2d (groups 1, dilation 1, square stride/padding), ReLU,
MaxPool2d, AvgPool2d (no padding), Flatten, Unflatten. int8 export is symmetric per-tensor
quantisation (zero point 0):

* input:   q = round(x / input_scale), saturated to int8;
* weights: scale_w = max|W| / 127, q_W = round(W / scale_w); bias: round(b / (s_in * scale_w)) int32;
* after each Linear/Conv2d that feeds another one, a Requantize to the activation scale
  max|a| / 127 measured on the calibration inputs (after the following ReLU when there is one);
  multiplier/shift come from ``multiplier_shift`` (22-bit multiplier);
* the last Linear/Conv2d stays int32 (logits: argmax needs no requantisation) unless an
  ``output_scale`` is given, in which case its output is requantised to int8 at that scale.

Used by ``python -m imochain.models.build_models`` and ``imochain model export``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

from .errors import ModelError
from .graph import GRAPH_FORMAT
from .modelfile import parse_model, write_model


def multiplier_shift(scale: float) -> tuple[int, int]:
    """(m, s) with m / 2^s ~= scale and 2^21 <= m < 2^22 when the range allows (0 <= s <= 62).

    22-bit multipliers keep 2^-22 relative precision (far below int8 rounding) and let the
    runtime requantise in float64 exactly (|x*m| < 2^53).
    """
    if not scale > 0 or not math.isfinite(scale):
        raise ModelError(f"requantisation scale must be positive, got {scale}")
    fraction, exponent = math.frexp(scale)          # scale = fraction * 2^exponent, 0.5 <= f < 1
    shift = 22 - exponent
    multiplier = round(fraction * (1 << 22))
    if multiplier == 1 << 22:
        multiplier, shift = 1 << 21, shift - 1
    while shift > 62:                               # tiny scale: lose low multiplier bits
        multiplier, shift = max(1, round(multiplier / 2)), shift - 1
    if shift < 0:
        raise ModelError(f"requantisation scale {scale} too large (needs a negative shift)")
    return multiplier, shift


@dataclass
class ExportResult:
    file_bytes: bytes
    input_scale: float
    output_scale: float


def quantize_input(x: np.ndarray, input_scale: float) -> np.ndarray:
    return np.clip(np.rint(np.asarray(x, dtype=np.float64) / input_scale), -128, 127).astype(np.int8)


def export_sequential(module, *, name: str, input_shape, mode: str = "int8", input_scale: float = 1.0,
                      calibration=None, output_scale: float | None = None,
                      description: str = "", info: dict | None = None) -> ExportResult:
    """Export ``module`` (a torch nn.Sequential in float) to model-file bytes."""
    import torch
    from torch import nn

    layers = list(module.children()) if isinstance(module, nn.Sequential) else [module]
    spec = {"format": GRAPH_FORMAT, "name": name, "mode": mode,
            "input": {"dtype": "int8" if mode == "int8" else "float32", "shape": list(input_shape)},
            "ops": [], "description": description}
    weights: dict[str, np.ndarray] = {}
    ops = spec["ops"]

    # float activations after every layer, on the calibration data, for the requantisation scales
    activations = []
    if mode == "int8":
        if calibration is None:
            raise ModelError("int8 export needs calibration inputs")
        with torch.no_grad():
            a = torch.as_tensor(np.asarray(calibration), dtype=torch.float64)
            a = a.reshape((a.shape[0],) + tuple(input_shape))
            for layer in copy.deepcopy(layers):
                a = layer.double()(a)
                activations.append(float(a.abs().max()))
    compute = [i for i, layer in enumerate(layers) if isinstance(layer, (nn.Linear, nn.Conv2d))]
    if not compute:
        raise ModelError("nothing to export: no Linear or Conv2d layer")
    scale = input_scale      # real value of one int8/int32 unit of the current value
    for i, layer in enumerate(layers):
        tag = f"l{i}"
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            w = layer.weight.detach().double().cpu().numpy()
            b = layer.bias.detach().double().cpu().numpy() if layer.bias is not None else None
            op = {"op": "Linear" if isinstance(layer, nn.Linear) else "Conv2d", "weight": tag + ".weight"}
            if isinstance(layer, nn.Conv2d):
                if layer.groups != 1 or tuple(layer.dilation) != (1, 1):
                    raise ModelError(f"layer {i}: only groups=1, dilation=1 convolutions export")
                stride, padding = tuple(layer.stride), layer.padding
                if isinstance(padding, str) or stride[0] != stride[1] or padding[0] != padding[1]:
                    raise ModelError(f"layer {i}: stride and padding must be equal ints on both axes")
                op.update(stride=int(stride[0]), padding=int(padding[0]))
            if mode == "fp32":
                weights[tag + ".weight"] = w.astype(np.float32)
                if b is not None:
                    weights[tag + ".bias"] = b.astype(np.float32)
                    op["bias"] = tag + ".bias"
                ops.append(op)
                continue
            w_scale = max(float(np.abs(w).max()), 1e-12) / 127.0
            weights[tag + ".weight"] = np.clip(np.rint(w / w_scale), -127, 127).astype(np.int8)
            acc_scale = scale * w_scale
            if b is not None:
                weights[tag + ".bias"] = np.clip(np.rint(b / acc_scale), -(1 << 30), 1 << 30).astype(np.int32)
                op["bias"] = tag + ".bias"
            ops.append(op)
            scale = acc_scale
            last = i == compute[-1]
            if last and output_scale is None:
                continue
            if last:
                target = output_scale
            else:
                follows_relu = i + 1 < len(layers) and isinstance(layers[i + 1], nn.ReLU)
                target = max(activations[i + 1 if follows_relu else i], 1e-12) / 127.0
            m, s = multiplier_shift(acc_scale / target)
            ops.append({"op": "Requantize", "multiplier": m, "shift": s})
            scale = target
        elif isinstance(layer, nn.ReLU):
            ops.append({"op": "ReLU"})
        elif isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
            k, st, pad = layer.kernel_size, layer.stride, layer.padding
            k = k if isinstance(k, int) else k[0]
            st = st if isinstance(st, int) else st[0]
            if pad not in (0, (0, 0)) or getattr(layer, "ceil_mode", False):
                raise ModelError(f"layer {i}: pooling with padding or ceil_mode does not export")
            ops.append({"op": type(layer).__name__, "kernel": int(k), "stride": int(st)})
        elif isinstance(layer, nn.Flatten):
            ops.append({"op": "Flatten"})
        elif isinstance(layer, nn.Unflatten):
            ops.append({"op": "Reshape", "shape": [int(d) for d in layer.unflattened_size]})
        else:
            raise ModelError(f"layer {i}: {type(layer).__name__} cannot be exported")
    spec["info"] = dict(info or {}, input_scale=repr(float(input_scale)), output_scale=repr(float(scale)))
    return ExportResult(write_model(spec, weights), float(input_scale), float(scale))


def run_model_file(file_bytes: bytes, x: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Run a model file on a numpy batch [B, *input_shape] (int8 or float32) with the runtime."""
    from .runtime import TorchRuntime

    model = parse_model(file_bytes)
    rt = TorchRuntime(model.graph, model.weights, device)
    return rt.forward(np.ascontiguousarray(x))
