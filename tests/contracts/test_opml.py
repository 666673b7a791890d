"""The opML game on the running chain: optimistic results, challenges settled by re-running the
model through the 0xA1 inference precompile, bonds, re-delivery of corrected results, and ETH
conservation across the whole flow."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from imochain.contracts import genesis as G
from imochain.contracts import oracle_output
from oracle_support import events, mine, reverts, send, tensor

ZERO = "0x" + "00" * 20
CLASSIFIER = 1
GENERATOR = 2
WINDOW = G.DEFAULT_CHALLENGE_WINDOW
BOND = G.CHALLENGE_BOND


@pytest.fixture
def classifier_hash(oracle):
    return oracle.functions.getModel(CLASSIFIER).call()[0]


def wrong(output: bytes) -> bytes:
    """A well-formed but wrong output: the last data byte changed."""
    b = bytearray(output)
    # the tensor's data bytes are followed by zero padding; change the last non-padding byte
    i = len(b) - 1
    while b[i] == 0:
        i -= 1
    b[i] ^= 0x01
    return bytes(b)


def prompt_request(prompt, oracle, user, input_, model=CLASSIFIER):
    fee = prompt.functions.estimateFee(model).call()
    r = send(prompt.functions.calculateAIResult(model, input_), user, value=fee)
    return events(oracle, "AICallbackRequest", r)[0].args.requestId


def test_honest_result_finalizes_after_window(w3, oracle, opml, prompt, accounts, operator, digit_input, infer,
                                              classifier_hash):
    rid = prompt_request(prompt, oracle, accounts[1], digit_input)
    assert opml.functions.gameStatus(rid).call() == 0
    assert not opml.functions.isFinalized(rid).call()
    assert opml.functions.challengeDeadline(rid).call() == 0
    out = infer(classifier_hash, digit_input)
    r = send(oracle.functions.invokeCallback(rid, out), operator)
    (ev,) = events(opml, "ResultSubmitted", r)
    assert (ev.args.requestId, ev.args.submitter, ev.args.outputHash) == (rid, operator, keccak(out))
    assert ev.args.modelHash == classifier_hash
    deadline = opml.functions.challengeDeadline(rid).call()
    assert deadline == r.blockNumber + WINDOW
    assert opml.functions.gameStatus(rid).call() == 1  # Optimistic
    assert opml.functions.getOutputHash(rid).call() == keccak(out)
    assert opml.functions.resultVersion(rid).call() == 1
    # the operator's stake is locked while its result can be challenged
    reverts(opml.functions.withdrawBond(1), "bond locked", operator)
    while w3.eth.block_number < deadline - 1:
        assert not oracle.functions.isFinalized(rid).call()
        mine(w3)
    # a transaction now lands in the deadline block: still open
    assert not opml.functions.isFinalized(rid).call()
    mine(w3)
    # now every new transaction lands past the deadline
    assert opml.functions.isFinalized(rid).call() and oracle.functions.isFinalized(rid).call()
    reverts(opml.functions.challenge(rid, digit_input), "challenge window over", accounts[3], value=BOND)
    assert opml.functions.bondOf(operator).call() == G.OPERATOR_BOND
    before = w3.eth.get_balance(operator)
    r = send(opml.functions.withdrawBond(G.RESULT_BOND), operator)
    assert w3.eth.get_balance(operator) == before + G.RESULT_BOND - r.gasUsed * r.effectiveGasPrice
    assert events(opml, "BondWithdrawn", r)[0].args.amount == G.RESULT_BOND


def test_wrong_result_is_challenged_corrected_and_redelivered(w3, oracle, opml, prompt, accounts, operator,
                                                              digit_input, infer, classifier_hash):
    challenger = accounts[3]
    rid = prompt_request(prompt, oracle, accounts[1], digit_input)
    honest = infer(classifier_hash, digit_input)
    lie = wrong(honest)
    send(oracle.functions.invokeCallback(rid, lie), operator)
    assert prompt.functions.getAIResult(CLASSIFIER, digit_input).call() == lie
    assert prompt.functions.deliveries(rid).call() == 1

    before = w3.eth.get_balance(challenger)
    # gas=None: eth_estimateGas must find enough gas for the re-delivery too
    r = send(opml.functions.challenge(rid, digit_input), challenger, value=BOND, gas=None)
    (ev,) = events(opml, "ChallengeSettled", r)
    assert ev.args.challengerWon and ev.args.challenger == challenger
    assert ev.args.postedOutputHash == keccak(lie) and ev.args.correctOutputHash == keccak(honest)
    assert ev.args.payout == BOND + G.RESULT_BOND
    # corrected output is the result, delivered to the consumer once more
    (res,) = events(oracle, "AICallbackResult", r)
    assert res.args.output == honest and res.args.invoker == challenger and res.args.requestId == rid
    assert events(oracle, "Confirm", r)[0].args.responseHash == keccak(honest)
    assert not events(oracle, "CallbackDeliveryFailed", r)
    assert prompt.functions.getAIResult(CLASSIFIER, digit_input).call() == honest
    assert prompt.functions.deliveries(rid).call() == 2
    assert oracle_output(oracle, rid) == honest
    assert oracle.functions.getOutputHash(rid).call() == keccak(honest)
    assert oracle.functions.getResultVersion(rid).call() == 2
    assert oracle.functions.getDeliveredVersion(rid).call() == 2
    assert opml.functions.gameStatus(rid).call() == 3  # Corrected
    assert oracle.functions.isFinalized(rid).call()  # settled by the dispute, before the window ends
    # bonds moved: the operator's result bond and the challenger's own bond to the challenger
    assert opml.functions.bondOf(operator).call() == G.OPERATOR_BOND - G.RESULT_BOND
    assert opml.functions.bondOf(challenger).call() == BOND + G.RESULT_BOND
    assert w3.eth.get_balance(challenger) == before - BOND - r.gasUsed * r.effectiveGasPrice
    # no replays, no second challenge
    reverts(oracle.functions.updateResult(rid, honest), "result already delivered", accounts[4])
    reverts(oracle.functions.updateResult(rid, lie), "output hash mismatch", accounts[4])
    reverts(opml.functions.challenge(rid, digit_input), "already settled", accounts[4], value=BOND)
    # the challenger takes its winnings
    before = w3.eth.get_balance(challenger)
    r = send(opml.functions.withdrawBond(BOND + G.RESULT_BOND), challenger)
    assert w3.eth.get_balance(challenger) == before + BOND + G.RESULT_BOND - r.gasUsed * r.effectiveGasPrice
    assert w3.eth.get_balance(opml.address) == G.OPERATOR_BOND - G.RESULT_BOND


def test_wrong_challenge_loses_its_bond(w3, oracle, opml, prompt, accounts, operator, digit_input, infer,
                                        classifier_hash):
    challenger = accounts[3]
    rid = prompt_request(prompt, oracle, accounts[1], digit_input)
    honest = infer(classifier_hash, digit_input)
    send(oracle.functions.invokeCallback(rid, honest), operator)
    reverts(opml.functions.challenge(rid, digit_input), "wrong challenge bond", challenger, value=BOND - 1)
    reverts(opml.functions.challenge(rid, digit_input), "wrong challenge bond", challenger, value=0)
    before = w3.eth.get_balance(challenger)
    r = send(opml.functions.challenge(rid, digit_input), challenger, value=BOND)
    (ev,) = events(opml, "ChallengeSettled", r)
    assert not ev.args.challengerWon and ev.args.payout == BOND
    assert ev.args.postedOutputHash == ev.args.correctOutputHash == keccak(honest)
    assert w3.eth.get_balance(challenger) == before - BOND - r.gasUsed * r.effectiveGasPrice
    assert opml.functions.bondOf(challenger).call() == 0
    assert opml.functions.bondOf(operator).call() == G.OPERATOR_BOND + BOND
    assert opml.functions.gameStatus(rid).call() == 2  # Upheld
    assert oracle.functions.isFinalized(rid).call()
    assert prompt.functions.deliveries(rid).call() == 1  # no re-delivery
    assert not events(oracle, "AICallbackResult", r)
    reverts(opml.functions.challenge(rid, digit_input), "already settled", challenger, value=BOND)
    reverts(opml.functions.withdrawBond(1), "insufficient bond", challenger)


def test_failed_redelivery_is_left_to_update_result(oracle, opml, consumer, accounts, operator, digit_input, infer,
                                                    classifier_hash):
    gas_limit = 600_000
    fee = oracle.functions.estimateFee(CLASSIFIER, gas_limit).call()
    r = send(consumer.functions.request(CLASSIFIER, digit_input, gas_limit, b""), accounts[1], value=fee)
    rid = events(oracle, "AICallbackRequest", r)[0].args.requestId
    honest = infer(classifier_hash, digit_input)
    send(oracle.functions.invokeCallback(rid, wrong(honest)), operator)
    send(consumer.functions.configure(True, False), accounts[1])  # the consumer now reverts
    # the challenge must carry enough gas for the callback
    reverts(opml.functions.challenge(rid, digit_input), "insufficient gas for callback", accounts[3], value=BOND,
            gas=400_000)
    r = send(opml.functions.challenge(rid, digit_input), accounts[3], value=BOND)
    assert events(opml, "ChallengeSettled", r)[0].args.challengerWon  # verdict stands
    (failed,) = events(oracle, "CallbackDeliveryFailed", r)
    assert failed.args.version == 2
    assert oracle.functions.getDeliveredVersion(rid).call() == 1
    assert oracle_output(oracle, rid) == honest
    reverts(oracle.functions.updateResult(rid, honest), "consumer says no", accounts[4])
    send(consumer.functions.configure(False, False), accounts[1])
    r = send(oracle.functions.updateResult(rid, honest), accounts[4])  # anyone delivers it, once
    assert events(oracle, "AICallbackResult", r)[0].args.output == honest
    assert consumer.functions.deliveriesOf(rid).call() == 2  # the lie, then the correction once
    assert consumer.functions.outputOf(rid).call() == honest
    assert oracle.functions.getDeliveredVersion(rid).call() == 2
    reverts(oracle.functions.updateResult(rid, honest), "result already delivered", accounts[4])


def test_challenge_reverts(w3, oracle, opml, prompt, accounts, owner, operator, digit_input, infer, classifier_hash):
    f = opml.functions
    rid = prompt_request(prompt, oracle, accounts[1], digit_input)
    reverts(f.challenge(rid, digit_input), "no result to challenge", accounts[3], value=BOND)
    reverts(f.challenge(9999, digit_input), "no result to challenge", accounts[3], value=BOND)
    reverts(f.submitResults([rid], [classifier_hash], [keccak(b"x")], operator, 0), "only oracle", operator)
    # a model the precompile does not know could never be re-executed, so it cannot be
    # verifiable: its answers would be unchallengeable (registered unverifiable, they skip the game)
    unknown = keccak(b"not in the store")
    reverts(oracle.functions.uploadModel(60, unknown, bytes(32), 0, owner, 0, ZERO, False), "model not re-executable",
            owner)
    reverts(oracle.functions.updateModel(CLASSIFIER, unknown, bytes(32), 0, owner, 0, ZERO, False),
            "model not re-executable", owner)
    send(oracle.functions.uploadModel(60, unknown, bytes(32), 0, owner, 0, ZERO, True), owner)
    r = send(oracle.functions.requestCallback(60, digit_input, ZERO, 0, b""), accounts[1])
    bad = events(oracle, "AICallbackRequest", r)[0].args.requestId
    r = send(oracle.functions.invokeCallback(bad, b"made up"), operator)
    assert not events(opml, "ResultSubmitted", r)
    reverts(f.challenge(bad, digit_input), "no result to challenge", accounts[3], value=BOND)
    # nor can a malformed input for a known model
    r = send(oracle.functions.requestCallback(CLASSIFIER, b"\x01\x02", ZERO, 0, b""), accounts[1],
             value=G.MODEL_FEE)
    bad = events(oracle, "AICallbackRequest", r)[0].args.requestId
    send(oracle.functions.invokeCallback(bad, b"made up"), operator)
    reverts(f.challenge(bad, b"\x01\x02"), "re-execution failed", accounts[3], value=BOND)


def test_operator_bond_rules(w3, oracle, opml, accounts, owner, digit_input, infer, classifier_hash):
    f = opml.functions
    op2 = accounts[7]
    send(oracle.functions.addToWhitelist(op2), owner)
    r = send(oracle.functions.requestCallback(CLASSIFIER, digit_input, ZERO, 0, b""), accounts[1], value=G.MODEL_FEE)
    rid = events(oracle, "AICallbackRequest", r)[0].args.requestId
    out = infer(classifier_hash, digit_input)
    reverts(oracle.functions.invokeCallback(rid, out), "operator bond too low", op2)
    reverts(f.depositBond(), "zero deposit", op2)
    send(f.depositBond(), op2, value=G.RESULT_BOND - 1)
    reverts(oracle.functions.invokeCallback(rid, out), "operator bond too low", op2)
    r = send(f.depositBond(), op2, value=1)
    assert events(opml, "BondDeposited", r)[0].args.amount == 1
    send(oracle.functions.invokeCallback(rid, out), op2)
    reverts(f.withdrawBond(1), "bond locked", op2)
    mine(w3, WINDOW)
    reverts(f.withdrawBond(G.RESULT_BOND + 1), "insufficient bond", op2)
    send(f.withdrawBond(G.RESULT_BOND), op2)
    assert f.bondOf(op2).call() == 0


def test_slash_is_limited_to_the_stake(oracle, opml, accounts, owner, digit_input, infer, classifier_hash):
    op2, challenger = accounts[7], accounts[3]
    send(oracle.functions.addToWhitelist(op2), owner)
    send(opml.functions.depositBond(), op2, value=G.RESULT_BOND)
    honest = infer(classifier_hash, digit_input)
    rids = []
    for _ in range(2):
        r = send(oracle.functions.requestCallback(CLASSIFIER, digit_input, ZERO, 0, b""), accounts[1],
                 value=G.MODEL_FEE)
        rid = events(oracle, "AICallbackRequest", r)[0].args.requestId
        send(oracle.functions.invokeCallback(rid, wrong(honest)), op2)
        rids.append(rid)
    r1 = send(opml.functions.challenge(rids[0], digit_input), challenger, value=BOND)
    assert events(opml, "ChallengeSettled", r1)[0].args.payout == BOND + G.RESULT_BOND
    r2 = send(opml.functions.challenge(rids[1], digit_input), challenger, value=BOND)
    assert events(opml, "ChallengeSettled", r2)[0].args.payout == BOND  # nothing left to slash
    assert opml.functions.bondOf(op2).call() == 0
    assert opml.functions.bondOf(challenger).call() == 2 * BOND + G.RESULT_BOND


def test_generator_result_can_be_challenged(oracle, opml, prompt, accounts, operator, infer):
    gen_hash = oracle.functions.getModel(GENERATOR).call()[0]
    seed = bytes(range(16))
    z = bytearray(16)
    z[3] = 127  # digit 3, then noise
    z[10:16] = seed[:6]
    inp = tensor(1, [16], bytes(z))
    rid = prompt_request(prompt, oracle, accounts[1], inp, model=GENERATOR)
    honest = infer(gen_hash, inp)
    send(oracle.functions.invokeCallback(rid, wrong(honest)), operator)
    r = send(opml.functions.challenge(rid, inp), accounts[3], value=BOND)
    assert events(opml, "ChallengeSettled", r)[0].args.challengerWon
    assert prompt.functions.getAIResult(GENERATOR, inp).call() == honest


def test_eth_conservation_across_the_flow(w3, oracle, opml, prompt, consumer, accounts, owner, operator,
                                          digit_input, infer, classifier_hash):
    """Every wei is accounted for: balances of all parties change only by the base fee burned."""
    parties = list(accounts) + [oracle.address, opml.address, prompt.address, consumer.address, ZERO]

    def total():
        return sum(w3.eth.get_balance(a) for a in parties)

    receipts = []

    def tx(fn, sender, value=0):
        r = send(fn, sender, value)
        receipts.append(r)
        return r

    start = total()
    honest = infer(classifier_hash, digit_input)
    fee = prompt.functions.estimateFee(CLASSIFIER).call()
    r = tx(prompt.functions.calculateAIResult(CLASSIFIER, digit_input), accounts[1], fee + 5)
    rid1 = events(oracle, "AICallbackRequest", r)[0].args.requestId
    tx(oracle.functions.invokeCallback(rid1, wrong(honest)), operator)
    tx(opml.functions.challenge(rid1, digit_input), accounts[3], BOND)  # wins
    fee = oracle.functions.estimateFee(CLASSIFIER, 0).call()
    r = tx(oracle.functions.requestCallback(CLASSIFIER, digit_input, ZERO, 0, b""), accounts[2], fee + 10**16)
    rid2 = events(oracle, "AICallbackRequest", r)[0].args.requestId
    tx(oracle.functions.invokeCallback(rid2, honest), operator)
    tx(opml.functions.challenge(rid2, digit_input), accounts[4], BOND)  # loses
    fee = oracle.functions.estimateFee(CLASSIFIER, 600_000).call()
    tx(consumer.functions.request(CLASSIFIER, digit_input, 600_000, b""), accounts[5], fee + 99)  # refund credited
    tx(oracle.functions.claimModelRevenue(CLASSIFIER), accounts[6])
    tx(oracle.functions.withdraw(), owner)
    tx(opml.functions.withdrawBond(BOND + G.RESULT_BOND), accounts[3])
    mine(w3, WINDOW + 1)
    tx(opml.functions.withdrawBond(G.OPERATOR_BOND - G.RESULT_BOND + BOND), operator)

    burned = sum(r.gasUsed * w3.eth.get_block(r.blockNumber).baseFeePerGas for r in receipts)
    assert total() == start - burned
    # and each contract holds exactly what its books say
    assert w3.eth.get_balance(oracle.address) == (
        sum(oracle.functions.getModel(oracle.functions.modelIDs(i).call()).call()[5]
            for i in range(oracle.functions.numberOfModels().call()))
        + oracle.functions.protocolBalance().call()
        + sum(oracle.functions.refundCredit(a).call() for a in parties)
        + sum(oracle.functions.getRequestEscrow(i).call() for i in range(1, oracle.functions.nextRequestId().call()))
    ) == 99 + G.MODEL_FEE  # the refund credit, and the unanswered consumer request's fee in escrow
    assert w3.eth.get_balance(opml.address) == sum(opml.functions.bondOf(a).call() for a in parties) == 0


def test_constructor_checks_and_genesis_window(w3, accounts):
    from web3.exceptions import ContractLogicError

    from imochain.contracts import load_artifact
    from imochain.testing import in_process_web3
    from imochain.chain import NodeConfig

    art = load_artifact("OpML")
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    oracle_addr = "0x0A0f4321214BB6C7811dD8a71cF587bdaF03f0A0"
    for args, reason in [((ZERO, 5, 1, 1, ZERO), "zero oracle"), ((oracle_addr, 0, 1, 1, ZERO), "zero challenge window"),
                         ((oracle_addr, 5, 1, 0, ZERO), "zero challenge bond")]:
        with pytest.raises(ContractLogicError, match=reason):
            factory.constructor(*args).estimate_gas({"from": accounts[0]})
    # the window is a genesis parameter
    w3b, node = in_process_web3(NodeConfig(challenge_window=2))
    game = w3b.eth.contract(address="0xC0de000000000000000000000000000000000001", abi=art["abi"])
    assert game.functions.challengeWindow().call() == 2
    node.close()
