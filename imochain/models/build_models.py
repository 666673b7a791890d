"""Build the shipped models reproducibly: ``python -m imochain.models.build_models [--out DIR]``.

* ``digits-classifier``: int8 MLP 64-64-10 trained on scikit-learn's bundled 8x8 digits
  (``load_digits``, offline). Input int8[64] = pixel * 7 (pixels 0..16 -> 0..112), row-major;
  output int32[10] logits (argmax = digit).
* ``digits-generator``: int8 conditional generator 16-96-96-64. Input int8[16] = one-hot digit
  (127 at the digit's index, 0 elsewhere) followed by 6 noise values (any int8, e.g. bytes of
  keccak256(seed); z = n / 63.5). Output int8[1,8,8] = pixel * 7, same scale as the classifier's
  input, so generated images can be classified on-chain. Trained as the decoder of a per-class
  PCA code: z are the whitened coordinates of a training image on its class's top 6 components.
* zoo, seeded random int8 weights (numpy PCG64, fixed seeds): ``mlp-784-32-10``,
  ``mlp-784-256-256-10``, ``cnn-28-residual`` (1x28x28: conv, relu, residual add, max/avg pool,
  flatten, linear), ``mlp-3072-1024-1024-10``, and ``mlp-784-256-256-10-fp32`` (fp32 mode).

Training is deterministic: fixed seeds, one torch thread, full-batch Adam, float64, so the files
(and their keccak hashes) are byte-identical from run to run on the same machine. Across CPUs,
float64 training is not bit-portable by itself: MKL picks its code path per CPU (and per buffer
alignment), so ``main`` runs the build with ``MKL_CBWR=COMPATIBLE`` set before MKL loads (it
re-executes itself when needed). That gave the same bytes on two different machines (the
committed files), but torch's own vectorised kernels (``ATEN_CPU_CAPABILITY``) still change
the last bits of training, so the digits models are pinned by hash and a rebuild elsewhere is
checked by what holds on every CPU: architecture and held-out quality (see the tests). The zoo
uses numpy's integer generator only and rebuilds byte for byte everywhere.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from .export import export_sequential, multiplier_shift, quantize_input, run_model_file
from .graph import GRAPH_FORMAT
from .modelfile import write_model

MODELS_DIR = Path(__file__).parent / "shipped"
DIGITS_INPUT_SCALE = 1 / 112          # float input = pixel / 16, int8 = pixel * 7
GENERATOR_NOISE = 6
# MKL's conditional numerical reproducibility: the same code path on every x86-64 CPU
PORTABLE_ENV = {"MKL_CBWR": "COMPATIBLE"}


# ----- zoo ---------------------------------------------------------------------------------
def _requant_for(k: int, input_rms: float, target_rms: float = 40.0) -> dict:
    # random int8 weights have rms ~73; pick the scale that maps the accumulator rms to target_rms
    m, s = multiplier_shift(target_rms / (math.sqrt(k) * 73.3 * input_rms))
    return {"op": "Requantize", "multiplier": m, "shift": s}


def _random_int8(rng, shape):
    return rng.integers(-127, 128, size=shape, dtype=np.int64).astype(np.int8)


def _random_bias(rng, n):
    return rng.integers(-2000, 2001, size=n, dtype=np.int64).astype(np.int32)


def zoo_mlp(sizes: list[int], seed: int, mode: str = "int8", name: str | None = None) -> bytes:
    rng = np.random.Generator(np.random.PCG64(seed))
    name = name or "mlp-" + "-".join(map(str, sizes))
    ops, weights = [], {}
    input_rms = 73.9                      # uniform int8 input
    for i, (k, n) in enumerate(zip(sizes[:-1], sizes[1:])):
        w, b = _random_int8(rng, (n, k)), _random_bias(rng, n)
        if mode == "fp32":
            weights[f"fc{i}.weight"] = (w.astype(np.float32) / np.float32(127 * math.sqrt(k)))
            weights[f"fc{i}.bias"] = b.astype(np.float32) / np.float32(1e4)
        else:
            weights[f"fc{i}.weight"], weights[f"fc{i}.bias"] = w, b
        ops.append({"op": "Linear", "weight": f"fc{i}.weight", "bias": f"fc{i}.bias"})
        if i < len(sizes) - 2:
            if mode == "int8":
                ops.append(_requant_for(k, input_rms))
                input_rms = 30.0              # rms after requantise + ReLU
            ops.append({"op": "ReLU"})
    spec = {"format": GRAPH_FORMAT, "name": name, "mode": mode,
            "input": {"dtype": "int8" if mode == "int8" else "float32", "shape": [sizes[0]]},
            "ops": ops, "description": f"benchmark zoo: seeded random weights (PCG64 seed {seed})"}
    return write_model(spec, weights)


def zoo_cnn(seed: int = 4) -> bytes:
    rng = np.random.Generator(np.random.PCG64(seed))
    w = {
        "conv1.weight": _random_int8(rng, (8, 1, 3, 3)), "conv1.bias": _random_bias(rng, 8),
        "conv2.weight": _random_int8(rng, (8, 8, 3, 3)), "conv2.bias": _random_bias(rng, 8),
        "conv3.weight": _random_int8(rng, (16, 8, 3, 3)), "conv3.bias": _random_bias(rng, 16),
        "fc.weight": _random_int8(rng, (10, 784)), "fc.bias": _random_bias(rng, 10),
    }
    m_add, s_add = multiplier_shift(0.5)
    ops = [
        {"op": "Conv2d", "weight": "conv1.weight", "bias": "conv1.bias", "padding": 1},
        _requant_for(9, 73.9),
        {"op": "ReLU", "id": "block_in"},
        {"op": "Conv2d", "weight": "conv2.weight", "bias": "conv2.bias", "padding": 1},
        _requant_for(72, 30.0),
        {"op": "ReLU", "id": "branch"},
        {"op": "Add", "inputs": ["block_in", "branch"]},          # residual connection
        {"op": "Requantize", "multiplier": m_add, "shift": s_add},
        {"op": "MaxPool2d", "kernel": 2},
        {"op": "Conv2d", "weight": "conv3.weight", "bias": "conv3.bias", "padding": 1},
        _requant_for(72, 30.0),
        {"op": "ReLU"},
        {"op": "AvgPool2d", "kernel": 2},
        {"op": "Flatten"},
        {"op": "Linear", "weight": "fc.weight", "bias": "fc.bias"},
    ]
    spec = {"format": GRAPH_FORMAT, "name": "cnn-28-residual", "mode": "int8",
            "input": {"dtype": "int8", "shape": [1, 28, 28]}, "ops": ops,
            "description": f"benchmark zoo: small residual CNN, seeded random weights (PCG64 seed {seed})"}
    return write_model(spec, w)


# ----- digits ------------------------------------------------------------------------------
def digits_split():
    """(x_train, y_train, x_test, y_test), pixels 0..16 as float64, fixed 80/20 split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.Generator(np.random.PCG64(0)).permutation(len(digits.target))
    x, y = digits.data[order].astype(np.float64), digits.target[order].astype(np.int64)
    cut = int(len(y) * 0.8)
    return x[:cut], y[:cut], x[cut:], y[cut:]


def _train(model, inputs, targets, loss_fn, steps: int, lr: float, seed: int):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)            # one thread: same float summation order every run
    try:
        torch.manual_seed(seed)
        model = model.double()
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        x = torch.as_tensor(inputs, dtype=torch.float64)
        t = torch.as_tensor(targets)
        for _ in range(steps):
            opt.zero_grad()
            loss = loss_fn(model(x), t)
            loss.backward()
            opt.step()
        return model
    finally:
        torch.set_num_threads(threads)


def _with_seed(seed, make):
    import torch

    torch.manual_seed(seed)
    return make()


def build_digits_classifier(verbose: bool = True) -> bytes:
    import torch
    from torch import nn

    x_train, y_train, x_test, y_test = digits_split()
    model = _with_seed(1, lambda: nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)))
    model = _train(model, x_train / 16, y_train, nn.functional.cross_entropy, steps=250, lr=0.01, seed=1)
    with torch.no_grad():
        float_acc = float((model(torch.as_tensor(x_test / 16)).argmax(1).numpy() == y_test).mean())
    result = export_sequential(
        model, name="digits-classifier", input_shape=[64], input_scale=DIGITS_INPUT_SCALE,
        calibration=x_train / 16,
        description="8x8 digit classifier (scikit-learn digits). Input int8[64] = pixel*7 "
                    "(0..16 -> 0..112), row-major. Output int32[10] logits; argmax = digit.")
    q_test = quantize_input(x_test / 16, DIGITS_INPUT_SCALE)
    int8_acc = float((run_model_file(result.file_bytes, q_test).argmax(1) == y_test).mean())
    if verbose:
        print(f"digits-classifier: held-out accuracy float {float_acc:.4f}  int8 {int8_acc:.4f} "
              f"({len(y_test)} images)")
    return result.file_bytes


def generator_training_set():
    """(inputs [n,16] float, targets [n,64] in 0..1): one-hot + whitened per-class PCA code."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    inputs, targets = [], []
    for digit in range(10):
        images = digits.data[digits.target == digit].astype(np.float64) / 16
        centred = images - images.mean(axis=0)
        _, singular, vt = np.linalg.svd(centred, full_matrices=False)
        std = singular[:GENERATOR_NOISE] / math.sqrt(len(images) - 1)
        z = np.clip(centred @ vt[:GENERATOR_NOISE].T / std, -2, 2)
        onehot = np.zeros((len(images), 10))
        onehot[:, digit] = 1
        inputs.append(np.hstack([onehot, z / 2]))     # z/2 in [-1, 1]: int8 = z * 63.5
        targets.append(images)
    return np.vstack(inputs), np.vstack(targets)


def generator_input(digit: int, noise) -> np.ndarray:
    """int8[16] generator input for a digit and 6 int8 noise values."""
    x = np.zeros(10 + GENERATOR_NOISE, dtype=np.int8)
    x[digit] = 127
    x[10:] = np.asarray(noise, dtype=np.int8)
    return x


def build_digits_generator(verbose: bool = True) -> bytes:
    import torch
    from torch import nn

    inputs, targets = generator_training_set()
    model = _with_seed(2, lambda: nn.Sequential(
        nn.Linear(16, 96), nn.ReLU(), nn.Linear(96, 96), nn.ReLU(), nn.Linear(96, 64), nn.ReLU(),
        nn.Unflatten(1, (1, 8, 8))))

    def loss(out, t):
        return nn.functional.mse_loss(out.reshape(t.shape), t)

    model = _train(model, inputs, targets, loss, steps=300, lr=0.01, seed=2)
    result = export_sequential(
        model, name="digits-generator", input_shape=[16], input_scale=1 / 127, calibration=inputs,
        output_scale=DIGITS_INPUT_SCALE,
        description="conditional 8x8 digit generator. Input int8[16]: one-hot digit (127 at the "
                    "digit) then 6 noise int8 (z = n/63.5, e.g. bytes of keccak256(seed)). Output "
                    "int8[1,8,8] = pixel*7, the digits-classifier's input scale.")
    if verbose:
        with torch.no_grad():
            float_mse = float(((model(torch.as_tensor(inputs)).reshape(targets.shape).numpy() - targets) ** 2).mean())
        out = run_model_file(result.file_bytes, quantize_input(inputs, 1 / 127)).reshape(targets.shape)
        int8_mse = float(((out.astype(np.float64) / 112 - targets) ** 2).mean())
        print(f"digits-generator: training MSE (pixel/16 units) float {float_mse:.5f}  int8 {int8_mse:.5f}")
    return result.file_bytes


ZOO = {
    "mlp-784-32-10": lambda: zoo_mlp([784, 32, 10], seed=1),
    "mlp-784-256-256-10": lambda: zoo_mlp([784, 256, 256, 10], seed=2),
    "mlp-3072-1024-1024-10": lambda: zoo_mlp([3072, 1024, 1024, 10], seed=3),
    "cnn-28-residual": lambda: zoo_cnn(seed=4),
    "mlp-784-256-256-10-fp32": lambda: zoo_mlp([784, 256, 256, 10], seed=2, mode="fp32",
                                               name="mlp-784-256-256-10-fp32"),
}


def build_zoo() -> dict[str, bytes]:
    return {name: make() for name, make in ZOO.items()}


def build_all(verbose: bool = True) -> dict[str, bytes]:
    files = build_zoo()
    files["digits-classifier"] = build_digits_classifier(verbose)
    files["digits-generator"] = build_digits_generator(verbose)
    return files


def _portable_env() -> dict | None:
    """The environment to re-run in when MKL's code path is not pinned yet, else None."""
    if all(os.environ.get(k) == v for k, v in PORTABLE_ENV.items()):
        return None
    return {**os.environ, **PORTABLE_ENV}


def build_in_subprocess(out_dir, names=(), env: dict | None = None, timeout: float = 600) -> dict[str, bytes]:
    """Build in a fresh interpreter (MKL reads MKL_CBWR once, when it loads): ``names`` only, or
    everything in build_all's order. ``env`` adds variables (kernel sets) to the portable ones."""
    out = Path(out_dir)
    cmd = [sys.executable, "-m", "imochain.models.build_models", "--out", str(out)]
    for name in names:
        cmd += ["--only", name]
    proc = subprocess.run(cmd, env={**os.environ, **PORTABLE_ENV, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"build failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")
    return {p.stem: p.read_bytes() for p in sorted(out.glob("*.imo"))}


def main(argv=None) -> int:
    from eth_utils import keccak

    parser = argparse.ArgumentParser(prog="python -m imochain.models.build_models",
                                     description="Build the shipped models reproducibly.")
    parser.add_argument("--out", default=str(MODELS_DIR), help="output folder (default: the package's shipped/)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        choices=sorted(ZOO) + ["digits-classifier", "digits-generator"],
                        help="build only this model (repeatable; default: all, zoo first)")
    args = parser.parse_args(argv)
    env = _portable_env()
    if env is not None and argv is None:        # MKL is not loaded yet: torch is imported lazily
        os.execve(sys.executable, [sys.executable, "-m", "imochain.models.build_models", *sys.argv[1:]], env)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.only:
        builders = {"digits-classifier": build_digits_classifier, "digits-generator": build_digits_generator}
        files = {n: builders[n]() if n in builders else ZOO[n]() for n in args.only}
    else:
        files = build_all()
    for name, data in sorted(files.items()):
        (out / f"{name}.imo").write_bytes(data)
        print(f"{name:28s} {len(data):>9d} bytes  0x{keccak(data).hex()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
