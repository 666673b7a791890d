"""The committed artifacts: a fresh compile reproduces them byte for byte, and the bindings load them."""

from __future__ import annotations

import json
import re

import pytest
from eth_utils import is_checksum_address

from imochain.contracts import ARTIFACTS_DIR, GENESIS_ADDRESSES, abi, artifact_names, build, load_artifact

REQUIRED = {"abi", "bytecode", "deployedBytecode", "sourceHash", "sourceName", "contractName", "compiler"}


@pytest.fixture(scope="module")
def fresh():
    """One recompile of every source (solc-js is slow; share it)."""
    why = build.toolchain_missing()
    if why:
        pytest.skip(f"cannot recompile: {why}")
    return build.compile_all()


def test_fresh_compile_matches_committed_artifacts(fresh):
    problems = build.check(fresh)
    assert not problems, "stale artifacts (run `python -m imochain.contracts.build`):\n" + "\n".join(problems)


def test_check_command_reports_differences(fresh, monkeypatch, capsys):
    monkeypatch.setattr(build, "compile_all", lambda only=None: fresh)
    assert build.main(["--check"]) == 0
    changed = {**fresh, "AIOracle": {**fresh["AIOracle"], "bytecode": "0x00"}}
    monkeypatch.setattr(build, "compile_all", lambda only=None: changed)
    assert build.main(["--check"]) == 1
    assert "AIOracle: differs from a fresh compile" in capsys.readouterr().err


def test_artifacts_are_complete_and_deterministic():
    names = artifact_names()
    for name in ["AIOracle", "OpML", "Prompt", "AIOracleCallbackReceiver", "IAIOracle", "IAIOracleExtended", "IOpML"]:
        assert name in names
    for name in names:
        text = (ARTIFACTS_DIR / f"{name}.json").read_text()
        art = json.loads(text)
        assert REQUIRED <= set(art), name
        assert text == build.render(art)  # sorted keys, fixed layout: no timestamps, no noise
        assert art["sourceHash"].startswith("0x") and len(art["sourceHash"]) == 66
        assert art["compiler"]["solc"].startswith(build.SOLC_VERSION)
        assert art["compiler"]["evmVersion"] == build.EVM_VERSION


def test_every_source_has_artifacts():
    built = {a["sourceName"] for a in map(load_artifact, artifact_names())}
    files = build.source_files()
    assert built <= set(files)  # no artifact of a source that is gone
    declaring = {n for n, text in files.items() if re.search(r"^\s*(abstract\s+)?(contract|interface|library)\s", text, re.M)}
    assert declaring <= built, f"sources without artifacts: {sorted(declaring - built)}"


def test_contract_binding(w3):
    from imochain.contracts import contract

    assert contract(w3, "AIOracle").functions.owner().call() == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert contract(w3, "OpML").functions.oracle().call() == GENESIS_ADDRESSES["AIOracle"]


def test_bindings():
    assert load_artifact("AIOracle")["contractName"] == "AIOracle"
    assert any(e.get("name") == "requestCallback" for e in abi("AIOracle"))
    assert len(load_artifact("OpML")["deployedBytecode"]) > 100
    with pytest.raises(KeyError):
        load_artifact("NoSuchContract")
    assert GENESIS_ADDRESSES["AIOracle"] == "0x0A0f4321214BB6C7811dD8a71cF587bdaF03f0A0"
    assert all(is_checksum_address(a) for a in GENESIS_ADDRESSES.values())
    assert len(set(GENESIS_ADDRESSES.values())) == len(GENESIS_ADDRESSES)
    reserved = {int(x, 16) for x in ["0xa1", "0xa2", "0x100"]} | set(range(0x01, 0x12))
    assert not any(int(a, 16) in reserved for a in GENESIS_ADDRESSES.values())
