"""Driving the pinned npm solc: whether the toolchain is here, and one standard-JSON compile.

Everything that compiles Solidity (the genesis artifacts, the pure-EVM benchmark, test
contracts) goes through `compile_standard_json`, which runs `solc_driver.js` under node:
imports that are not given as sources (OpenZeppelin) are read from node_modules.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DRIVER = HERE / "solc_driver.js"


class SolcError(RuntimeError):
    pass


def toolchain_missing(openzeppelin: bool = False) -> str | None:
    """Why the compiler can't run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed (needed for the npm solc compiler)"
    if not (REPO / "node_modules" / "solc").is_dir():
        return "node_modules/solc is missing (run `npm ci`)"
    if openzeppelin and not (REPO / "node_modules" / "@openzeppelin" / "contracts").is_dir():
        return "node_modules/@openzeppelin/contracts is missing (run `npm ci`)"
    return None


def compile_standard_json(standard_input: dict, timeout: float = 300) -> dict:
    """solc's standard-JSON output for `standard_input` (errors are in its "errors" list)."""
    why = toolchain_missing()
    if why:
        raise SolcError(why)
    proc = subprocess.run(["node", str(DRIVER)], input=json.dumps(standard_input).encode(),
                          capture_output=True, cwd=REPO, check=False, timeout=timeout)
    if proc.returncode != 0:
        raise SolcError(f"solc driver failed: {proc.stderr.decode(errors='replace')[:2000]}")
    return json.loads(proc.stdout)


def solc_version() -> str:
    proc = subprocess.run(["node", str(DRIVER), "--version"], input=b"", capture_output=True, cwd=REPO,
                          check=False, timeout=60)
    return proc.stdout.decode()
