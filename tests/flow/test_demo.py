"""`imochain demo --json` runs the whole IMO story; its record is checked step by step."""

import json
import subprocess
import sys

from imochain.builder import build_node
from imochain.chain import NodeConfig
from imochain.testing import running_node

from imochain.models.text import locate_default_gguf

TEXT = locate_default_gguf() is not None  # the language-model step runs when SmolLM2 is installed
TITLES = [
    "registers the digits models", "opens an Initial Model Offering",
    *(["asks a language model"] if TEXT else []), "oversubscribed", "finalized",
    "claim their tokens", "classifications through the AI oracle", "claimed into the ERC-7641 token",
    "snapshot", "claim pro rata", "ERC-7007 NFT", "lying oracle", "bisected down to one step", "burns tokens", "reconcile to the wei",
]


def run_demo(*extra: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "imochain.cli", "demo", "--json", *extra],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert "MismatchedABI" not in proc.stderr  # only each ABI's own events are decoded
    return json.loads(proc.stdout)


def check_record(record: dict) -> None:
    assert record["ok"] is True
    steps = record["steps"]
    assert len(steps) == len(TITLES)
    for step, words in zip(steps, TITLES):
        assert words in step["title"], (words, step["title"])
        assert step["checks"], f"step {step['title']!r} checked nothing"
        assert all(c["ok"] for c in step["checks"])
        assert "developer" in step["balances"]
    final = steps[-1]["checks"][0]
    assert int(final["start"]) == int(final["end"]) + int(final["burned"])
    nft = next(s for s in steps if "ERC-7007" in s["title"])
    art = [line for line in nft["narration"] if line.startswith("    ")]
    assert len(art) == 8  # the 8×8 image, drawn
    for step in steps[:-1]:  # every step but the final sum records what it did
        assert step["data"], step["title"]
        for tx in step["data"].get("transactions", []):
            assert tx["hash"].startswith("0x") and tx["gasUsed"] > 0 and isinstance(tx["value"], str)
    assert all(isinstance(v, str) for s in steps for row in s["balances"].values() for v in row.values())
    assert steps[0]["data"]["model_ids"]["classifier"] > 0
    if TEXT:  # the model was given the facts, and its answer repeats them
        text = steps[2]["data"]
        assert "ERC-7641" in text["prompt"] and "revenue" in text["answer"].lower() and text["request_id"] >= 0


def test_demo_in_process():
    check_record(run_demo())


def test_demo_against_a_running_node():
    from imochain.demo_bisection import add_demo_text_model
    node = build_node(NodeConfig(), services=True)
    add_demo_text_model(node, prefer_served=False)  # the tiny one: SmolLM2's runs in-process above
    with running_node(node=node) as url:
        check_record(run_demo("--rpc", url))
        check_record(run_demo("--rpc", url))  # a teacher runs it again on the same node


def test_demo_reports_an_unreachable_node():
    proc = subprocess.run([sys.executable, "-m", "imochain.cli", "demo", "--rpc", "http://127.0.0.1:9"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "no node answers" in proc.stderr
