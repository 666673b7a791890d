"""The node's own players of the bisection game: a lying oracle's int8 text answer is disputed by
the node's challenger, bisected move by move as blocks come, and corrected; an honest one is left
alone."""

from __future__ import annotations

import pytest

from imochain.contracts import GENESIS_ADDRESSES, abi
from imochain.contracts import genesis as G
from imochain.oracle import bisection as B
from imochain.oracle import start_services
from imochain.testing import in_process_web3

Int8Llama = pytest.importorskip("imochain.models.text.int8", reason="needs part A's Int8Llama").Int8Llama

MODEL_ID = 778


def _chain(fault_rate):
    w3, node = in_process_web3()
    stepper = node.inference.add_stepped_model(Int8Llama.tiny(seed=5, layers=2, width=64))
    c = {n: w3.eth.contract(address=GENESIS_ADDRESSES[n], abi=abi(n)) for n in ("AIOracle", "Prompt", "OpML")}
    owner = w3.eth.accounts[0]
    c["AIOracle"].functions.uploadModel(MODEL_ID, stepper.model_hash, bytes(32), G.MODEL_FEE, owner, 80,
                                        "0x" + "00" * 20, False).transact({"from": owner})
    start_services(node, fault_rate=fault_rate)
    return w3, node, stepper, c


def _ask(w3, c, prompt_text):
    prompt = c["Prompt"]
    tx = prompt.functions.calculateAIResult(MODEL_ID, prompt_text).transact(
        {"from": w3.eth.accounts[1], "value": prompt.functions.estimateFee(MODEL_ID).call()})
    w3.eth.wait_for_transaction_receipt(tx)
    return c["AIOracle"].functions.nextRequestId().call() - 1


def _players(node):
    return [s for s in node.services if isinstance(s, (B.BisectionOperator, B.BisectionChallenger))]


def test_lying_oracle_loses_the_bisection_to_the_nodes_challenger():
    w3, node, stepper, c = _chain(fault_rate=1.0)
    try:
        rid = _ask(w3, c, b"Tell me")
        operator, challenger = _players(node)
        bis = bytes.fromhex(GENESIS_ADDRESSES["OpMLBisection"][2:])
        for _ in range(100):  # every move is a transaction, automined: the game runs itself
            if B.read_dispute(node, bis, rid).phase in (B.OPERATOR_WON, B.CHALLENGER_WON):
                break
            w3.provider.make_request("evm_mine", [])
        d = B.read_dispute(node, bis, rid)
        assert B.PHASES[d.phase] == "ChallengerWon"
        honest = B_trace(stepper, b"Tell me")
        # the fault switch changed the text, not the steps: the dispute ends at the answer step
        assert d.disputed == len(honest) - 1
        assert challenger.checked[rid] is False
        assert c["AIOracle"].functions.getOutput(rid).call() == honest.answer
        assert c["OpML"].functions.gameStatus(rid).call() == 3
        assert d.rounds <= (len(honest) - 1).bit_length() + 1
    finally:
        node.close()


def test_honest_answer_is_not_disputed():
    w3, node, stepper, c = _chain(fault_rate=0.0)
    try:
        rid = _ask(w3, c, b"Tell me")
        for _ in range(G.DEFAULT_CHALLENGE_WINDOW + 1):
            w3.provider.make_request("evm_mine", [])
        operator, challenger = _players(node)
        assert challenger.checked[rid] is True
        assert c["AIOracle"].functions.isFinalized(rid).call()
        bis = bytes.fromhex(GENESIS_ADDRESSES["OpMLBisection"][2:])
        assert B.read_dispute(node, bis, rid).phase == B.NONE
        assert w3.eth.contract(address=GENESIS_ADDRESSES["OpMLBisection"], abi=abi("OpMLBisection")) \
            .functions.commitments(rid).call()[1] == len(B_trace(stepper, b"Tell me"))
        assert rid not in operator.traces  # dropped once final
    finally:
        node.close()


def B_trace(stepper, prompt):
    from imochain.models.text.trace import Trace
    return Trace(stepper, prompt, G.BISECTION_MAX_NEW_TOKENS)


def test_the_nodes_challenger_wins_by_timeout_when_the_operator_goes_silent():
    w3, node, stepper, c = _chain(fault_rate=1.0)
    try:
        operator, challenger = _players(node)
        operator.stop()  # the lying operator never commits its trace
        rid = _ask(w3, c, b"Tell me")
        bis = bytes.fromhex(GENESIS_ADDRESSES["OpMLBisection"][2:])
        assert B.read_dispute(node, bis, rid).phase == B.COMMIT
        for _ in range(G.BISECTION_MOVE_WINDOW + 3):
            w3.provider.make_request("evm_mine", [])
        d = B.read_dispute(node, bis, rid)
        assert B.PHASES[d.phase] == "ChallengerWon"
        assert c["AIOracle"].functions.getOutput(rid).call() == B_trace(stepper, b"Tell me").answer
    finally:
        node.close()
