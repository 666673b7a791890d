"""The oracle's economy under attack (issue 18), each attack reproduced against the genesis
contracts on the in-process chain: fee sandwiches, gas-price bumps, stuck and errored requests,
non-re-executable "verifiable" models, free requests draining the operator's stake, and many
wrong results settled in one challenge transaction."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from imochain.contracts import genesis as G
from oracle_support import events, reverts, send

ZERO = "0x" + "00" * 20
CLASSIFIER = G.MODEL_IDS["digits-classifier"]
GWEI = 10**9
BOND = G.CHALLENGE_BOND


@pytest.fixture
def classifier_hash(oracle):
    return oracle.functions.getModel(CLASSIFIER).call()[0]


def rpc(w3, method, *params):
    out = w3.provider.make_request(method, list(params))
    assert "error" not in out, out
    return out.get("result")


def one_block(w3, txs):
    """Sends `txs` (fn, sender, value, tip) with automine off and mines them into one block, in
    priority-fee order; returns their receipts."""
    rpc(w3, "evm_setAutomine", False)
    try:
        hashes = [fn.transact({"from": sender, "value": value, "gas": 3_000_000, "maxPriorityFeePerGas": tip,
                               "maxFeePerGas": 100 * GWEI}) for fn, sender, value, tip in txs]
        rpc(w3, "evm_mine")
    finally:
        rpc(w3, "evm_setAutomine", True)
    receipts = [w3.eth.get_transaction_receipt(h) for h in hashes]
    assert len({r.blockNumber for r in receipts}) == 1
    return receipts


def request(oracle, user, input_, value, model=CLASSIFIER):
    r = send(oracle.functions.requestCallback(model, input_, ZERO, 0, b""), user, value=value)
    return events(oracle, "AICallbackRequest", r)[0].args.requestId


def wrong(output: bytes) -> bytes:
    b = bytearray(output)
    i = len(b) - 1
    while b[i] == 0:
        i -= 1
    b[i] ^= 0x01
    return bytes(b)


# ------------------------------------------------------------------ finding 4: fee sandwich


def test_a_fee_raised_within_the_block_is_not_charged(w3, oracle, accounts, owner, digit_input):
    user = accounts[1]
    f = oracle.functions
    high = 10**18
    before = w3.eth.get_balance(user)
    raise_fee, req, restore = one_block(w3, [
        (f.setModelFee(CLASSIFIER, high), owner, 0, 3 * GWEI),  # front-run
        (f.requestCallback(CLASSIFIER, digit_input, ZERO, 0, b""), user, high, 2 * GWEI),  # the victim
        (f.setModelFee(CLASSIFIER, G.MODEL_FEE), owner, 0, 1 * GWEI),  # back-run
    ])
    assert raise_fee.transactionIndex < req.transactionIndex < restore.transactionIndex
    assert req.status == 1
    rid = events(oracle, "AICallbackRequest", req)[0].args.requestId
    # charged the fee the block started with; the rest of msg.value came back
    assert f.getRequestEscrow(rid).call() == G.MODEL_FEE
    assert w3.eth.get_balance(user) == before - G.MODEL_FEE - req.gasUsed * req.effectiveGasPrice
    # a raise applies from the next block on
    send(f.setModelFee(CLASSIFIER, 2 * G.MODEL_FEE), owner)
    reverts(f.requestCallback(CLASSIFIER, digit_input, ZERO, 0, b""), "insufficient fee", user, value=G.MODEL_FEE)


# ------------------------------------------------------------------ finding 11: gas price bump


def test_paying_estimate_fee_survives_a_fulfilment_earlier_in_the_block(w3, oracle, consumer, accounts, operator,
                                                                        digit_input, infer, classifier_hash):
    gas_limit = 500_000
    rid = request(oracle, accounts[2], digit_input, G.MODEL_FEE)
    fee = oracle.functions.estimateFee(CLASSIFIER, gas_limit).call()
    answer, req = one_block(w3, [
        (oracle.functions.invokeCallback(rid, infer(classifier_hash, digit_input)), operator, 0, 50 * GWEI),
        (consumer.functions.request(CLASSIFIER, digit_input, gas_limit, b""), accounts[1], fee, 1 * GWEI),
    ])
    assert answer.status == 1 and answer.transactionIndex < req.transactionIndex
    assert oracle.functions.gasPrice().call() > fee // gas_limit  # the fulfilment raised it ...
    assert req.status == 1  # ... but the request paid the price the block started with


# ------------------------------------------------------------------ finding 5: stuck requests


def test_unanswered_request_is_reclaimed_after_the_timeout(w3, oracle, accounts, operator, digit_input):
    user, stranger = accounts[1], accounts[2]
    f = oracle.functions
    rid = request(oracle, user, digit_input, G.MODEL_FEE)
    assert f.getRequestEscrow(rid).call() == G.MODEL_FEE
    reverts(f.reclaim(rid), "request not timed out", user)
    reverts(f.reclaim(999), "request not exists", user)
    deadline = f.getRequestDeadline(rid).call()
    rpc(w3, "evm_setNextBlockTimestamp", hex(deadline))
    before = w3.eth.get_balance(user)
    r = send(f.reclaim(rid), user)
    assert w3.eth.get_balance(user) == before + G.MODEL_FEE - r.gasUsed * r.effectiveGasPrice
    (ev,) = events(oracle, "RequestReclaimed", r)
    assert (ev.args.requestId, ev.args.account, ev.args.amount) == (rid, user, G.MODEL_FEE)
    assert f.getRequestStatus(rid).call() == 4  # Reclaimed
    assert f.getRequestEscrow(rid).call() == 0
    reverts(f.invokeCallback(rid, b"late"), "request already processed", operator)
    reverts(f.reclaim(rid), "request already processed", user)
    # anyone may close a timed-out request; the fee is then credited to the requester
    rid = request(oracle, user, digit_input, G.MODEL_FEE)
    rpc(w3, "evm_increaseTime", hex(3600))
    send(f.reclaim(rid), stranger)
    assert f.refundCredit(user).call() == G.MODEL_FEE


def test_feedback_error_refunds_the_model_fee(oracle, accounts, operator, digit_input):
    user = accounts[1]
    f = oracle.functions
    rid = request(oracle, user, digit_input, G.MODEL_FEE)
    proto = f.protocolBalance().call()
    r = send(f.feedbackError(rid, 1, b"batch too large"), operator)
    assert events(oracle, "Refund", r)[0].args.amount == G.MODEL_FEE
    assert f.refundCredit(user).call() == G.MODEL_FEE
    assert f.protocolBalance().call() == proto  # nothing booked for an unanswered request
    assert f.getModel(CLASSIFIER).call()[5] == 0


# ------------------------------------------------------------------ findings 1 and 10: the game


def test_text_or_unknown_models_cannot_be_verifiable(w3, oracle, accounts, owner, node):
    f = oracle.functions
    dev = accounts[5]
    # fp32 text models; int8 ones are disputable by bisection (tests/contracts/test_opml_bisection.py)
    text = [m for m in node.inference.list() if m.get("kind") == "text" and m.get("mode") != "int8"]
    hashes = [keccak(b"not a model")] + [bytes.fromhex(m["hash"][2:]) for m in text]
    for h in hashes:  # the text model, when shipped, cannot be re-run by the game either
        r = send(f.registerModel(h, bytes(32), 0, dev, 100), dev)
        mid = events(oracle, "ModelUploaded", r)[0].args.modelId
        assert f.getModel(mid).call()[7] is True  # registered unverifiable
        reverts(f.updateModel(mid, h, bytes(32), 0, dev, 100, ZERO, False), "model not re-executable", dev)


def test_free_requests_put_no_stake_at_risk(w3, oracle, opml, accounts, owner, digit_input, infer, classifier_hash):
    """Finding 1's drain: 100 free requests each cost the operator RESULT_BOND once its answers
    lost. The bond at stake now follows what the request paid; a free request risks nothing, and
    an operator with no stake still answers free requests."""
    f = oracle.functions
    griefer, op2 = accounts[5], accounts[7]
    send(f.addToWhitelist(op2), owner)
    r = send(f.registerModel(classifier_hash, bytes(32), 0, griefer, 100), griefer)
    free = events(oracle, "ModelUploaded", r)[0].args.modelId
    honest = infer(classifier_hash, digit_input)
    rid = request(oracle, griefer, digit_input, 0, model=free)
    send(f.invokeCallback(rid, wrong(honest)), op2)  # no stake needed for a free result
    assert opml.functions.getGame(rid).call()[6] == 0  # bond
    r = send(opml.functions.challenge(rid), accounts[3], value=BOND)
    assert events(opml, "ChallengeSettled", r)[0].args.payout == BOND  # corrected, nothing slashed
    assert f.getOutput(rid).call() == honest
    # a paid request carries BOND_PER_FEE × its model fee, capped at the game's resultBond
    rid = request(oracle, accounts[1], digit_input, G.MODEL_FEE)
    reverts(f.invokeCallback(rid, honest), "operator bond too low", op2)
    send(opml.functions.depositBond(), op2, value=G.RESULT_BOND)
    send(f.invokeCallback(rid, honest), op2)
    assert opml.functions.getGame(rid).call()[6] == min(G.RESULT_BOND, 100 * G.MODEL_FEE)


# ------------------------------------------------------------------ finding 2: many wrong results


def test_challenge_many_settles_a_block_of_results_in_one_transaction(w3, oracle, opml, accounts, operator,
                                                                      digit_input, infer, classifier_hash):
    honest = infer(classifier_hash, digit_input)
    rids = [request(oracle, accounts[1], digit_input, G.MODEL_FEE) for _ in range(6)]
    one_block(w3, [(oracle.functions.invokeCallback(rid, honest if i == 5 else wrong(honest)), operator, 0, GWEI)
                   for i, rid in enumerate(rids)])
    send(opml.functions.challenge(rids[0]), accounts[4], value=BOND)  # someone else was quicker
    stake = opml.functions.bondOf(operator).call()
    watcher = accounts[3]
    reverts(opml.functions.challengeMany(rids), "wrong challenge bond", watcher, value=BOND)
    reverts(opml.functions.challengeMany([]), "no requests", watcher)
    r = send(opml.functions.challengeMany(rids), watcher, value=BOND * len(rids))
    settled = events(opml, "ChallengeSettled", r)
    assert [e.args.requestId for e in settled] == rids[1:]
    assert [e.args.challengerWon for e in settled] == [True] * 4 + [False]
    assert [e.args.requestId for e in events(opml, "ChallengeSkipped", r)] == rids[:1]
    assert all(oracle.functions.getOutput(rid).call() == honest for rid in rids)
    # 4 wins (bond + slash), the skipped bond back; the lost challenge's bond to the operator
    assert opml.functions.bondOf(watcher).call() == 4 * (BOND + G.RESULT_BOND) + BOND
    assert opml.functions.bondOf(operator).call() == stake - 4 * G.RESULT_BOND + BOND
