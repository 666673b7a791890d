"""Torch execution of a validated graph (torch is imported here, lazily, on first inference).

Why int8 mode is bit-exact on any device, batch size and thread count
--------------------------------------------------------------------
Linear and Conv2d multiply int8 by int8: each product has |p| <= 128*128 = 2^14. We compute the
dot products with float32 matmuls over chunks of at most CHUNK_K = 1024 terms, so every partial
sum a BLAS/cuBLAS kernel can form, in whatever order or blocking it likes (threads, split-K,
FMA), is an integer of magnitude <= 1024 * 2^14 = 2^24, and every integer up to 2^24 is exactly
representable in float32: no rounding ever happens, so each chunk result is the exact integer.
Chunk results are then converted to int32 and summed in int32; graph validation proved
|K*128*max|w| + max|bias|| <= 2^31-1, so that sum cannot overflow and integer addition is
associative. TF32 / reduced-precision matmul is switched off (it would round the *inputs* only
above 11 significant bits, which int8 does not reach, but we do not rely on that). Conv2d is
unfolded (im2col, pure data movement) into the same matmul instead of calling conv kernels,
because conv libraries may pick Winograd/FFT algorithms whose transforms are not exact.
Requantize runs in int64: |x| <= 2^31 and multiplier < 2^31, so |x*m| < 2^62 and adding the
rounding term (< 2^62) stays below 2^63. Rounding is half-to-even via
``(p + ((p >> s) & 1) + 2^(s-1) - 1) >> s`` with arithmetic shifts (floor): when floor(p/2^s) is
even a tie rounds down, when odd it rounds up - exactly round-half-even. AvgPool sums int8/int32
windows in int64 and divides with integer floor division, fixing the rounding by comparing twice
the remainder with the divisor. MaxPool, ReLU, Add, Flatten and Reshape are exact integer ops.
Intermediate values are exact integers but not always held in their declared dtype: small
layers use float64 (exact below 2^53), which saves torch dispatches; ``forward`` converts the
output back to the declared dtype. Each faster path is argued exact where it is defined.
Everything is elementwise-independent across the batch, so batching cannot change any byte.

fp32 mode runs the same graph with float32 torch ops, TF32 off, cuDNN deterministic and
``torch.use_deterministic_algorithms(True, warn_only=True)``; results are reproducible on the
same machine and thread count only (float sums depend on kernel blocking).
"""

from __future__ import annotations

import os

import numpy as np

from .errors import PrecompileError
from .graph import Graph

CHUNK_K = 1024
SMALL_WEIGHTS = 1 << 17                   # Linear layers up to this many weights use one float64 addmm
SMALL_BATCH = 8                           # ... at batch sizes up to this
FLOAT_REQUANT_MAX_MULTIPLIER = 1 << 22    # below it, requantise in float64 (exact, see there)
NUMPY_MAX_BATCH = 8                       # small int8 MLP calls on CPU run in numpy (see below)
_TORCH = None


def torch_module():
    """Import and configure torch once (the first inference pays the ~2 s import)."""
    global _TORCH
    if _TORCH is None:
        # cuBLAS needs this before CUDA initialises to give deterministic fp32 results.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        import torch
        torch.set_float32_matmul_precision("highest")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        _TORCH = torch
    return _TORCH


def cuda_available() -> bool:
    return torch_module().cuda.is_available()


def _k_chunks(k: int) -> list[tuple[int, int]]:
    return [(start, min(start + CHUNK_K, k)) for start in range(0, k, CHUNK_K)]


class TorchRuntime:
    """A graph prepared for one device: weights converted and moved once, then many forwards."""

    def __init__(self, graph: Graph, weights: dict[str, np.ndarray], device: str):
        torch = torch_module()
        self.torch = torch
        self.graph = graph
        self.device = torch.device(device)
        if graph.mode == "fp32":
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.fused_relus: set[int] = set()
        self.out_numpy_dtype = np.dtype(graph.output_dtype)
        self.steps = [self._prepare(node, weights) for node in graph.nodes]
        self.numpy_steps = self._prepare_numpy(weights) if self.device.type == "cpu" else None

    def _relu_follows(self, node) -> bool:
        """True (and remember it) when node's output is read only by the ReLU right after it."""
        nodes = self.graph.nodes
        value = node.index + 1
        readers = [n for n in nodes if value in n.inputs]
        if len(readers) == 1 and readers[0].op == "ReLU" and readers[0].index == node.index + 1:
            self.fused_relus.add(node.index + 1)
            return True
        return False

    def _tensor(self, array: np.ndarray, dtype=None):
        t = self.torch.from_numpy(np.array(array, copy=True))
        if dtype is not None:
            t = t.to(dtype)
        return t.to(self.device).contiguous()

    def _prepare(self, node, weights):
        torch = self.torch
        F = torch.nn.functional
        op, a = node.op, node.attrs
        int8 = self.graph.mode == "int8"
        bias = None
        if "bias" in a:
            bias = self._tensor(weights[a["bias"]])
        if op == "Linear":
            w = weights[a["weight"]]
            if not int8:
                weight = self._tensor(w)
                return lambda v: F.linear(v[0], weight, bias)
            # [K, N] float32 chunks of <= CHUNK_K rows: x[:, chunk] @ chunk is exact (see top).
            chunks = [(s, e, self._tensor(w[:, s:e].T, torch.float32)) for s, e in _k_chunks(w.shape[1])]
            if w.size <= SMALL_WEIGHTS:
                # Small layer, small batch: one float64 addmm. Every partial sum is an integer
                # below K*2^14 + 2^31 < 2^53, so float64 is exact in any order; fewer torch ops
                # matter more than FLOPs there. Larger batches take the (faster, equally exact)
                # float32 chunks. Output: exact integers in float64 or int32.
                weight64 = self._tensor(w.T, torch.float64)
                bias64 = bias.to(torch.float64) if bias is not None else torch.zeros(w.shape[0], dtype=torch.float64, device=self.device)

                def small_linear(v):
                    x = v[0]
                    if x.shape[0] <= SMALL_BATCH:
                        return torch.addmm(bias64, x.to(torch.float64), weight64)
                    return self._int_matmul(x.to(torch.float32), chunks, bias, lhs_columns=True)
                return small_linear
            return lambda v: self._int_matmul(v[0].to(torch.float32), chunks, bias, lhs_columns=True)
        if op == "Conv2d":
            w = weights[a["weight"]]
            stride, padding = a["stride"], a["padding"]
            if not int8:
                weight = self._tensor(w)
                return lambda v: F.conv2d(v[0], weight, bias, stride=stride, padding=padding)
            c_out, c_in, kh, kw = w.shape
            flat = w.reshape(c_out, c_in * kh * kw)
            chunks = [(s, e, self._tensor(flat[:, s:e], torch.float32)) for s, e in _k_chunks(flat.shape[1])]
            bias_col = bias.reshape(c_out, 1) if bias is not None else None
            out_hw = node.out_shape[1:]

            def conv(v):
                x = v[0]
                cols = self._im2col(x.to(torch.float32), kh, kw, padding, stride)                # [B, K, L]
                acc = self._int_matmul(cols, chunks, bias_col, lhs_columns=False)                # [B, Co, L]
                return acc.reshape(x.shape[0], c_out, *out_hw)
            return conv
        if op == "ReLU":
            if node.index in self.fused_relus:
                return lambda v: v[0]
            return lambda v: v[0].clamp_min(0)
        if op == "Flatten":
            return lambda v: v[0].reshape(v[0].shape[0], -1)
        if op == "Reshape":
            shape = tuple(a["shape"])
            return lambda v: v[0].reshape(v[0].shape[0], *shape)
        if op == "Add":
            if int8:   # |a + b| <= 255: exact in float64 whatever the operands' representation
                return lambda v: v[0].to(torch.float64) + v[1]
            return lambda v: v[0] + v[1]
        if op in ("MaxPool2d", "AvgPool2d"):
            k, s = a["kernel"], a["stride"]
            if not int8:
                pool = F.max_pool2d if op == "MaxPool2d" else F.avg_pool2d
                return lambda v: pool(v[0], k, s)
            if op == "MaxPool2d":
                # a max involves no arithmetic: exact in any representation and algorithm
                return lambda v: (F.max_pool2d(v[0], k, s) if v[0].is_floating_point()
                                  else v[0].unfold(2, k, s).unfold(3, k, s).amax(dim=(-1, -2)))
            n = k * k

            def avg(v):
                x = v[0]
                if x.dtype == torch.float64:
                    # float64 window sums of integers below 2^31 (n <= 4096 terms) are exact;
                    # sum / n is correctly rounded with error <= 2^-23 while a non-tie lies at
                    # least 1/(2n) >= 2^-13 from a half-integer, and ties are representable,
                    # so torch.round (half to even) gives round_half_even(sum / n) exactly.
                    return torch.round(F.avg_pool2d(x, k, s, divisor_override=1) / n)
                total = x.unfold(2, k, s).unfold(3, k, s).to(torch.int64).sum(dim=(-1, -2))
                return self._div_round_half_even(total, n).to(x.dtype)
            return avg
        if op == "Requantize":
            m, shift = a["multiplier"], a["shift"]
            low = 0 if self._relu_follows(node) else -128    # fuse a following ReLU into the clamp
            if m < FLOAT_REQUANT_MAX_MULTIPLIER:
                # |x| < 2^31 and m < 2^22, so x*m is an integer below 2^53 and x * (m * 2^-s)
                # is exact in float64 (a power-of-two scale only moves the exponent);
                # torch.round rounds half to even. Same result as the int64 path, 4 ops.
                scale = m / (1 << shift)
                return lambda v: torch.round(v[0].to(torch.float64) * scale).clamp_(low, 127)
            rounding = (1 << (shift - 1)) - 1 if shift else 0

            def requantize(v):
                p = v[0].to(torch.int64).mul_(m)
                if shift:
                    # floor((p + 2^(s-1) - 1 + parity(floor(p/2^s))) / 2^s) = round_half_even(p / 2^s)
                    p = p.add_(((p >> shift) & 1).add_(rounding)).bitwise_right_shift_(shift)
                return p.clamp_(low, 127).to(torch.int8)
            return requantize
        raise PrecompileError(f"op {op} has no runtime")   # unreachable: validated graphs only

    def _int_matmul(self, x, chunks, bias, lhs_columns: bool):
        """Exact int32 result of x @ W with x, W holding int8 values (as float32), chunked over K."""
        torch = self.torch
        acc = None
        whole = len(chunks) == 1
        for start, end, w in chunks:
            if lhs_columns:   # Linear: x [B, K] @ w [Kc, N]
                part = (x if whole else x[:, start:end]) @ w
            else:             # Conv: w [Co, Kc] @ cols [B, Kc, L]
                part = w @ (x if whole else x[:, start:end, :])
            part = part.to(torch.int32)
            acc = part if acc is None else acc.add_(part)
        if bias is not None:
            acc = acc.add_(bias)
        return acc

    def _im2col(self, x, kh: int, kw: int, padding: int, stride: int):
        """[B, C, H, W] -> [B, C*kh*kw, OH*OW] in F.unfold's order; pure data movement
        (measured ~1.6x faster than F.unfold on this CPU)."""
        if padding:
            x = self.torch.nn.functional.pad(x, (padding, padding, padding, padding))
        windows = x.unfold(2, kh, stride).unfold(3, kw, stride)          # [B, C, OH, OW, kh, kw]
        b, c, oh, ow = windows.shape[:4]
        return windows.permute(0, 1, 4, 5, 2, 3).reshape(b, c * kh * kw, oh * ow)

    def _div_round_half_even(self, total, n: int):
        torch = self.torch
        q = torch.div(total, n, rounding_mode="floor")
        twice_rem = (total - q * n) * 2
        round_up = (twice_rem > n) | ((twice_rem == n) & ((q & 1) == 1))
        return q + round_up.to(torch.int64)

    def forward_torch(self, x):
        """Run the graph on a device tensor with a leading batch dimension."""
        with self.torch.inference_mode():
            values = [x]
            for step, node in zip(self.steps, self.graph.nodes):
                values.append(step([values[i] for i in node.inputs]))
            return values[-1]

    def forward(self, x: np.ndarray) -> np.ndarray:
        """numpy [B, *input_shape] in, numpy [B, *output_shape] out."""
        if self.numpy_steps is not None and x.shape[0] <= NUMPY_MAX_BATCH:
            return self._forward_numpy(x)
        t = self.torch.from_numpy(x)
        if self.device.type != "cpu":
            t = t.to(self.device)
        out = self.forward_torch(t).cpu().numpy()
        # int8 mode carries exact integers in whatever torch dtype was cheapest (float64,
        # int64, ...); the declared output dtype is restored here, exactly.
        return np.ascontiguousarray(out.astype(self.out_numpy_dtype, copy=False))

    # -- small int8 MLPs on CPU: numpy --------------------------------------------------------
    # A batch-1 call of a small MLP is dominated by per-op dispatch (~4-7 µs per torch op on
    # this CPU, ~1 µs per numpy op). The numpy path uses exactly the same exact-integer
    # arguments (float64 matmul below 2^53, float64 requantisation with np.rint = half to
    # even), so it returns the same bytes as the torch path; the golden tests check both
    # (batch sizes <= NUMPY_MAX_BATCH go through numpy, larger ones through torch).
    def _prepare_numpy(self, weights):
        g = self.graph
        if g.mode != "int8" or any(n.op not in ("Linear", "Requantize", "ReLU", "Flatten", "Reshape")
                                   for n in g.nodes) or any(n.inputs != [n.index] for n in g.nodes):
            return None
        steps = []
        for node in g.nodes:
            a = node.attrs
            if node.op == "Linear":
                w = weights[a["weight"]]
                if w.size > SMALL_WEIGHTS:
                    return None
                w64 = np.ascontiguousarray(w.T, dtype=np.float64)
                b64 = weights[a["bias"]].astype(np.float64) if "bias" in a else None
                steps.append(lambda x, w64=w64, b64=b64: x @ w64 + b64 if b64 is not None else x @ w64)
            elif node.op == "Requantize":
                m, shift = a["multiplier"], a["shift"]
                if m >= FLOAT_REQUANT_MAX_MULTIPLIER:
                    return None
                low, scale = (0 if node.index + 1 in self.fused_relus else -128), m / (1 << shift)
                steps.append(lambda x, low=low, scale=scale: np.clip(np.rint(x * scale), low, 127))
            elif node.op == "ReLU":
                steps.append(None if node.index in self.fused_relus else (lambda x: np.maximum(x, 0)))
            else:
                shape = tuple(node.out_shape)
                steps.append(lambda x, shape=shape: x.reshape((x.shape[0],) + shape))
        return steps

    def _forward_numpy(self, x: np.ndarray) -> np.ndarray:
        value = x.astype(np.float64)      # a plain chain: every op reads the previous value
        for step in self.numpy_steps:
            if step is not None:
                value = step(value)
        return np.ascontiguousarray(value.astype(self.out_numpy_dtype))
