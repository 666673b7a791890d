"""Compile imochain's Solidity sources into committed JSON artifacts.

    python -m imochain.contracts.build           # (re)write imochain/contracts/artifacts/*.json
    python -m imochain.contracts.build --check   # recompile in memory; exit 1 listing differences

Every ``.sol`` file under ``src/`` is compiled in one solc standard-JSON run by the pinned npm
``solc`` (driven through ``node`` and ``solc_driver.js``), with OpenZeppelin imports resolved from
``node_modules``. One artifact per contract defined under ``src/`` (interfaces and libraries
included): abi, bytecode, deployedBytecode, linkReferences, the compiler settings, and a
``sourceHash`` over every source that went into it. Output is deterministic (sorted keys, no
timestamps), so ``--check`` is a byte comparison. The node itself only reads the artifacts.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from pathlib import Path

from eth_utils import keccak

from . import solc
from .solc import SolcError

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
ARTIFACTS = HERE / "artifacts"

SOLC_VERSION = "0.8.30"
EVM_VERSION = "prague"
OPTIMIZER_RUNS = 200

SETTINGS = {
    "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
    "evmVersion": EVM_VERSION,
    # Metadata hash left out of the bytecode: bytecode changes only when code does. The
    # sourceHash in each artifact still pins the exact sources.
    "metadata": {"bytecodeHash": "none"},
    "outputSelection": {
        "*": {
            "*": [
                "abi",
                "metadata",
                "evm.bytecode.object",
                "evm.bytecode.linkReferences",
                "evm.deployedBytecode.object",
            ]
        }
    },
}


class BuildError(RuntimeError):
    pass


def toolchain_missing() -> str | None:
    """Why the genesis contracts can't be compiled here (solc or OpenZeppelin missing), or None."""
    return solc.toolchain_missing(openzeppelin=True)


def source_files(only: list[str] | None = None) -> dict[str, str]:
    """Source unit name (path relative to src/, posix) -> content, sorted by name.

    ``only``: fnmatch patterns on unit names (a partial build while another file is broken;
    the other sources under src/ are still found by import)."""
    out = {}
    for p in sorted(SRC.rglob("*.sol")):
        name = p.relative_to(SRC).as_posix()
        if only and not any(fnmatch.fnmatch(name, pat) for pat in only):
            continue
        out[name] = p.read_text(encoding="utf-8")
    return out


def _run_solc(standard_input: dict) -> dict:
    why = toolchain_missing()
    if why:
        raise BuildError(why)
    try:
        return solc.compile_standard_json(standard_input)
    except SolcError as exc:
        raise BuildError(str(exc)) from None


def _source_hash(metadata: dict) -> str:
    # The compiler's metadata lists every source that went into the contract with its keccak;
    # hashing that list covers imported OpenZeppelin files too.
    lines = "".join(f"{path}\n{info['keccak256']}\n" for path, info in sorted(metadata["sources"].items()))
    return "0x" + keccak(lines.encode()).hex()


def compile_all(only: list[str] | None = None) -> dict[str, dict]:
    """Compile everything; return artifact name -> artifact dict. Raises BuildError on errors."""
    sources = source_files(only)
    if not sources:
        raise BuildError(f"no .sol files under {SRC}")
    standard_input = {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()},
        "settings": SETTINGS,
    }
    output = _run_solc(standard_input)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    for e in output.get("errors", []):
        if e.get("severity") != "error":
            src = (e.get("sourceLocation") or {}).get("file", "")
            if src in sources:  # OpenZeppelin's own warnings are not ours to fix
                print(e.get("formattedMessage", e.get("message")), file=sys.stderr)
    if errors:
        raise BuildError("\n".join(e.get("formattedMessage", e.get("message", "?")) for e in errors))

    artifacts: dict[str, dict] = {}
    for source_name in sources:
        for contract_name, c in sorted(output.get("contracts", {}).get(source_name, {}).items()):
            if contract_name in artifacts:
                raise BuildError(
                    f"contract name {contract_name} defined twice "
                    f"({artifacts[contract_name]['sourceName']} and {source_name})"
                )
            metadata = json.loads(c["metadata"])
            if not metadata["compiler"]["version"].startswith(SOLC_VERSION + "+"):
                raise BuildError(
                    f"node_modules/solc is {metadata['compiler']['version']}, the pin is {SOLC_VERSION} (run `npm ci`)"
                )
            evm = c["evm"]
            artifacts[contract_name] = {
                "contractName": contract_name,
                "sourceName": source_name,
                "abi": c["abi"],
                "bytecode": "0x" + evm["bytecode"]["object"],
                "deployedBytecode": "0x" + evm["deployedBytecode"]["object"],
                "linkReferences": evm["bytecode"].get("linkReferences", {}),
                "sourceHash": _source_hash(metadata),
                "sources": {p: info["keccak256"] for p, info in sorted(metadata["sources"].items())},
                "compiler": {
                    "solc": metadata["compiler"]["version"],
                    "evmVersion": EVM_VERSION,
                    "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
                },
            }
    return artifacts


def render(artifact: dict) -> str:
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def write(artifacts: dict[str, dict], prune: bool = True) -> list[str]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, art in artifacts.items():
        path = ARTIFACTS / f"{name}.json"
        text = render(art)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(name)
    for stale in sorted(ARTIFACTS.glob("*.json")) if prune else []:
        if stale.stem not in artifacts:
            stale.unlink()
            changed.append(f"{stale.stem} (removed)")
    return changed


def check(artifacts: dict[str, dict]) -> list[str]:
    """Names of artifacts that differ from (or are missing in / extra in) the committed folder."""
    problems = []
    for name, art in sorted(artifacts.items()):
        path = ARTIFACTS / f"{name}.json"
        if not path.exists():
            problems.append(f"{name}: missing artifact")
        elif path.read_text(encoding="utf-8") != render(art):
            problems.append(f"{name}: differs from a fresh compile")
    for extra in sorted(ARTIFACTS.glob("*.json")):
        if extra.stem not in artifacts:
            problems.append(f"{extra.stem}: artifact has no source")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m imochain.contracts.build", description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compile in memory and compare with the committed artifacts")
    ap.add_argument(
        "--only",
        action="append",
        metavar="GLOB",
        help="partial build: only these source files (e.g. 'AIOracle.sol'); writes their artifacts, removes none",
    )
    args = ap.parse_args(argv)
    if args.only and args.check:
        ap.error("--check always compiles everything")
    try:
        artifacts = compile_all(args.only)
    except BuildError as e:
        print(f"build failed: {e}", file=sys.stderr)
        return 2
    if args.check:
        problems = check(artifacts)
        for p in problems:
            print(p, file=sys.stderr)
        if problems:
            print("artifacts are stale: run `python -m imochain.contracts.build`", file=sys.stderr)
            return 1
        print(f"{len(artifacts)} artifacts up to date")
        return 0
    changed = write(artifacts, prune=not args.only)
    print(f"{len(artifacts)} artifacts, {len(changed)} written" + (f": {', '.join(changed)}" if changed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
