"""tools/solc: the solc-js wrapper forge uses as its compiler (`forge build --use tools/solc`)."""

from __future__ import annotations

import json
import re


def test_version_in_the_native_format(solc_wrapper, run_tool):
    out = run_tool([solc_wrapper, "--version"]).stdout
    lines = out.strip().splitlines()
    assert lines[0] == "solc, the solidity compiler commandline interface"
    assert re.fullmatch(r"Version: 0\.8\.30\+commit\.[0-9a-f]{8}\.Linux\.g\+\+", lines[1])


def test_standard_json_resolves_imports_from_the_base_path(solc_wrapper, run_tool, tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "Base.sol").write_text(
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\n"
        "contract Base { function one() public pure returns (uint256) { return 1; } }\n")
    source = ('// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\nimport "dep/Base.sol";\n'
              "contract Main is Base {}\n")
    request = {"language": "Solidity", "sources": {"src/Main.sol": {"content": source}},
               "settings": {"remappings": ["dep/=lib/"],
                            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}}}}
    proc = run_tool([solc_wrapper, "--standard-json", "--base-path", str(tmp_path),
                     "--allow-paths", str(tmp_path)], stdin=json.dumps(request))
    out = json.loads(proc.stdout)
    assert not [e for e in out.get("errors", []) if e["severity"] == "error"], out["errors"]
    main = out["contracts"]["src/Main.sol"]["Main"]
    assert [f["name"] for f in main["abi"]] == ["one"]
    assert main["evm"]["bytecode"]["object"]
    assert "lib/Base.sol" in out["sources"]


def test_missing_import_is_a_compiler_error_not_a_crash(solc_wrapper, run_tool, tmp_path):
    request = {"language": "Solidity",
               "sources": {"A.sol": {"content": 'pragma solidity ^0.8.0; import "nope/X.sol"; contract A {}'}},
               "settings": {"outputSelection": {"*": {"*": ["abi"]}}}}
    proc = run_tool([solc_wrapper, "--standard-json", "--base-path", str(tmp_path)],
                    stdin=json.dumps(request))
    errors = json.loads(proc.stdout)["errors"]
    assert any(e["severity"] == "error" and "nope/X.sol" in e["message"] for e in errors)
