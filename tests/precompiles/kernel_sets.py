"""Kernel sets this CPU can run: environments that make torch, MKL and numpy take other code paths.

A fresh interpreter reads them at start-up (MKL and ATen pick their kernels once), so each set
runs in a subprocess. On one machine this is the closest thing to trying another CPU.
"""

import json
import os
import subprocess
import sys


def _numpy_dispatch_targets() -> str:
    """Every SIMD target numpy dispatches to beyond its baseline (names differ across versions)."""
    from numpy._core._multiarray_umath import __cpu_dispatch__
    return " ".join(__cpu_dispatch__)


def _torch_capability() -> str:
    import torch
    return torch.backends.cpu.get_cpu_capability()


def kernel_sets() -> dict[str, dict]:
    """name -> environment; the scalar set always, then each vector set the CPU supports."""
    sets = {"scalar": {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE",
                       "NPY_DISABLE_CPU_FEATURES": _numpy_dispatch_targets()}}
    capability = _torch_capability()
    if capability in ("AVX2", "AVX512"):
        sets["avx2"] = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"}
    if capability == "AVX512":
        sets["avx512"] = {"ATEN_CPU_CAPABILITY": "avx512", "MKL_CBWR": "AVX512"}
    return sets


def start(args: list[str], env: dict, cwd=None) -> subprocess.Popen:
    """Start ``python ARGS`` under a kernel set (stdout: one JSON line expected)."""
    return subprocess.Popen([sys.executable, *args], env={**os.environ, **env}, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 600) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-2000:]
    return json.loads(out.strip().splitlines()[-1])
