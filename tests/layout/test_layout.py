"""The layout rules of the redesign (issue 12), checked on the source tree itself."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "imochain"
MAX_LINES = 500


def _modules(folder: Path = PACKAGE):
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def test_every_module_is_short_and_says_what_it_owns():
    long, silent = [], []
    for path in _modules():
        text = path.read_text()
        if text.count("\n") > MAX_LINES:
            long.append(f"{path.relative_to(PACKAGE)}: {text.count(chr(10))} lines")
        doc = ast.get_docstring(ast.parse(text))
        if not doc or not doc.splitlines()[0].strip():
            silent.append(str(path.relative_to(PACKAGE)))
    assert not long, long
    assert not silent, f"modules without a one-line docstring: {silent}"


def test_chain_imports_no_upper_layer():
    banned = ("imochain.rpc", "imochain.precompiles", "imochain.contracts", "imochain.models",
              "imochain.oracle", "imochain.builder", "imochain.ui")
    found = {str(p.relative_to(PACKAGE)): sorted(m for m in _imports(p) if m.startswith(banned))
             for p in _modules(PACKAGE / "chain")}
    assert not {k: v for k, v in found.items() if v}


def test_importing_the_chain_patches_nothing_and_loads_nothing_above_it():
    code = (
        "import sys, rlp.codec, trie.hexary\n"
        "before = (rlp.codec.encode_raw, trie.hexary.HexaryTrie.get_node)\n"
        "from imochain.chain import Node, NodeConfig\n"
        "Node(NodeConfig(accounts=1))\n"
        "assert (rlp.codec.encode_raw, trie.hexary.HexaryTrie.get_node) == before, 'patched on import'\n"
        "bad = [m for m in sys.modules if m.startswith(('imochain.rpc', 'imochain.precompiles', "
        "'imochain.contracts', 'imochain.models', 'imochain.oracle', 'torch'))]\n"
        "assert not bad, bad\n"
        "from imochain.builder import build_node\n"
        "from imochain.chain import speedups\n"
        "build_node(NodeConfig(accounts=1, genesis_contracts=False, default_text_model=False))\n"
        "assert rlp.codec.encode_raw is speedups._encode_raw, 'the builder installs the speed-ups'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _node_attributes_used(path: Path) -> set[str]:
    """Attributes read off the node in an rpc module: `node.x` and `ctx.node.x`."""
    used = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute):
            value = node.value
            if (isinstance(value, ast.Name) and value.id == "node") or (
                    isinstance(value, ast.Attribute) and value.attr == "node"):
                used.add(node.attr)
    return used


def test_rpc_uses_only_the_node_facade_public_surface():
    from imochain.chain import Node
    public = {n for n in dir(Node) if not n.startswith("_")}
    # public attributes set in Node.__init__ (the builder's model service, config, listeners)
    public |= {"config", "accounts", "inference", "models", "services", "block_listeners",
               "pending_listeners", "impersonated", "fork"}
    internals = {"lock", "pool", "storage", "states", "calls", "clock", "miner", "snapshots", "keys",
                 "notifications", "chain_class", "vm_class", "chain_context"}
    used = {}
    for path in _modules(PACKAGE / "rpc"):
        bad = sorted(a for a in _node_attributes_used(path) if a not in public or a in internals)
        if bad:
            used[path.name] = bad
    assert not used, f"rpc reaches past the node's public methods: {used}"


@pytest.mark.parametrize("literal", ["1_000_000_000", "10**9"])
def test_fee_policy_lives_in_chain_fees(literal):
    """Default tips and caps (1 gwei) are decided in chain/fees.py, not by the callers that
    price transactions and answer eth_gasPrice (rpc, the oracle's sender, the node's signing)."""
    callers = (_modules(PACKAGE / "rpc") + _modules(PACKAGE / "oracle")
               + [PACKAGE / "chain" / name for name in ("node.py", "signing.py", "calls.py", "validate.py")])
    offenders = [str(p.relative_to(PACKAGE)) for p in callers if literal in p.read_text()]
    assert not offenders, offenders
