"""Tensor.sol compiles with the pinned solc (standard JSON, prague, optimizer on)."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "imochain" / "contracts" / "src" / "Tensor.sol"
SOLC = ROOT / "node_modules" / "solc"

HARNESS = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;
import "Tensor.sol";
contract TensorHarness {
    function roundtrip(int8[] memory v) external pure returns (bytes memory t, uint256 best, uint256 n) {
        t = Tensor.int8Vector(v); best = Tensor.argmax(t); n = Tensor.length(t);
    }
    function classify(bytes32 h, bytes memory t) external view returns (uint256) { return Tensor.classify(h, t); }
}
"""

COMPILE = """
const solc = require(process.argv[1]);
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(solc.compile(JSON.stringify(input)));
"""


@pytest.mark.skipif(shutil.which("node") is None or not SOLC.exists(), reason="node or node_modules/solc missing")
def test_tensor_sol_compiles():
    request = {
        "language": "Solidity",
        "sources": {"Tensor.sol": {"content": SOURCE.read_text()}, "Harness.sol": {"content": HARNESS}},
        "settings": {"evmVersion": "prague", "optimizer": {"enabled": True, "runs": 200},
                     "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}}},
    }
    proc = subprocess.run(["node", "-e", COMPILE, str(SOLC)], input=json.dumps(request), capture_output=True,
                          text=True, timeout=120, check=True)
    output = json.loads(proc.stdout)
    errors = [e for e in output.get("errors", []) if e["severity"] == "error"]
    assert not errors, [e["formattedMessage"] for e in errors]
    assert output["contracts"]["Harness.sol"]["TensorHarness"]["evm"]["bytecode"]["object"]
