"""Foundry's `forge` against a running imochain node: build with tools/solc, `forge create`,
`forge script --broadcast`, each checked on chain with `cast`.

The invocations are the ones a user types, plus `--offline --use tools/solc` so forge neither
downloads a compiler nor reaches the network.
"""

from __future__ import annotations

import json

import pytest

from tools_support import DEV_ADDRS, DEV_KEYS


@pytest.fixture(scope="module")
def call(cast, run_tool, imochain_url):
    def run(*args: str) -> str:
        return run_tool([cast, args[0], "--rpc-url", imochain_url, *args[1:]]).stdout.strip()
    return run


def test_build_used_solc_js_through_the_wrapper(foundry_project, counter_artifact):
    art = json.loads(counter_artifact.read_text())
    names = {item.get("name") for item in art["abi"]}
    assert {"increment", "setNumber", "number", "Incremented", "NotOwner"} <= names
    assert art["metadata"]["compiler"]["version"].startswith("0.8.30")
    assert art["deployedBytecode"]["object"].startswith("0x6080")
    assert (foundry_project / "out" / "Deploy.s.sol" / "Deploy.json").exists()


def test_forge_create_with_constructor_args(forge, solc_wrapper, foundry_project, run_tool,
                                            imochain_url, call):
    out = run_tool([forge, "create", "--offline", "--use", solc_wrapper, "--rpc-url", imochain_url,
                    "--private-key", DEV_KEYS[0], "--broadcast", "--json",
                    "src/Counter.sol:Counter", "--constructor-args", "42", "from forge"],
                   cwd=foundry_project).stdout
    deployed = json.loads(out[out.index("{"):])
    assert deployed["deployer"].lower() == DEV_ADDRS[0].lower()
    address, tx_hash = deployed["deployedTo"], deployed["transactionHash"]
    receipt = json.loads(call("receipt", tx_hash, "--json"))
    assert receipt["status"] == "0x1"
    assert receipt["contractAddress"].lower() == address.lower()
    assert call("call", address, "number()(uint256)") == "42"
    assert call("call", address, "label()(string)") == '"from forge"'
    assert call("call", address, "owner()(address)").lower() == DEV_ADDRS[0].lower()
    code = call("code", address)
    art = json.loads((foundry_project / "out" / "Counter.sol" / "Counter.json").read_text())
    assert code == art["deployedBytecode"]["object"]


def test_forge_create_unlocked(forge, solc_wrapper, foundry_project, run_tool, imochain_url, call):
    out = run_tool([forge, "create", "--offline", "--use", solc_wrapper, "--rpc-url", imochain_url,
                    "--unlocked", "--from", DEV_ADDRS[1], "--broadcast", "--json",
                    "src/Counter.sol:Counter", "--constructor-args", "7", "unlocked"],
                   cwd=foundry_project).stdout
    deployed = json.loads(out[out.index("{"):])
    assert call("call", deployed["deployedTo"], "owner()(address)").lower() == DEV_ADDRS[1].lower()
    assert call("call", deployed["deployedTo"], "number()(uint256)") == "7"


@pytest.mark.parametrize("signer", ["private-key", "unlocked"])
def test_forge_script_broadcast_deploys_and_calls(forge, solc_wrapper, foundry_project, run_tool,
                                                  imochain_url, call, signer):
    if signer == "private-key":  # signed by forge, sent with eth_sendRawTransaction
        sender, how = DEV_ADDRS[2], ["--private-key", DEV_KEYS[2]]
    else:  # signed by the node: eth_sendTransaction
        sender = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"  # dev account 3
        how = ["--unlocked", "--sender", sender]
    nonce_before = int(call("nonce", sender))
    proc = run_tool([forge, "script", "--offline", "--use", solc_wrapper,
                     "script/Deploy.s.sol:Deploy", "--rpc-url", imochain_url, *how, "--broadcast"],
                    cwd=foundry_project, env={"COUNTER_START": "7"}, timeout=120)
    assert "ONCHAIN EXECUTION COMPLETE & SUCCESSFUL" in proc.stdout
    run = json.loads((foundry_project / "broadcast" / "Deploy.s.sol" / "31337" / "run-latest.json").read_text())
    kinds = [(t["transactionType"], t.get("function")) for t in run["transactions"]]
    assert kinds == [("CREATE", None), ("CALL", "increment()"), ("CALL", "setNumber(uint256)")]
    assert [r["status"] for r in run["receipts"]] == ["0x1", "0x1", "0x1"]
    address = run["transactions"][0]["contractAddress"]
    # On chain: the deploy and both calls happened, from the script's sender.
    assert call("call", address, "number()(uint256)") == "42"  # 7, +1, then set to 7 * 6
    assert call("call", address, "label()(string)") == '"scripted"'
    assert call("call", address, "owner()(address)").lower() == sender.lower()
    assert int(call("nonce", sender)) == nonce_before + 3
    for r in run["receipts"]:
        assert json.loads(call("receipt", r["transactionHash"], "--json"))["status"] == "0x1"


@pytest.mark.parametrize("pin", [[], ["--fork-block-number", "1"]], ids=["latest", "block1"])
def test_forge_test_against_a_fork_of_the_node(forge, solc_wrapper, foundry_project, run_tool,
                                               imochain_url, call, pin):
    """forge's own EVM reads imochain's state over RPC: genesis contracts, balances, chain id
    (at the head, and at a past block: historical eth_getCode / eth_getBalance)."""
    if pin and int(call("block-number")) < 1:
        call("rpc", "anvil_mine")
    proc = run_tool([forge, "test", "--offline", "--use", solc_wrapper, "--fork-url", imochain_url,
                     *pin, "--match-path", "test/Fork.t.sol"], cwd=foundry_project, timeout=120)
    assert "3 passed; 0 failed" in proc.stdout, proc.stdout
