"""The oracle keeps inputs and outputs by hash (issue 14): a challenge must bring the request's
original input and the game re-runs the model on exactly it; inputs can be published into state on
request; a block's results go out in one `invokeCallbacks`, where a failing result is undone alone."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak

from imochain.contracts import genesis as G
from imochain.contracts import oracle_output
from oracle_support import events, reverts, send

ZERO = "0x" + "00" * 20
CLASSIFIER = 1
BOND = G.CHALLENGE_BOND
PRECOMPILE = "0x" + "00" * 19 + "a1"


@pytest.fixture
def classifier_hash(oracle):
    return oracle.functions.getModel(CLASSIFIER).call()[0]


def _request(oracle, user, data, fee=G.MODEL_FEE):
    r = send(oracle.functions.requestCallback(CLASSIFIER, data, ZERO, 0, b""), user, value=fee)
    return events(oracle, "AICallbackRequest", r)[0], r


def _tampered(data: bytes) -> bytes:
    """The same tensor with one pixel changed (a well-formed input of the right shape)."""
    b = bytearray(data)
    b[-40] ^= 0x7F  # a pixel: the 64 data bytes end the encoding (no padding)
    return bytes(b)


def _precompile_inputs(w3, tx_hash) -> list[str]:
    """The input of every call to the 0xA1 precompile in a mined transaction (callTracer)."""
    params = ["0x" + bytes(tx_hash).hex(), {"tracer": "callTracer"}]
    trace = w3.provider.make_request("debug_traceTransaction", params)["result"]
    found, todo = [], [trace]
    while todo:
        frame = todo.pop()
        if frame.get("to", "").lower() == PRECOMPILE:
            found.append(frame["input"])
        todo += frame.get("calls", [])
    return found


def test_challenge_reruns_the_model_on_the_original_input(w3, oracle, opml, accounts, operator, digit_input, infer,
                                                         classifier_hash):
    req, r = _request(oracle, accounts[1], digit_input)
    rid = req.args.requestId
    assert req.args.input == digit_input  # the request's log carries the input ...
    assert oracle.functions.getInputHash(rid).call() == keccak(digit_input)  # ... state its hash only
    honest = infer(classifier_hash, digit_input)
    tampered = _tampered(digit_input)
    assert infer(classifier_hash, tampered) != honest
    send(oracle.functions.invokeCallback(rid, honest), operator)
    # An honest result cannot be overturned with another input whose output differs: refused
    # before anything is re-run, for one challenge and in a batch.
    reverts(opml.functions.challenge(rid, tampered), "not the request's input", accounts[3], value=BOND)
    reverts(opml.functions.challengeMany([rid], [tampered]), "not the request's input", accounts[3], value=BOND)
    reverts(opml.functions.challenge(rid, b""), "not the request's input", accounts[3], value=BOND)
    assert opml.functions.gameStatus(rid).call() == 1  # still Optimistic
    # With the original input the game re-runs the model and upholds the honest result.
    r = send(opml.functions.challenge(rid, digit_input), accounts[3], value=BOND)
    (ev,) = events(opml, "ChallengeSettled", r)
    assert not ev.args.challengerWon and ev.args.correctOutputHash == keccak(honest)
    # the precompile ran on exactly abi.encode(modelHash, original input)
    want = "0x" + encode(["bytes32", "bytes"], [classifier_hash, digit_input]).hex()
    assert _precompile_inputs(w3, r.transactionHash) == [want]


def test_a_lie_is_corrected_from_the_original_input(w3, oracle, opml, accounts, operator, digit_input, infer,
                                                    classifier_hash):
    req, _ = _request(oracle, accounts[1], digit_input)
    rid = req.args.requestId
    honest = infer(classifier_hash, digit_input)
    lie = infer(classifier_hash, _tampered(digit_input))  # the right answer to another input
    assert lie != honest
    send(oracle.functions.invokeCallback(rid, lie), operator)
    # the tampered input would "confirm" the lie: refused
    reverts(opml.functions.challenge(rid, _tampered(digit_input)), "not the request's input", accounts[3],
            value=BOND)
    r = send(opml.functions.challenge(rid, req.args.input), accounts[3], value=BOND)
    (ev,) = events(opml, "ChallengeSettled", r)
    assert ev.args.challengerWon and ev.args.postedOutputHash == keccak(lie)
    assert ev.args.correctOutputHash == keccak(honest)
    assert oracle.functions.getOutputHash(rid).call() == keccak(honest)
    assert oracle_output(oracle, rid) == honest  # the corrected result's log


def test_publish_input_stores_it_hash_checked(oracle, accounts, digit_input):
    req, _ = _request(oracle, accounts[1], digit_input)
    rid = req.args.requestId
    f = oracle.functions
    reverts(f.getInput(rid), "input not published", accounts[2])
    reverts(f.publishInput(rid, _tampered(digit_input)), "input hash mismatch", accounts[2])
    reverts(f.publishInput(10**6, digit_input), "request not exists", accounts[2])
    r = send(f.publishInput(rid, digit_input), accounts[2])  # anyone may
    assert events(oracle, "InputPublished", r)[0].args.requestId == rid
    assert f.getInput(rid).call() == digit_input
    assert f.requests(rid).call()[3] == digit_input  # ORA's getter now shows it too
    reverts(f.publishInput(rid, digit_input), "input already published", accounts[2])


def test_a_request_stores_a_few_slots_not_its_input(oracle, accounts, digit_input):
    """The 64-pixel digit costs what its calldata and log cost, not ~3 storage slots per 96 bytes;
    before issue 14 this request used ~310 000 gas (the 784-pixel MLP input ~950 000)."""
    big = encode(["uint8", "uint32[]", "bytes"], [1, [784], bytes(range(256)) * 3 + bytes(16)])
    _, small = _request(oracle, accounts[1], digit_input)
    _, large = _request(oracle, accounts[1], big)
    assert small.gasUsed < 200_000
    # 720 more input bytes cost calldata (16 gas a byte) and log data (8 gas a byte), no storage
    assert large.gasUsed - small.gasUsed < 24 * (len(big) - len(digit_input)) + 10_000


def test_invoke_callbacks_fulfils_many_and_skips_the_failing_alone(w3, oracle, consumer, accounts, operator,
                                                                   digit_input, infer, classifier_hash):
    out = infer(classifier_hash, digit_input)
    plain = [_request(oracle, accounts[1], digit_input)[0].args.requestId for _ in range(2)]
    gas_limit = 300_000
    fee = oracle.functions.estimateFee(CLASSIFIER, gas_limit).call()
    r = send(consumer.functions.request(CLASSIFIER, digit_input, gas_limit, b""), accounts[1], value=fee)
    failing = events(oracle, "AICallbackRequest", r)[0].args.requestId
    send(consumer.functions.configure(True, False), accounts[1])  # its consumer now reverts
    r = send(consumer.functions.request(CLASSIFIER, digit_input, gas_limit, b""), accounts[1], value=fee)
    delivered = events(oracle, "AICallbackRequest", r)[0].args.requestId
    done = plain[1]
    send(oracle.functions.invokeCallback(done, out), operator)  # already answered

    f = oracle.functions
    ids = [plain[0], failing, done, delivered, 10**6]
    reverts(f.invokeCallbacks(ids, [out]), "length mismatch", operator)
    reverts(f.invokeCallbacks(ids, [out] * len(ids)), "Not in whitelist", accounts[1])
    reverts(f.fulfilFor(operator, plain[0], out), "only the oracle", operator)
    r = send(f.invokeCallbacks(ids, [out] * len(ids)), operator)
    answered = [e.args.requestId for e in events(oracle, "AICallbackResult", r)]
    failed = [e.args.requestId for e in events(oracle, "FulfilmentFailed", r)]
    # the consumer reverts for both its requests: both undone alone, still Pending
    assert answered == [plain[0]]
    assert failed == [failing, done, delivered, 10**6]
    assert f.getRequestStatus(plain[0]).call() == 2 and f.getResultInvoker(plain[0]).call() == operator
    assert f.getRequestStatus(failing).call() == f.getRequestStatus(delivered).call() == 1
    assert f.getRequestEscrow(failing).call() == G.MODEL_FEE  # its fee still in escrow
    # the same batch once the consumer accepts: delivered with exactly its gas, once
    send(consumer.functions.configure(False, False), accounts[1])
    r = send(f.invokeCallbacks([failing, delivered], [out, out]), operator)
    assert [e.args.requestId for e in events(oracle, "AICallbackResult", r)] == [failing, delivered]
    assert consumer.functions.deliveriesOf(failing).call() == consumer.functions.deliveriesOf(delivered).call() == 1
    assert consumer.functions.outputOf(delivered).call() == out
    assert oracle_output(oracle, delivered) == out
