"""BLS12-381 code (py-evm's EIP-2537 precompiles, py_ecc.bls) imported on first use, not at start-up.

Importing either builds py_ecc's pairing tables in pure Python (~0.2-0.5 s, the largest single
item of the node's start-up), though few chains ever call them. Two importers do it at import
time: py-evm's precompile table and eth_keyfile (via eth_account), which wants BLS only for
v4 keyfiles. `install()`, run before either is imported, puts stand-ins in sys.modules: each
stand-in function or class imports the real code on first use and hands on to it, so results,
gas and errors are the libraries' own.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types

PACKAGE = "eth.precompiles.bls12_381"
NAMES = ("bls12_g1_add", "bls12_g1_msm", "bls12_map_fp_to_g1", "bls12_g2_add", "bls12_g2_msm",
         "bls12_map_fp2_to_g2", "bls12_pairing_check")

_lock = threading.Lock()
_real: types.ModuleType | None = None


def real_package() -> types.ModuleType:
    """py-evm's own bls12_381 package, imported now if it was not yet."""
    global _real
    with _lock:
        if _real is None:
            stub = sys.modules.get(PACKAGE)
            if getattr(stub, "__deferred__", False):
                del sys.modules[PACKAGE]
            _real = importlib.import_module(PACKAGE)
    return _real


def _deferred(name: str):
    def precompile(*args, **kwargs):
        return getattr(real_package(), name)(*args, **kwargs)
    precompile.__name__ = precompile.__qualname__ = name
    return precompile


class _DeferredClass:
    """Stands for one of py_ecc.bls's ciphersuite classes (used as `Suite.SkToPk(...)`)."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        return getattr(getattr(importlib.import_module("py_ecc.bls.ciphersuites"), self._name), attr)


def _py_ecc_bls_stand_in() -> types.ModuleType | None:
    """py_ecc.bls without running its __init__ (which imports the ciphersuites at once); its
    submodules still import from the real folder."""
    spec = importlib.util.find_spec("py_ecc")  # not imported: its __init__ reads package metadata (~0.1 s)
    if spec is None or not spec.submodule_search_locations:
        return None
    stub = types.ModuleType("py_ecc.bls", "stand-in: see imochain.lazy_bls")
    stub.__path__ = [f"{spec.submodule_search_locations[0]}/bls"]
    stub.__package__ = "py_ecc.bls"
    for name in ("G2Basic", "G2MessageAugmentation", "G2ProofOfPossession"):
        setattr(stub, name, _DeferredClass(name))
    return stub


def install() -> bool:
    """Defer the imports; False when they already happened (nothing left to defer)."""
    if "eth.precompiles" in sys.modules or PACKAGE in sys.modules or "py_ecc.bls" in sys.modules:
        return False
    stub = types.ModuleType(PACKAGE, "stand-in: see imochain.lazy_bls")
    stub.__deferred__ = True
    for name in NAMES:
        setattr(stub, name, _deferred(name))
    sys.modules[PACKAGE] = stub
    bls = _py_ecc_bls_stand_in()
    if bls is not None:
        sys.modules["py_ecc.bls"] = bls
    return True
