"""The bisection game over int8 text answers (OpMLBisection) on the running chain, with a tiny
random int8 Llama: commitments, rounds down to one layer of one token, the final step re-executed
through 0xA1's layer-step entry, timeouts, bonds, corrected answers, and malformed moves."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_utils import keccak

from imochain.contracts import GENESIS_ADDRESSES, abi
from imochain.contracts import genesis as G
from imochain.oracle import bisection as B
from oracle_support import events, mine, reverts, send

Int8Llama = pytest.importorskip("imochain.models.text.int8", reason="needs part A's Int8Llama").Int8Llama

MODEL_ID = 777
PROMPT = b"Hi there"
MAX_NEW = G.BISECTION_MAX_NEW_TOKENS
BOND = G.CHALLENGE_BOND
WINDOW = G.BISECTION_MOVE_WINDOW
LAYERS = 2


@pytest.fixture(scope="session")
def stepper(_chain):
    return _chain[1].inference.add_stepped_model(Int8Llama.tiny(seed=3, layers=LAYERS, width=64))


@pytest.fixture(scope="session")
def honest_trace(stepper):
    return B_trace(stepper)


def B_trace(stepper, tamper=None):
    from imochain.models.text.trace import Trace
    return Trace(stepper, PROMPT, MAX_NEW, tamper)


@pytest.fixture
def bisection(w3):
    return w3.eth.contract(address=GENESIS_ADDRESSES["OpMLBisection"], abi=abi("OpMLBisection"))


@pytest.fixture
def request_id(w3, oracle, prompt, owner, accounts, stepper):
    """A prompt request to the tiny int8 text model, registered for the opML game."""
    send(oracle.functions.uploadModel(MODEL_ID, stepper.model_hash, bytes(32), G.MODEL_FEE, owner, 80,
                                      "0x" + "00" * 20, False), owner)
    r = send(prompt.functions.calculateAIResult(MODEL_ID, PROMPT), accounts[1],
             value=prompt.functions.estimateFee(MODEL_ID).call())
    return events(oracle, "AICallbackRequest", r)[0].args.requestId


def post(oracle, bisection, operator, rid, trace, commit=True):
    send(oracle.functions.invokeCallback(rid, trace.answer), operator)
    if commit:
        send(bisection.functions.commitTrace(rid, trace.root, len(trace), trace.proof(len(trace) - 1)), operator)


def move(w3, who, data, gas=B.TX_GAS_CAP):
    r = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(
        {"from": who, "to": GENESIS_ADDRESSES["OpMLBisection"], "data": data, "gas": gas}))
    assert r.status == 1, r
    return r


def play(w3, node, rid, operator, op_trace, challenger, ch_trace):
    """Both sides play their traces to the verdict; returns the gas of each move."""
    bis = bytes.fromhex(GENESIS_ADDRESSES["OpMLBisection"][2:])
    gas = []
    for _ in range(2 * 30):
        d = B.read_dispute(node, bis, rid)
        if d.phase in (B.OPERATOR_WON, B.CHALLENGER_WON):
            return d, gas
        data = B.operator_move(rid, op_trace, d)
        who = operator
        if data is None:
            data, who = B.challenger_move(rid, ch_trace, d), challenger
        gas.append((B.PHASES[d.phase], move(w3, who, data).gasUsed))
    raise AssertionError("no verdict")


def lie_at(index, change):
    """A tamper hook changing the state computed at `index`."""
    return lambda i, s: change(s) if i == index else s


def other_token(stepper):
    """Tamper: the token a head step just generated becomes the next one in the vocabulary."""
    def change(s):
        token = (s.tokens[-1] + 1) % stepper.vocab
        return replace(s, tokens=s.tokens[:-1] + (token,), x=stepper._embed(token))
    return change


def first_generated(trace):
    """Index of the state right after the head step that generated the first answer token."""
    return next(i for i, s in enumerate(trace.states) if len(s.tokens) > s.prompt_len)


def test_honest_answer_finalizes_and_a_wrong_trace_challenge_loses(w3, node, oracle, opml, bisection, prompt,
                                                                   operator, accounts, stepper, honest_trace,
                                                                   request_id):
    rid = request_id
    post(oracle, bisection, operator, rid, honest_trace)
    assert bisection.functions.commitments(rid).call() == [honest_trace.root, len(honest_trace)]
    # a challenger whose own computation went wrong in the middle plays its trace faithfully
    mid = next(i for i, s in enumerate(honest_trace.states) if i > len(honest_trace) // 2 and s.layer == 0
               and len(s.tokens) > s.prompt_len)
    bad = B_trace(stepper, lie_at(mid, other_token(stepper)))
    assert bad.answer != honest_trace.answer
    challenger = accounts[3]
    send(bisection.functions.open(rid, bad.answer), challenger, value=BOND)
    assert opml.functions.gameStatus(rid).call() == 4  # Disputed
    assert not oracle.functions.isFinalized(rid).call()
    d, gas = play(w3, node, rid, operator, honest_trace, challenger, bad)
    assert d.phase == B.OPERATOR_WON and d.disputed == mid
    assert d.rounds <= (len(honest_trace) - 1).bit_length() + 1
    assert opml.functions.gameStatus(rid).call() == 2  # Upheld
    assert oracle.functions.isFinalized(rid).call()
    assert opml.functions.bondOf(operator).call() == G.OPERATOR_BOND + BOND
    assert prompt.functions.deliveries(rid).call() == 1
    assert [p for p, _ in gas].count("Settle") == 1


def test_lie_at_the_first_token_loses_to_the_honest_challenger(w3, node, oracle, opml, bisection, prompt,
                                                                operator, accounts, stepper, honest_trace,
                                                                request_id):
    rid = request_id
    i = first_generated(honest_trace)
    lie = B_trace(stepper, lie_at(i, other_token(stepper)))
    assert lie.answer != honest_trace.answer and lie.leaves[:i] == honest_trace.leaves[:i]
    post(oracle, bisection, operator, rid, lie)
    challenger = accounts[3]
    send(bisection.functions.open(rid, honest_trace.answer), challenger, value=BOND)
    d, _ = play(w3, node, rid, operator, lie, challenger, honest_trace)
    assert d.phase == B.CHALLENGER_WON and d.disputed == i
    assert honest_trace.locate(i - 1) == f"token {len(PROMPT) - 1} head"
    assert opml.functions.gameStatus(rid).call() == 3  # Corrected
    assert oracle.functions.getOutput(rid).call() == honest_trace.answer
    assert prompt.functions.deliveries(rid).call() == 2
    assert opml.functions.bondOf(challenger).call() == BOND + G.RESULT_BOND
    assert opml.functions.bondOf(operator).call() == G.OPERATOR_BOND - G.RESULT_BOND


def test_lie_at_the_last_layer_of_the_last_token(w3, node, oracle, bisection, operator, accounts, stepper,
                                                 honest_trace, request_id):
    rid = request_id
    # the state after the last layer of the last position forwarded: the one before the last head
    i = max(k for k, s in enumerate(honest_trace.states) if s.layer == LAYERS)
    assert honest_trace.locate(i - 1).endswith(f"layer {LAYERS - 1}")
    lie = B_trace(stepper, lie_at(i, lambda s: replace(s, x=-s.x)))
    assert lie.answer != honest_trace.answer and lie.leaves[:i] == honest_trace.leaves[:i]
    post(oracle, bisection, operator, rid, lie)
    challenger = accounts[3]
    send(bisection.functions.open(rid, honest_trace.answer), challenger, value=BOND)
    d, _ = play(w3, node, rid, operator, lie, challenger, honest_trace)
    assert d.phase == B.CHALLENGER_WON and d.disputed == i


def test_a_wrong_answer_claim_loses_at_state_zero(w3, node, oracle, opml, bisection, operator, accounts,
                                                  honest_trace, request_id):
    """A griefer who disagrees with everything ends at state 0, which the contract computes
    from the prompt itself: the operator wins."""
    rid = request_id
    post(oracle, bisection, operator, rid, honest_trace)
    challenger = accounts[3]
    send(bisection.functions.open(rid, b"something else"), challenger, value=BOND)
    bis = bytes.fromhex(GENESIS_ADDRESSES["OpMLBisection"][2:])
    while (d := B.read_dispute(node, bis, rid)).phase not in (B.OPERATOR_WON, B.CHALLENGER_WON):
        if d.phase == B.REVEAL:
            move(w3, operator, B.operator_move(rid, honest_trace, d))
        elif d.phase == B.RESPOND:
            send(bisection.functions.respond(rid, False), challenger)
        else:
            send(bisection.functions.settle(rid, b""), accounts[5])  # anyone may settle
    assert d.phase == B.OPERATOR_WON and d.disputed == 0
    assert opml.functions.gameStatus(rid).call() == 2


def test_challenger_who_stops_responding_loses(w3, node, oracle, opml, bisection, operator, accounts, stepper,
                                               honest_trace, request_id):
    rid = request_id
    post(oracle, bisection, operator, rid, honest_trace)
    challenger = accounts[3]
    send(bisection.functions.open(rid, b"wrong"), challenger, value=BOND)
    bis = bytes.fromhex(GENESIS_ADDRESSES["OpMLBisection"][2:])
    move(w3, operator, B.operator_move(rid, honest_trace, B.read_dispute(node, bis, rid)))
    reverts(bisection.functions.timeout(rid), "deadline not reached", accounts[5])
    mine(w3, WINDOW)
    r = send(bisection.functions.timeout(rid), accounts[5])
    (ev,) = events(bisection, "DisputeSettled", r)
    assert not ev.args.challengerWon and ev.args.byTimeout
    assert opml.functions.gameStatus(rid).call() == 2
    reverts(bisection.functions.respond(rid, True), "not this move", challenger)


def test_operator_who_never_commits_loses_and_the_answer_is_corrected(w3, node, oracle, opml, bisection, prompt,
                                                                       operator, accounts, honest_trace,
                                                                       request_id):
    rid = request_id
    send(oracle.functions.invokeCallback(rid, b"made up"), operator)
    challenger = accounts[3]
    send(bisection.functions.open(rid, honest_trace.answer), challenger, value=BOND)
    assert B.read_dispute(node, bytes.fromhex(GENESIS_ADDRESSES["OpMLBisection"][2:]), rid).phase == B.COMMIT
    mine(w3, WINDOW + 1)
    reverts(bisection.functions.commitTrace(rid, honest_trace.root, len(honest_trace),
                                            honest_trace.proof(len(honest_trace) - 1)), "deadline passed", operator)
    r = send(bisection.functions.timeout(rid), challenger)
    assert events(bisection, "DisputeSettled", r)[0].args.challengerWon
    assert oracle.functions.getOutput(rid).call() == honest_trace.answer
    assert prompt.functions.deliveries(rid).call() == 2
    # the operator's stake stays locked while a dispute could still run
    assert opml.functions.lockedUntil(operator).call() > w3.eth.block_number + WINDOW


def test_malformed_moves_are_refused(w3, node, oracle, opml, bisection, operator, accounts, stepper, honest_trace,
                                     request_id):
    rid, n, t = request_id, len(honest_trace), honest_trace
    challenger, stranger = accounts[3], accounts[5]
    send(oracle.functions.invokeCallback(rid, t.answer), operator)
    last = t.proof(n - 1)
    reverts(bisection.functions.commitTrace(rid, t.root, n, last), "only the result's operator", stranger)
    reverts(bisection.functions.commitTrace(rid, t.root, n - 1, last), "last leaf is not the answer", operator)
    reverts(bisection.functions.commitTrace(rid, keccak(b"x"), n, last), "last leaf is not the answer", operator)
    reverts(bisection.functions.commitTrace(rid, t.root, 1, []), "steps out of range", operator)
    send(bisection.functions.commitTrace(rid, t.root, n, last), operator)
    reverts(bisection.functions.commitTrace(rid, t.root, n, last), "trace already committed", operator)
    reverts(bisection.functions.open(rid, b"no"), "wrong challenge bond", challenger, value=BOND - 1)
    reverts(bisection.functions.open(rid, t.answer), "same answer as the result", challenger, value=BOND)
    reverts(opml.functions.openDispute(rid, 0), "only bisection", challenger)
    send(bisection.functions.open(rid, b"no"), challenger, value=BOND)
    reverts(bisection.functions.open(rid, b"again"), "already disputed", stranger, value=BOND)
    reverts(opml.functions.challenge(rid), "under bisection dispute", stranger, value=BOND)
    d = B.read_dispute(node, bytes.fromhex(GENESIS_ADDRESSES["OpMLBisection"][2:]), rid)
    assert d.phase == B.REVEAL
    # out of turn, wrong party, bad proof
    reverts(bisection.functions.respond(rid, True), "not this move", challenger)
    reverts(bisection.functions.settle(rid, b""), "not this move", stranger)
    reverts(bisection.functions.reveal(rid, t.leaves[d.mid], t.proof(d.mid)), "only the result's operator", stranger)
    reverts(bisection.functions.reveal(rid, keccak(b"no"), t.proof(d.mid)), "bad proof", operator)
    reverts(bisection.functions.reveal(rid, t.leaves[d.mid], t.proof(d.mid)[:-1]), "bad proof", operator)
    send(bisection.functions.reveal(rid, t.leaves[d.mid], t.proof(d.mid)), operator)
    reverts(bisection.functions.respond(rid, True), "only the challenger", operator)
    # the challenger agrees all the way up: the dispute ends at the answer step
    bis = bytes.fromhex(GENESIS_ADDRESSES["OpMLBisection"][2:])
    while (d := B.read_dispute(node, bis, rid)).phase != B.SETTLE:
        if d.phase == B.RESPOND:
            send(bisection.functions.respond(rid, True), challenger)
        else:
            move(w3, operator, B.operator_move(rid, t, d))
    assert d.disputed == n - 1
    reverts(bisection.functions.settle(rid, t.preimage(n - 3)), "preimage does not match the agreed state", stranger)
    reverts(bisection.functions.settle(rid, b"\x01garbage"), "layer step failed", stranger)
    reverts(bisection.functions.settle(rid, b""), "layer step failed", stranger)
    mine(w3, WINDOW + 1)
    reverts(bisection.functions.settle(rid, t.preimage(n - 2)), "deadline passed", stranger)
    r = send(bisection.functions.timeout(rid), stranger)  # the challenger owed the proof
    assert not events(bisection, "DisputeSettled", r)[0].args.challengerWon


def test_a_lie_at_state_zero_is_caught_from_the_prompt(w3, node, oracle, bisection, operator, accounts, stepper,
                                                       honest_trace, request_id):
    """State 0 is never agreed: the contract recomputes it from the request's own prompt."""
    rid = request_id
    # (the tiny random model answers the same either way: the lie claims another answer too)
    lie = B_trace(stepper, lie_at(0, other_token_at_start(stepper))).claiming(b"made up")
    assert lie.leaves[0] != honest_trace.leaves[0]
    post(oracle, bisection, operator, rid, lie)
    challenger = accounts[3]
    send(bisection.functions.open(rid, honest_trace.answer), challenger, value=BOND)
    d, gas = play(w3, node, rid, operator, lie, challenger, honest_trace)
    assert d.phase == B.CHALLENGER_WON and d.disputed == 0


def other_token_at_start(stepper):
    """Tamper: state 0 reads a different first prompt token."""
    def change(s):
        token = (s.tokens[0] + 1) % stepper.vocab
        return replace(s, tokens=(token,) + s.tokens[1:], x=stepper._embed(token))
    return change
