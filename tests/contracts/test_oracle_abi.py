"""ABI conformance with ORA's AI oracle (reference/ora.md): every selector and event topic listed
there is in the compiled artifacts with the same signature, and the genesis oracle runs that code."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from imochain.contracts import GENESIS_ADDRESSES, abi, load_artifact
from oracle_support import events, send

# Signature -> selector / topic exactly as committed in reference/ora.md.
ORA_FUNCTIONS = {
    "requestCallback(uint256,bytes,address,uint64,bytes)": "0x5b953806",
    "requestCallback(uint256,bytes,address,uint64,bytes,uint8,uint8)": "0x8c2c1ed8",
    "requestBatchInference(uint256,uint256,bytes,address,uint64,bytes,uint8,uint8)": "0x409694fa",
    "estimateFee(uint256,uint256)": "0x00e1d8d0",
    "estimateFeeBatch(uint256,uint256,uint256)": "0x5170b6af",
    "getModel(uint256)": "0x6d361694",
    "isFinalized(uint256)": "0x33727c4d",
    "invokeCallback(uint256,bytes)": "0x55d15d93",
    "feedbackError(uint256,uint8,bytes)": "0x67a16913",
    "updateResult(uint256,bytes)": "0x3c785493",
    "claimModelRevenue(uint256)": "0x5638101b",
}
ORA_EVENTS = {
    "AICallbackRequest(address,uint256,uint256,bytes,address,uint64,bytes)":
        "0x849aa5adc3bf6a75cb08afbf31d88d1528c274e5d84e3d4355d23d8e9ebd649b",
    "AICallbackRequest(address,uint256,uint256,bytes,address,uint64,bytes,uint8,uint8,uint256)":
        "0x559924afbacb3c57c52632c869b00ba6f87a7da06ecd3820325ae923e38b0c61",
    "AICallbackResult(address,uint256,address,bytes)":
        "0xb7b413554c4e94c80cfbb175a0e4727f2f425d29b980195c49dac293c2914fc0",
}
# Listed in ora.md without a selector: present by name.
ORA_NAMED = [
    "updateModel", "removeModel", "setModelFee", "setModelReceiver", "setModelReceiverPercentage", "setOpml",
    "addToWhitelist", "removeFromWhitelist", "addToBlacklist", "removeFromBlacklist", "withdraw",
    "transferOwnership", "requests", "gasPrice", "modelIDs", "numberOfModels", "opml", "owner", "whitelist",
    "blacklist",
]
CALLBACKS = {
    "aiOracleCallback(uint256,bytes,bytes)": "0xb0347814",
    "aiOracleCallbackError(uint256,uint8,bytes,bytes)": "0x8e6fd006",
}
GETMODEL_OUTPUTS = ["bytes32", "bytes32", "uint256", "address", "uint256", "uint256", "address", "bool"]


def _sig(entry: dict) -> str:
    def t(x):
        if x["type"].startswith("tuple"):
            return "(" + ",".join(t(c) for c in x["components"]) + ")" + x["type"][5:]
        return x["type"]

    return f"{entry['name']}({','.join(t(i) for i in entry['inputs'])})"


def _functions(name: str) -> dict[str, dict]:
    return {_sig(e): e for e in abi(name) if e["type"] == "function"}


def _events(name: str) -> dict[str, dict]:
    return {_sig(e): e for e in abi(name) if e["type"] == "event"}


def _sel(sig: str) -> str:
    return "0x" + keccak(text=sig)[:4].hex()


@pytest.mark.parametrize("sig,selector", sorted(ORA_FUNCTIONS.items()))
def test_function_selectors(sig, selector):
    assert _sel(sig) == selector  # the committed value in ora.md
    assert sig in _functions("AIOracle")
    assert sig in _functions("IAIOracleExtended")


@pytest.mark.parametrize("sig,topic0", sorted(ORA_EVENTS.items()))
def test_event_topics(sig, topic0):
    assert "0x" + keccak(text=sig).hex() == topic0
    assert sig in _events("AIOracle")
    assert sig in _events("IAIOracle")


def test_indexed_fields_match_ora():
    for sig, ev in _events("AIOracle").items():
        if sig.startswith("AICallbackRequest(") or sig.startswith("AICallbackResult("):
            assert [i["indexed"] for i in ev["inputs"][:2]] == [True, True]
            assert not any(i["indexed"] for i in ev["inputs"][2:])
    confirm = _events("AIOracle")["Confirm(address,uint256,bytes32)"]
    assert [i["indexed"] for i in confirm["inputs"]] == [True, False, False]


def test_other_ora_functions_present():
    fns = _functions("AIOracle")
    assert "uploadModel(uint256,bytes32,bytes32,uint256,address,uint256,address,bool)" in fns
    names = {e["name"] for e in abi("AIOracle") if e["type"] == "function"}
    missing = [n for n in ORA_NAMED if n not in names]
    assert not missing
    # public getters with ORA's argument types
    for sig in ["modelIDs(uint256)", "whitelist(address)", "blacklist(address)", "requests(uint256)",
                "gasPrice()", "opml()", "owner()", "numberOfModels()", "withdraw()",
                "transferOwnership(address)", "addToWhitelist(address)", "removeFromWhitelist(address)",
                "addToBlacklist(address)", "removeFromBlacklist(address)", "setOpml(address)",
                "setModelFee(uint256,uint256)", "setModelReceiver(uint256,address)",
                "setModelReceiverPercentage(uint256,uint256)", "removeModel(uint256)"]:
        assert sig in fns, sig


def test_get_model_returns_ora_tuple():
    out = _functions("AIOracle")["getModel(uint256)"]["outputs"]
    assert [o["type"] for o in out] == GETMODEL_OUTPUTS
    assert [o["name"] for o in out] == [
        "modelHash", "programHash", "fee", "receiver", "receiverPercentage", "accumulateRevenue", "token",
        "unverifiable",
    ]


def test_request_entry_points_payable_and_return_id():
    fns = _functions("AIOracle")
    for sig in list(ORA_FUNCTIONS)[:3]:
        assert fns[sig]["stateMutability"] == "payable"
        assert [o["type"] for o in fns[sig]["outputs"]] == ["uint256"]
    for sig in ["estimateFee(uint256,uint256)", "estimateFeeBatch(uint256,uint256,uint256)",
                "isFinalized(uint256)", "getModel(uint256)"]:
        assert fns[sig]["stateMutability"] == "view"


@pytest.mark.parametrize("sig,selector", sorted(CALLBACKS.items()))
def test_callback_selectors(sig, selector):
    assert _sel(sig) == selector
    found = {**_functions("IAICallbackReceiver"), **_functions("IAICallbackErrorReceiver")}
    assert sig in found
    if sig.startswith("aiOracleCallback("):
        assert sig in _functions("Prompt")
        assert sig in _functions("AIOracleCallbackReceiver")


def test_unauthorized_callback_source_error():
    errors = {_sig(e) for e in abi("AIOracleCallbackReceiver") if e["type"] == "error"}
    assert "UnauthorizedCallbackSource(address,address)" in errors


def test_ora_opml_selectors_kept():
    fns = _functions("OpML")
    assert "getOutputHash(uint256)" in fns and "isFinalized(uint256)" in fns


def test_genesis_oracle_runs_the_artifact(w3):
    code = w3.eth.get_code(GENESIS_ADDRESSES["AIOracle"])
    assert bytes(code) == bytes.fromhex(load_artifact("AIOracle")["deployedBytecode"][2:])
    for selector in ORA_FUNCTIONS.values():
        # in the dispatcher (PUSH4, or PUSH3 when the selector starts with a zero byte)
        assert bytes.fromhex(selector[2:]).lstrip(b"\0") in bytes(code)


def test_ora_style_consumer_runs_unchanged(w3, oracle, ora_style_consumer, accounts, operator):
    """A consumer written the way ORA's examples are (string prompt, msg.value forwarded) compiles
    against the repo's IAIOracle and AIOracleCallbackReceiver and works at ORA's address."""
    c = ora_style_consumer
    fee = c.functions.estimateFee(1).call()
    r = send(c.functions.calculateAIResult(1, "hello"), accounts[1], value=fee)
    rid = events(oracle, "AICallbackRequest", r)[0].args.requestId
    send(oracle.functions.invokeCallback(rid, b"world"), operator)
    assert c.functions.prompts(1, "hello").call() == "world"
    assert not c.functions.isFinalized(rid).call()
