"""Fixtures for the real-tool tests: Foundry's cast and forge, and ethers v6 under node, driven
against a running imochain node (the `imochain_url` fixture of tests/conftest.py).

    cast / forge / node_js   paths of the binaries (each test skips, saying why, when one is missing)
    tool_env                 an environment for them: HOME in a temp dir, offline, no colour
    solc_wrapper             tools/solc (solc-js behind the native solc command line)
    foundry_project          a temp copy of tests/tools/project, built once per session
    counter_artifact         forge's artifact of Counter (abi + bytecode), from that build
    run_tool                 run(argv, ...) -> CompletedProcess, failing the test with its output

Nothing here reaches the network: forge runs with --offline and --use tools/solc, and Foundry's
caches (~/.foundry, ~/.svm) land in a temporary HOME.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tools_support import BIN, HERE, ROOT  # noqa: F401

SOLC_WRAPPER = ROOT / "tools" / "solc"


def _require(path: Path, what: str) -> str:
    if not (path.exists() and os.access(path, os.X_OK)):
        pytest.skip(f"{what} not installed at {path.relative_to(ROOT)} (run `npm ci` in the repo root)")
    return str(path)


def _node_js() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip("node (Node.js) is not on PATH")
    return found


@pytest.fixture(scope="session")
def cast() -> str:
    return _require(BIN / "cast", "Foundry's cast")


@pytest.fixture(scope="session")
def forge() -> str:
    return _require(BIN / "forge", "Foundry's forge")


@pytest.fixture(scope="session")
def node_js() -> str:
    return _node_js()


@pytest.fixture(scope="session")
def solc_wrapper(node_js, tmp_path_factory) -> str:
    if not (ROOT / "node_modules" / "solc" / "package.json").exists():
        pytest.skip("the npm package solc is not installed (run `npm ci` in the repo root)")
    if os.access(SOLC_WRAPPER, os.X_OK):
        return str(SOLC_WRAPPER)
    # A checkout that lost the executable bit: run a copy that has it (NODE_PATH finds solc).
    copy = tmp_path_factory.mktemp("solc-wrapper") / "solc"
    shutil.copyfile(SOLC_WRAPPER, copy)
    copy.chmod(0o755)
    return str(copy)


@pytest.fixture(scope="session")
def tool_env(tmp_path_factory) -> dict:
    """The tools' environment: a private HOME, offline, no colours, no inherited RPC settings."""
    home = tmp_path_factory.mktemp("tool-home")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FOUNDRY_", "ETH_", "DAPP_"))}
    env.update({
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "FOUNDRY_OFFLINE": "true",
        "FOUNDRY_DISABLE_NIGHTLY_WARNING": "1",
        "NO_COLOR": "1",
        "TERM": "dumb",
        "CI": "true",
        "NODE_PATH": str(ROOT / "node_modules"),
    })
    return env


@pytest.fixture(scope="session")
def run_tool(tool_env):
    def run(argv: list[str], *, cwd: Path | str | None = None, check: bool = True,
            timeout: float = 60, env: dict | None = None, stdin: str | None = None):
        proc = subprocess.run([str(a) for a in argv], cwd=cwd, env={**tool_env, **(env or {})},
                              input=stdin, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            pytest.fail(f"{' '.join(map(str, argv))}\n  exited {proc.returncode}\n"
                        f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}")
        return proc
    return run


def forge_compiler_args(solc: str) -> list[str]:
    """What every forge command here gets: offline, and the solc-js wrapper as the compiler."""
    return ["--offline", "--use", solc]


@pytest.fixture(scope="session")
def foundry_project(tmp_path_factory, forge, solc_wrapper, run_tool) -> Path:
    """tests/tools/project copied to a temp dir and built once (out/ and cache/ stay there)."""
    dest = tmp_path_factory.mktemp("foundry") / "project"
    shutil.copytree(HERE / "project", dest, ignore=shutil.ignore_patterns("out", "cache", "broadcast"))
    run_tool([forge, "build", *forge_compiler_args(solc_wrapper)], cwd=dest, timeout=120)
    return dest


@pytest.fixture(scope="session")
def counter_artifact(request, tmp_path_factory, solc_wrapper, run_tool) -> Path:
    """forge's artifact of Counter; without forge, the same shape from tools/solc directly."""
    try:
        project = request.getfixturevalue("foundry_project")
    except pytest.skip.Exception:
        project = None
    if project is not None:
        path = project / "out" / "Counter.sol" / "Counter.json"
        assert path.exists(), f"forge build wrote no artifact at {path}"
    else:
        source = (HERE / "project" / "src" / "Counter.sol").read_text()
        request_json = {"language": "Solidity", "sources": {"Counter.sol": {"content": source}},
                        "settings": {"outputSelection": {"*": {"*": ["abi", "evm.bytecode.object",
                                                                     "evm.deployedBytecode.object"]}}}}
        out = json.loads(run_tool([solc_wrapper, "--standard-json"], stdin=json.dumps(request_json)).stdout)
        c = out["contracts"]["Counter.sol"]["Counter"]
        path = tmp_path_factory.mktemp("solc") / "Counter.json"
        path.write_text(json.dumps({"abi": c["abi"],
                                    "bytecode": {"object": "0x" + c["evm"]["bytecode"]["object"]},
                                    "deployedBytecode": {"object": "0x" + c["evm"]["deployedBytecode"]["object"]}}))
    art = json.loads(path.read_text())
    assert art["abi"] and art["bytecode"]["object"].startswith("0x60")
    return path
