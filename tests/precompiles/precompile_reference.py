"""An independent int64 numpy reference for int8-mode graphs (plain integer arithmetic only).

It shares nothing with the torch runtime but the validated graph: every op is written from its
definition (loops over kernel offsets, Python-style floor division, explicit tie handling), so
an exactness bug in the runtime's float tricks shows up as a mismatch.
"""

import numpy as np


def round_half_even_div(total: np.ndarray, divisor: int) -> np.ndarray:
    q = np.floor_divide(total, divisor)
    r = total - q * divisor
    up = (2 * r > divisor) | ((2 * r == divisor) & (q % 2 == 1))
    return q + up


def requantize(x, multiplier, shift):
    p = x.astype(np.int64) * multiplier
    if shift:
        p = round_half_even_div(p, 1 << shift)
    return np.clip(p, -128, 127)


def linear(x, w, b):
    out = x.astype(np.int64) @ w.astype(np.int64).T
    return out + (b.astype(np.int64) if b is not None else 0)


def conv2d(x, w, b, stride, padding):
    x = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    batch, _, h, wd = x.shape
    c_out, c_in, kh, kw = w.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((batch, c_out, oh, ow), dtype=np.int64)
    w = w.astype(np.int64)
    for i in range(kh):
        for j in range(kw):
            patch = x[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]   # [B, Ci, oh, ow]
            out += np.einsum("bchw,oc->bohw", patch, w[:, :, i, j])
    if b is not None:
        out += b.astype(np.int64)[None, :, None, None]
    return out


def pool(x, kernel, stride, kind):
    batch, c, h, w = x.shape
    oh, ow = (h - kernel) // stride + 1, (w - kernel) // stride + 1
    windows = [x[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride].astype(np.int64)
               for i in range(kernel) for j in range(kernel)]
    if kind == "MaxPool2d":
        return np.max(np.stack(windows), axis=0)
    return round_half_even_div(np.sum(np.stack(windows), axis=0), kernel * kernel)


def forward(model, x: np.ndarray) -> np.ndarray:
    """Run an int8 model on x [B, *input_shape]; returns int64 values of the declared output."""
    g = model.graph
    assert g.mode == "int8"
    values = [x.astype(np.int64)]
    for node in g.nodes:
        a = node.attrs
        v = values[node.inputs[0]]
        if node.op == "Linear":
            y = linear(v, model.weights[a["weight"]], model.weights.get(a.get("bias")))
        elif node.op == "Conv2d":
            y = conv2d(v, model.weights[a["weight"]], model.weights.get(a.get("bias")), a["stride"], a["padding"])
        elif node.op == "ReLU":
            y = np.maximum(v, 0)
        elif node.op in ("MaxPool2d", "AvgPool2d"):
            y = pool(v, a["kernel"], a["stride"], node.op)
        elif node.op == "Flatten":
            y = v.reshape(v.shape[0], -1)
        elif node.op == "Reshape":
            y = v.reshape((v.shape[0],) + tuple(a["shape"]))
        elif node.op == "Add":
            y = v + values[node.inputs[1]]
        elif node.op == "Requantize":
            y = requantize(v, a["multiplier"], a["shift"])
        else:
            raise AssertionError(node.op)
        if node.out_dtype == "int32":
            assert np.abs(y).max(initial=0) < 2 ** 31
        values.append(y)
    return values[-1]
