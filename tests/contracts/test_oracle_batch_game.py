"""Results posted together in one `invokeCallbacks` (issue 14's oracle path): the request record's
packed slots read back exactly through every getter, the opML game is called once for the whole
batch yet keeps each result challengeable on its own, the challenge re-runs the model on the
request's original input (a lie is caught, an honest result cannot be slashed, another input is
refused), and the operator's stake must cover each result's bond."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector, keccak

from imochain.contracts import genesis as G
from oracle_support import events, reverts, send

ZERO = "0x" + "00" * 20
CLASSIFIER = 1
BOND = G.CHALLENGE_BOND
PRECOMPILE = "0x" + "00" * 19 + "a1"
OPTIMISTIC, UPHELD, CORRECTED = 1, 2, 3
SUBMIT_RESULTS = "0x" + function_signature_to_4byte_selector(
    "submitResults(uint256[],bytes32[],bytes32[],address,uint256)").hex()


@pytest.fixture
def classifier_hash(oracle):
    return oracle.functions.getModel(CLASSIFIER).call()[0]


def _tampered(data: bytes) -> bytes:
    b = bytearray(data)
    b[-40] ^= 0x7F  # a pixel: a well-formed input of the right shape, another answer
    return bytes(b)


def _lie(output: bytes) -> bytes:
    b = bytearray(output)
    i = len(b) - 1
    while b[i] == 0:  # the last data byte before the zero padding
        i -= 1
    b[i] ^= 0x01
    return bytes(b)


def _request(w3, oracle, user, data, model=CLASSIFIER, fee=G.MODEL_FEE):
    r = send(oracle.functions.requestCallback(model, data, ZERO, 0, b""), user, value=fee)
    return events(oracle, "AICallbackRequest", r)[0].args.requestId, r


def _frames(w3, tx_hash) -> list[dict]:
    params = ["0x" + bytes(tx_hash).hex(), {"tracer": "callTracer"}]
    todo, out = [w3.provider.make_request("debug_traceTransaction", params)["result"]], []
    while todo:
        frame = todo.pop()
        out.append(frame)
        todo += frame.get("calls", [])
    return out


def test_a_batch_is_one_game_call_and_each_result_stays_challengeable(w3, oracle, opml, accounts, operator,
                                                                      digit_input, infer, classifier_hash):
    user, challenger = accounts[1], accounts[3]
    inputs = [digit_input, _tampered(digit_input), digit_input]
    requests = [_request(w3, oracle, user, x) for x in inputs]
    ids = [rid for rid, _ in requests]
    honest = [infer(classifier_hash, x) for x in inputs]
    assert honest[0] != honest[1]
    posted = [honest[0], honest[1], _lie(honest[2])]  # the third one lies
    r = send(oracle.functions.invokeCallbacks(ids, posted), operator)

    # one call opens the game's windows for the whole batch, one ResultSubmitted each
    calls = [f for f in _frames(w3, r.transactionHash)
             if f.get("to", "").lower() == opml.address.lower() and f["type"] == "CALL"]
    assert [c["input"][:10] for c in calls] == [SUBMIT_RESULTS]
    # storage: two slots per result in the oracle (status word, output hash) plus the batch's
    # shared bookkeeping; nothing per result in the game (only the operator's lock)
    steps = w3.provider.make_request("debug_traceTransaction", ["0x" + bytes(r.transactionHash).hex(), {}])
    sstores = [s["depth"] for s in steps["result"]["structLogs"] if s["op"] == "SSTORE"]
    assert sstores.count(2) == 1 and 2 * len(ids) <= sstores.count(1) <= 2 * len(ids) + 5
    submitted = events(opml, "ResultSubmitted", r)
    assert [(e.args.requestId, e.args.submitter, e.args.modelHash, e.args.outputHash) for e in submitted] == [
        (rid, operator, classifier_hash, keccak(out)) for rid, out in zip(ids, posted)]

    # the record's packed slots (written whole, in assembly) read back through every getter
    f, bond = oracle.functions, min(G.RESULT_BOND, 100 * G.MODEL_FEE)
    for (rid, req), out in zip(requests, posted):
        at = w3.eth.get_block(req.blockNumber).timestamp
        assert f.getRequestStatus(rid).call() == 2  # Fulfilled
        assert f.getRequestBlock(rid).call() == req.blockNumber
        assert f.getRequestDeadline(rid).call() == at + f.REQUEST_TIMEOUT().call()
        assert f.getRequestFulfilledBlock(rid).call() == r.blockNumber
        assert f.getRequestModelId(rid).call() == CLASSIFIER and f.getRequestBatchSize(rid).call() == 1
        assert f.getRequestModelHash(rid).call() == classifier_hash
        assert f.getRequestAccount(rid).call() == user
        assert f.getResultVersion(rid).call() == 1 and f.getDeliveredVersion(rid).call() == 1
        assert f.getResultInvoker(rid).call() == operator
        assert f.getOutputHash(rid).call() == keccak(out)
        assert f.getRequestEscrow(rid).call() == 0  # booked as revenue
        assert f.getResultBond(rid).call() == 100 * G.MODEL_FEE
        assert not f.isFinalized(rid).call()
        assert tuple(opml.functions.getGame(rid).call()) == (keccak(out), operator, r.blockNumber, 1, OPTIMISTIC,
                                                             bond)
    assert f.getRequestModelHashes(ids).call() == [classifier_hash] * 3

    # another input is refused before anything runs: an honest result cannot be overturned with it
    reverts(opml.functions.challenge(ids[0], inputs[1]), "not the request's input", challenger, value=BOND)
    # with its original input the honest result is upheld: the challenger's bond goes to the operator
    stake = opml.functions.bondOf(operator).call()
    r1 = send(opml.functions.challenge(ids[1], inputs[1]), challenger, value=BOND)
    (ev,) = events(opml, "ChallengeSettled", r1)
    assert not ev.args.challengerWon and ev.args.correctOutputHash == keccak(honest[1])
    assert opml.functions.gameStatus(ids[1]).call() == UPHELD
    assert opml.functions.bondOf(operator).call() == stake + BOND
    # the lie is caught by re-running the model on exactly the request's original input (from its log)
    original = events(oracle, "AICallbackRequest", requests[2][1])[0].args.input
    r2 = send(opml.functions.challenge(ids[2], original), challenger, value=BOND)
    (ev,) = events(opml, "ChallengeSettled", r2)
    assert ev.args.challengerWon and ev.args.postedOutputHash == keccak(posted[2])
    assert ev.args.correctOutputHash == keccak(honest[2]) and ev.args.payout == BOND + bond
    ran = [fr["input"] for fr in _frames(w3, r2.transactionHash) if fr.get("to", "").lower() == PRECOMPILE]
    assert ran == ["0x" + encode(["bytes32", "bytes"], [classifier_hash, digit_input]).hex()]
    assert opml.functions.bondOf(operator).call() == stake + BOND - bond
    assert opml.functions.gameStatus(ids[2]).call() == CORRECTED
    assert opml.functions.getOutputHash(ids[2]).call() == keccak(honest[2]) == f.getOutputHash(ids[2]).call()
    assert f.getResultVersion(ids[2]).call() == 2 and f.getDeliveredVersion(ids[2]).call() == 2
    # untouched by its neighbours' challenges
    assert opml.functions.gameStatus(ids[0]).call() == OPTIMISTIC
    assert f.getOutputHash(ids[0]).call() == keccak(honest[0])


def test_each_result_in_a_batch_needs_a_stake_covering_its_bond(w3, oracle, opml, accounts, owner, digit_input,
                                                               infer, classifier_hash):
    op2 = accounts[7]
    send(oracle.functions.addToWhitelist(op2), owner)
    send(opml.functions.depositBond(), op2, value=1)  # covers a free request's bond (0), not a paid one's
    free_model = 61
    send(oracle.functions.uploadModel(free_model, classifier_hash, bytes(32), 0, owner, 50, ZERO, False), owner)
    paid, _ = _request(w3, oracle, accounts[1], digit_input)
    free, _ = _request(w3, oracle, accounts[1], digit_input, model=free_model, fee=0)
    out = infer(classifier_hash, digit_input)
    r = send(oracle.functions.invokeCallbacks([paid, free], [out, out]), op2)
    assert [e.args.requestId for e in events(oracle, "FulfilmentFailed", r)] == [paid]
    assert [e.args.requestId for e in events(opml, "ResultSubmitted", r)] == [free]
    f = oracle.functions
    assert f.getRequestStatus(paid).call() == 1 and f.getRequestEscrow(paid).call() == G.MODEL_FEE
    assert f.getRequestStatus(free).call() == 2 and f.getResultInvoker(free).call() == op2
    assert tuple(opml.functions.getGame(free).call())[1:5] == (op2, r.blockNumber, 1, OPTIMISTIC)
    assert opml.functions.lockedUntil(op2).call() == r.blockNumber + opml.functions.challengeWindow().call()


def test_model_ids_fit_the_request_record(w3, oracle, owner, accounts, digit_input, classifier_hash):
    # a request keeps its model id in the top 32 bits of its first slot
    reverts(oracle.functions.uploadModel(2**32, classifier_hash, bytes(32), 0, owner, 0, ZERO, False),
            "model id too large", owner)
    send(oracle.functions.uploadModel(2**32 - 1, classifier_hash, bytes(32), 0, owner, 0, ZERO, False), owner)
    rid, _ = _request(w3, oracle, accounts[1], digit_input, model=2**32 - 1, fee=0)
    assert oracle.functions.getRequestModelId(rid).call() == 2**32 - 1
    assert oracle.functions.getRequestStatus(rid).call() == 1


def test_each_request_keeps_its_models_hash_at_request_time(w3, oracle, opml, accounts, owner, operator,
                                                            digit_input, classifier_hash):
    """The hash is kept per model (one entry per change), not per request: requests between
    changes, and a batch answering them together, see the hash of their own time."""
    generator_hash = oracle.functions.getModel(2).call()[0]
    model, f = 62, oracle.functions
    send(f.uploadModel(model, classifier_hash, bytes(32), 0, owner, 50, ZERO, False), owner)
    ids, want = [], []
    for new_hash in (generator_hash, classifier_hash, generator_hash, generator_hash, None):
        ids.append(_request(w3, oracle, accounts[1], digit_input, model=model, fee=0)[0])
        want.append(f.getModel(model).call()[0])
        if new_hash is not None:  # the last change repeats the hash: nothing new recorded
            send(f.updateModel(model, new_hash, bytes(32), 0, owner, 50, ZERO, False), owner)
    assert want == [classifier_hash, generator_hash, classifier_hash, generator_hash, generator_hash]
    assert [f.getRequestModelHash(rid).call() for rid in ids] == want
    assert f.getRequestModelHashes(ids + [10**6]).call() == want + [bytes(32)]
    r = send(f.invokeCallbacks(ids, [b"\x01"] * len(ids)), operator)
    assert [e.args.modelHash for e in events(opml, "ResultSubmitted", r)] == want


def test_the_batch_entry_points_refuse_garbage_and_know_nothing_of_unknown_requests(oracle, opml, accounts,
                                                                                    operator):
    """`submitResults` is the oracle's alone and needs one model and output hash per request id;
    the new views answer empty for a request that was never made."""
    h = b"\x11" * 32
    before = opml.functions.bondOf(operator).call()
    reverts(opml.functions.submitResults([1], [h], [h], operator, 0), "only oracle", accounts[3])
    # as the oracle itself (an eth_call from its address): arrays of different lengths
    reverts(opml.functions.submitResults([1, 2], [h], [h, h], operator, 0), "length mismatch", oracle.address)
    reverts(opml.functions.submitResults([1], [h], [h], accounts[4], 1), "operator bond too low", oracle.address)
    unknown = 10**9
    assert oracle.functions.getGameResult(unknown).call() == [ZERO, ZERO, 0]
    assert oracle.functions.getResultBond(unknown).call() == 0
    assert oracle.functions.getRequestModelHash(unknown).call() == b"\x00" * 32
    assert opml.functions.bondOf(operator).call() == before  # nothing was taken or moved
