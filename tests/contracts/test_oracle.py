"""AIOracle on the running chain: genesis state, requests, fulfilment and delivery, fees, refunds,
revenue, model registration and ownership, and every revert path."""

from __future__ import annotations

import pytest
from eth_utils import keccak, to_checksum_address

from imochain.contracts import GENESIS_ADDRESSES, load_artifact, oracle_output
from imochain.contracts import genesis as G
from oracle_support import events, mine, reverts, reverts_custom, send

ZERO = "0x" + "00" * 20
CLASSIFIER = 1
GAS = 600_000


@pytest.fixture
def classifier_hash(oracle):
    return oracle.functions.getModel(CLASSIFIER).call()[0]


def _request(oracle, sender, input_, callback=ZERO, gas_limit=0, value=None, data=b""):
    fee = oracle.functions.estimateFee(CLASSIFIER, gas_limit).call() if value is None else value
    r = send(oracle.functions.requestCallback(CLASSIFIER, input_, callback, gas_limit, data), sender, value=fee)
    (ev,) = events(oracle, "AICallbackRequest", r)
    return ev.args.requestId, r


def _answered(oracle, operator, sender, model_id, input_, value):
    """A request with no callback, answered at once (its model fee becomes revenue only then)."""
    r = send(oracle.functions.requestCallback(model_id, input_, ZERO, 0, b""), sender, value=value)
    rid = events(oracle, "AICallbackRequest", r)[0].args.requestId
    send(oracle.functions.invokeCallback(rid, b"an answer"), operator)
    return rid


def _oracle_books(oracle, accounts, extra=()):
    """ETH the oracle must hold per its bookkeeping."""
    n = oracle.functions.numberOfModels().call()
    revenue = sum(oracle.functions.getModel(oracle.functions.modelIDs(i).call()).call()[5] for i in range(n))
    credits = sum(oracle.functions.refundCredit(a).call() for a in list(accounts) + list(extra))
    escrow = sum(oracle.functions.getRequestEscrow(i).call() for i in range(1, oracle.functions.nextRequestId().call()))
    return revenue + oracle.functions.protocolBalance().call() + credits + escrow


# ------------------------------------------------------------------ genesis


def test_genesis_configuration(w3, oracle, opml, prompt, owner, operator, shipped_models, model_ids):
    assert oracle.functions.owner().call() == owner == G.OWNER_ADDRESS
    assert oracle.functions.opml().call() == GENESIS_ADDRESSES["OpML"]
    assert oracle.functions.whitelist(operator).call()
    assert not oracle.functions.whitelist(owner).call()
    assert oracle.functions.gasPrice().call() == 0
    assert oracle.functions.numberOfModels().call() == len(shipped_models)
    ids = {oracle.functions.modelIDs(i).call() for i in range(len(shipped_models))}
    assert ids == set(model_ids.values())
    assert model_ids["digits-classifier"] == 1 and model_ids["digits-generator"] == 2
    node = w3.provider.node
    for name, h in shipped_models:
        m = oracle.functions.getModel(model_ids[name]).call()
        # fp32 text models are registered outside the opML game (exact on one machine only)
        unverifiable = node.inference.is_text(h)
        assert m == [h, bytes(32), G.MODEL_FEE, owner, G.MODEL_RECEIVER_PERCENTAGE, 0, ZERO, unverifiable]
        assert oracle.functions.modelOwner(model_ids[name]).call() == owner
    assert opml.functions.oracle().call() == oracle.address
    assert opml.functions.challengeWindow().call() == G.DEFAULT_CHALLENGE_WINDOW
    assert opml.functions.resultBond().call() == G.RESULT_BOND
    assert opml.functions.challengeBond().call() == G.CHALLENGE_BOND
    assert opml.functions.bondOf(operator).call() == G.OPERATOR_BOND
    assert w3.eth.get_balance(opml.address) == G.OPERATOR_BOND
    assert prompt.functions.aiOracle().call() == oracle.address
    for name, addr in GENESIS_ADDRESSES.items():
        assert len(w3.eth.get_code(addr)) > 0, name


def test_genesis_plan_shape(shipped_models):
    owner = bytes.fromhex(G.OWNER_ADDRESS[2:])
    op = bytes.fromhex(G.OPERATOR_ADDRESS[2:])
    pre, calls = G.genesis_plan(owner, op, shipped_models, challenge_window=7)
    assert [p.name for p in pre][:2] == ["AIOracle", "OpML"]
    assert pre[0].address == bytes.fromhex("0A0f4321214BB6C7811dD8a71cF587bdaF03f0A0")
    assert all(len(p.address) == 20 for p in pre)
    assert calls[-1].sender == op and calls[-1].value == G.OPERATOR_BOND
    assert sum(c.data[:4] == keccak(text="uploadModel(uint256,bytes32,bytes32,uint256,address,uint256,address,bool)")[:4]
               for c in calls) == len(shipped_models)
    # deterministic
    assert G.genesis_plan(owner, op, shipped_models, 7) == (pre, calls)
    with pytest.raises(ValueError):
        G.genesis_plan(owner, op, [("a", b"\x01" * 32), ("a", b"\x02" * 32)])
    with pytest.raises(ValueError):
        G.genesis_plan(owner, op, [("a", b"\x01" * 31)])
    assert G.model_ids([("zeta", b"1" * 32), ("alpha", b"2" * 32), ("digits-generator", b"3" * 32)]) == {
        "digits-generator": 2, "alpha": 100, "zeta": 101}
    _, calls = G.genesis_plan(owner, op, [("a", b"\x01" * 32), ("b", b"\x02" * 32)], unverifiable=["b"])
    uploads = [c.data for c in calls if c.data[:4] == calls[2].data[:4]]
    assert [u[-1] for u in uploads] == [0, 1]  # the last word: unverifiable
    with pytest.raises(ValueError):
        G.genesis_plan(owner, op, [("a", b"\x01" * 32)], unverifiable=["zz"])


# ------------------------------------------------------------------ request -> result -> delivery


def test_prompt_flow_end_to_end(w3, oracle, opml, prompt, accounts, operator, digit_input, infer, classifier_hash):
    user = accounts[1]
    fee = prompt.functions.estimateFee(CLASSIFIER).call()
    assert fee == G.MODEL_FEE  # gasPrice is 0 before the first fulfilment
    r = send(prompt.functions.calculateAIResult(CLASSIFIER, digit_input), user, value=fee)
    (req,) = events(oracle, "AICallbackRequest", r)
    assert r.logs[0].topics[0].hex().removeprefix("0x") == \
        "849aa5adc3bf6a75cb08afbf31d88d1528c274e5d84e3d4355d23d8e9ebd649b"
    rid = req.args.requestId
    assert req.args.account == prompt.address and req.args.modelId == CLASSIFIER
    assert req.args.input == digit_input and req.args.callbackContract == prompt.address
    assert req.args.gasLimit == prompt.functions.DEFAULT_CALLBACK_GAS_LIMIT().call()
    assert oracle.functions.getRequestStatus(rid).call() == 1  # Pending
    # the input is in the log and calldata only; state keeps its hash and where the log is
    assert oracle.functions.getInputHash(rid).call() == keccak(digit_input)
    assert oracle.functions.getRequestBlock(rid).call() == r.blockNumber
    reverts(oracle.functions.getInput(rid), "input not published", user)
    assert oracle.functions.getRequestModelHash(rid).call() == classifier_hash
    assert oracle.functions.getRequestModelHashes([rid, 10**6]).call() == [classifier_hash, bytes(32)]
    assert not oracle.functions.isFinalized(rid).call()
    stored = oracle.functions.requests(rid).call()  # ORA's getter, its shape; input empty until published
    gas_limit = prompt.functions.DEFAULT_CALLBACK_GAS_LIMIT().call()
    assert stored == [prompt.address, rid, CLASSIFIER, b"", prompt.address, gas_limit, b""]
    assert oracle.functions.requests(10**6).call() == [ZERO, 0, 0, b"", ZERO, 0, b""]

    out = infer(classifier_hash, digit_input)
    r = send(oracle.functions.invokeCallback(rid, out), operator)
    (res,) = events(oracle, "AICallbackResult", r)
    assert (res.args.account, res.args.requestId, res.args.invoker, res.args.output) == (prompt.address, rid, operator, out)
    (conf,) = events(oracle, "Confirm", r)
    assert conf.args.responseHash == keccak(out) and conf.args.user == operator
    assert prompt.functions.getAIResult(CLASSIFIER, digit_input).call() == out
    assert prompt.functions.deliveries(rid).call() == 1
    assert oracle_output(oracle, rid) == out  # from the log, checked against the stored hash
    assert oracle.functions.getOutputHash(rid).call() == keccak(out)
    assert oracle.functions.getResultVersion(rid).call() == 1
    assert oracle.functions.getDeliveredVersion(rid).call() == 1
    assert oracle.functions.getResultInvoker(rid).call() == operator
    assert oracle.functions.gasPrice().call() == r.effectiveGasPrice  # ORA: price of the last fulfilment
    # optimistic until the window passes
    assert not oracle.functions.isFinalized(rid).call()
    assert not prompt.functions.isFinalized(rid).call()
    mine(w3, G.DEFAULT_CHALLENGE_WINDOW)
    assert oracle.functions.isFinalized(rid).call()
    assert prompt.functions.isFinalized(rid).call()
    # a second delivery of the same version is refused
    reverts(oracle.functions.updateResult(rid, out), "result already delivered", accounts[2])
    reverts(oracle.functions.invokeCallback(rid, out), "request already processed", operator)


def test_request_without_callback(oracle, accounts, operator, digit_input, infer, classifier_hash):
    rid, _ = _request(oracle, accounts[1], digit_input)
    out = infer(classifier_hash, digit_input)
    r = send(oracle.functions.invokeCallback(rid, out), operator)
    assert events(oracle, "AICallbackResult", r)[0].args.output == out
    assert oracle_output(oracle, rid) == out


def test_callback_gets_exactly_gas_limit(oracle, consumer, accounts, operator, digit_input, infer, classifier_hash):
    gas_limit = 600_000
    fee = oracle.functions.estimateFee(CLASSIFIER, gas_limit).call()
    r = send(consumer.functions.request(CLASSIFIER, digit_input, gas_limit, b"ctx"), accounts[1], value=fee)
    rid = events(oracle, "AICallbackRequest", r)[0].args.requestId
    send(oracle.functions.invokeCallback(rid, infer(classifier_hash, digit_input)), operator)
    left = consumer.functions.lastGasLeft().call()
    assert gas_limit - 1_000 < left <= gas_limit  # only the callee's own dispatch is spent before gasleft()


def test_callback_failure_reverts_fulfilment(oracle, consumer, accounts, operator, digit_input, infer, classifier_hash):
    fee = oracle.functions.estimateFee(CLASSIFIER, GAS).call()
    r = send(consumer.functions.request(CLASSIFIER, digit_input, GAS, b""), accounts[1], value=fee)
    rid = events(oracle, "AICallbackRequest", r)[0].args.requestId
    send(consumer.functions.configure(True, False), accounts[1])
    out = infer(classifier_hash, digit_input)
    reverts(oracle.functions.invokeCallback(rid, out), "consumer says no", operator)  # bubbled reason
    # too little gas to give the callback its full limit
    reverts(oracle.functions.invokeCallback(rid, out), "insufficient gas for callback", operator, gas=GAS + 150_000)
    send(consumer.functions.configure(False, False), accounts[1])
    send(oracle.functions.invokeCallback(rid, out), operator)
    assert consumer.functions.deliveriesOf(rid).call() == 1


def test_consumer_without_callback_reverts_fulfilment(oracle, opml, prompt, accounts, operator, digit_input):
    # a contract with no aiOracleCallback (and no fallback) reverts with no data
    rid, _ = _request(oracle, accounts[1], digit_input, callback=opml.address, gas_limit=GAS)
    reverts(oracle.functions.invokeCallback(rid, b"out"), "callback failed", operator)
    # the Prompt example refuses results for requests it did not make
    rid, _ = _request(oracle, accounts[1], digit_input, callback=prompt.address, gas_limit=GAS)
    reverts(oracle.functions.invokeCallback(rid, b"out"), "request does not exist", operator)


def test_callback_can_make_a_new_request(oracle, consumer, accounts, operator, digit_input, infer, classifier_hash):
    send(consumer.functions.configure(False, True), accounts[1])
    send_eth = consumer.w3.eth.send_transaction({"from": accounts[1], "to": consumer.address, "value": 10**18})
    consumer.w3.eth.wait_for_transaction_receipt(send_eth)
    send(consumer.functions.setChain(CLASSIFIER), accounts[1])
    fee = oracle.functions.estimateFee(CLASSIFIER, 2_000_000).call()
    r = send(consumer.functions.request(CLASSIFIER, digit_input, 2_000_000, b""), accounts[1], value=fee)
    rid = events(oracle, "AICallbackRequest", r)[0].args.requestId
    r = send(oracle.functions.invokeCallback(rid, infer(classifier_hash, digit_input)), operator)
    chained = consumer.functions.chainedRequestId().call()
    assert chained == rid + 1
    assert events(oracle, "AICallbackRequest", r)[0].args.requestId == chained


def test_feedback_error(oracle, prompt, consumer, accounts, operator, digit_input):
    fee = prompt.functions.estimateFee(CLASSIFIER).call()
    r = send(prompt.functions.calculateAIResult(CLASSIFIER, digit_input), accounts[1], value=fee)
    rid = events(oracle, "AICallbackRequest", r)[0].args.requestId
    reverts(oracle.functions.feedbackError(rid, 0, b"bad"), "Not in whitelist", accounts[1])
    r = send(oracle.functions.feedbackError(rid, 0, b"bad tensor"), operator)
    (ev,) = events(oracle, "AICallbackError", r)
    assert ev.args.code == 0 and ev.args.message == b"bad tensor" and not ev.args.delivered  # Prompt has no hook
    assert oracle.functions.getRequestStatus(rid).call() == 3  # Errored
    assert not oracle.functions.isFinalized(rid).call()
    reverts(oracle.functions.invokeCallback(rid, b"x"), "request already processed", operator)
    reverts(oracle.functions.feedbackError(rid, 1, b""), "request already processed", operator)
    reverts(oracle.functions.updateResult(rid, b"x"), "request not fulfilled", operator)
    # a consumer with the hook hears about it
    fee = oracle.functions.estimateFee(CLASSIFIER, GAS).call()
    r = send(consumer.functions.request(CLASSIFIER, digit_input, GAS, b""), accounts[1], value=fee)
    rid = events(oracle, "AICallbackRequest", r)[0].args.requestId
    r = send(oracle.functions.feedbackError(rid, 1, b"batch"), operator, gas=None)  # estimated gas suffices
    assert events(oracle, "AICallbackError", r)[0].args.delivered
    assert consumer.functions.errors().call() == 1


# ------------------------------------------------------------------ fees, refunds, revenue


def test_fee_rules_and_revenue(w3, oracle, accounts, operator, owner, digit_input, infer, classifier_hash):
    user = accounts[1]
    # first fulfilment sets gasPrice
    rid, _ = _request(oracle, user, digit_input)
    r = send(oracle.functions.invokeCallback(rid, infer(classifier_hash, digit_input)), operator)
    price = oracle.functions.gasPrice().call()
    assert price == r.effectiveGasPrice > 0
    assert oracle.functions.estimateFee(CLASSIFIER, 100_000).call() == G.MODEL_FEE + price * 100_000
    assert oracle.functions.estimateFeeBatch(CLASSIFIER, 100_000, 4).call() == 4 * G.MODEL_FEE + price * 100_000

    rev0 = oracle.functions.getModel(CLASSIFIER).call()[5]
    proto0 = oracle.functions.protocolBalance().call()
    fee = 4 * G.MODEL_FEE + price * GAS
    r = send(oracle.functions.requestBatchInference(4, CLASSIFIER, digit_input, accounts[3], GAS, b"", 0, 1), user,
             value=fee)
    (ev,) = events(oracle, "AICallbackRequest", r)
    assert r.logs[0].topics[0].hex().removeprefix("0x") == \
        "559924afbacb3c57c52632c869b00ba6f87a7da06ecd3820325ae923e38b0c61"
    assert (ev.args.batchSize, ev.args.inputDA, ev.args.outputDA) == (4, 0, 1)
    # the model fee waits in escrow until the request is answered; the callback gas is paid at once
    assert oracle.functions.getRequestEscrow(ev.args.requestId).call() == 4 * G.MODEL_FEE
    assert oracle.functions.getModel(CLASSIFIER).call()[5] == rev0
    assert oracle.functions.protocolBalance().call() == proto0 + fee - 4 * G.MODEL_FEE
    send(oracle.functions.invokeCallback(ev.args.requestId, b"four answers"), operator)
    share = 4 * G.MODEL_FEE * G.MODEL_RECEIVER_PERCENTAGE // 100
    assert oracle.functions.getRequestEscrow(ev.args.requestId).call() == 0
    assert oracle.functions.getModel(CLASSIFIER).call()[5] == rev0 + share
    assert oracle.functions.protocolBalance().call() == proto0 + fee - share
    assert oracle.functions.getRequestBatchSize(ev.args.requestId).call() == 4

    # DA variant of requestCallback
    r = send(oracle.functions.requestCallback(CLASSIFIER, digit_input, ZERO, 0, b"", 1, 0), user,
             value=G.MODEL_FEE)
    assert events(oracle, "AICallbackRequest", r)[0].args.batchSize == 1

    # claimModelRevenue pushes the accrued revenue to the receiver
    rev = oracle.functions.getModel(CLASSIFIER).call()[5]
    before = w3.eth.get_balance(owner)
    r = send(oracle.functions.claimModelRevenue(CLASSIFIER), accounts[4])  # anyone may push it
    assert w3.eth.get_balance(owner) == before + rev
    assert events(oracle, "ModelRevenueClaimed", r)[0].args.amount == rev
    assert oracle.functions.getModel(CLASSIFIER).call()[5] == 0
    send(oracle.functions.claimModelRevenue(CLASSIFIER), accounts[4])  # nothing accrued: a no-op

    # the owner withdraws the protocol's share only
    proto = oracle.functions.protocolBalance().call()
    before = w3.eth.get_balance(owner)
    r = send(oracle.functions.withdraw(), owner)
    assert w3.eth.get_balance(owner) == before + proto - r.gasUsed * r.effectiveGasPrice
    # what stays: the unanswered DA request's model fee, in escrow
    assert w3.eth.get_balance(oracle.address) == _oracle_books(oracle, accounts) == G.MODEL_FEE
    reverts_custom(oracle.functions.withdraw(), "OwnableUnauthorizedAccount(address)", user)


def test_overpayment_is_refunded(w3, oracle, consumer, accounts, digit_input):
    user = accounts[1]
    before = w3.eth.get_balance(user)
    r = send(oracle.functions.requestCallback(CLASSIFIER, digit_input, ZERO, 0, b""), user, value=G.MODEL_FEE + 12345)
    (ev,) = events(oracle, "Refund", r)
    assert (ev.args.account, ev.args.amount, ev.args.credited) == (user, 12345, False)
    assert w3.eth.get_balance(user) == before - G.MODEL_FEE - r.gasUsed * r.effectiveGasPrice
    assert w3.eth.get_balance(oracle.address) == _oracle_books(oracle, accounts) == G.MODEL_FEE

    # a payer that rejects ETH gets a credit, claimable later
    gas_limit = 100_000
    fee = oracle.functions.estimateFee(CLASSIFIER, gas_limit).call()
    r = send(consumer.functions.request(CLASSIFIER, digit_input, gas_limit, b""), user, value=fee + 777)
    (ev,) = events(oracle, "Refund", r)
    assert ev.args.credited and ev.args.amount == 777
    assert oracle.functions.refundCredit(consumer.address).call() == 777
    assert w3.eth.get_balance(oracle.address) == _oracle_books(oracle, accounts, [consumer.address])
    reverts(oracle.functions.claimRefund(), "no refund", user)
    reverts(consumer.functions.claimRefund(), "refund failed", user)  # still rejects ETH
    send(consumer.functions.configure(False, True), user)
    r = send(consumer.functions.claimRefund(), user)
    assert events(oracle, "Refund", r)[0].args.amount == 777
    assert w3.eth.get_balance(consumer.address) == 777
    assert oracle.functions.refundCredit(consumer.address).call() == 0
    assert w3.eth.get_balance(oracle.address) == _oracle_books(oracle, accounts, [consumer.address])


def test_revert_paths_of_requests(oracle, accounts, owner, digit_input):
    user = accounts[1]
    f = oracle.functions
    reverts(f.requestCallback(999, digit_input, ZERO, 0, b""), "model does not exist", user, value=10**18)
    reverts(f.estimateFee(999, 0), "model does not exist", user)
    reverts(f.estimateFeeBatch(999, 0, 1), "model does not exist", user)
    reverts(f.getModel(999), "model does not exist", user)
    reverts(f.claimModelRevenue(999), "model does not exist", user)
    reverts(f.requestCallback(CLASSIFIER, digit_input, ZERO, 0, b""), "insufficient fee", user, value=G.MODEL_FEE - 1)
    reverts(f.requestCallback(CLASSIFIER, b"", ZERO, 0, b""), "input not uploaded", user, value=G.MODEL_FEE)
    reverts(f.requestCallback(CLASSIFIER, digit_input, accounts[2], 0, b""), "Invalid gasLimit", user, value=G.MODEL_FEE)
    reverts(f.requestCallback(CLASSIFIER, digit_input, ZERO, 5, b""), "Invalid gasLimit", user, value=G.MODEL_FEE)
    reverts(f.requestCallback(CLASSIFIER, digit_input, accounts[2], 16_000_000, b""), "Invalid gasLimit", user,
            value=G.MODEL_FEE)
    reverts(f.requestCallback(CLASSIFIER, digit_input, ZERO, 0, b"", 2, 0), "inputDA should not be IPFS", user,
            value=G.MODEL_FEE)
    reverts(f.requestBatchInference(0, CLASSIFIER, digit_input, ZERO, 0, b"", 0, 0), "Invalid batchSize", user,
            value=G.MODEL_FEE)
    reverts(f.requestBatchInference(3, CLASSIFIER, digit_input, ZERO, 0, b"", 0, 0), "insufficient fee", user,
            value=3 * G.MODEL_FEE - 1)
    send(f.addToBlacklist(user), owner)
    assert f.blacklist(user).call()
    reverts(f.requestCallback(CLASSIFIER, digit_input, ZERO, 0, b""), "In blacklist", user, value=G.MODEL_FEE)
    send(f.removeFromBlacklist(user), owner)
    send(f.requestCallback(CLASSIFIER, digit_input, ZERO, 0, b""), user, value=G.MODEL_FEE)


def test_revert_paths_of_results(oracle, accounts, operator, owner, digit_input, infer, classifier_hash):
    f = oracle.functions
    rid, _ = _request(oracle, accounts[1], digit_input)
    out = infer(classifier_hash, digit_input)
    reverts(f.invokeCallback(rid, out), "Not in whitelist", accounts[1])
    reverts(f.invokeCallback(rid + 100, out), "request not exists", operator)
    reverts(f.feedbackError(rid + 100, 0, b""), "request not exists", operator)
    reverts(f.updateResult(rid + 100, out), "request not exists", operator)
    reverts(f.updateResult(rid, out), "request not fulfilled", operator)
    reverts(f.onResultCorrected(rid, out, accounts[1]), "only opml", accounts[1])
    send(f.invokeCallback(rid, out), operator)
    reverts(f.updateResult(rid, out + b"\x00"), "output hash mismatch", accounts[1])
    reverts(f.updateResult(rid, out), "result already delivered", accounts[1])
    reverts(f.onResultCorrected(rid, out, accounts[1]), "only opml", accounts[1])
    # whitelist management
    reverts_custom(f.addToWhitelist(accounts[1]), "OwnableUnauthorizedAccount(address)", accounts[1])
    send(f.addToWhitelist(accounts[1]), owner)
    assert f.whitelist(accounts[1]).call()
    send(f.removeFromWhitelist(accounts[1]), owner)
    assert not f.whitelist(accounts[1]).call()


# ------------------------------------------------------------------ models


def test_model_admin_by_owner(oracle, accounts, owner, operator):
    f = oracle.functions
    h = keccak(b"model")
    n = f.numberOfModels().call()
    reverts_custom(f.uploadModel(77, h, bytes(32), 5, owner, 50, ZERO, False), "OwnableUnauthorizedAccount(address)", accounts[1])
    reverts(f.uploadModel(77, bytes(32), bytes(32), 5, owner, 50, ZERO, False), "invalid model hash", owner)
    reverts(f.uploadModel(77, h, bytes(32), 5, owner, 101, ZERO, False), "invalid receiverPercentage", owner)
    reverts(f.uploadModel(CLASSIFIER, h, bytes(32), 5, owner, 50, ZERO, False), "model already exists", owner)
    r = send(f.uploadModel(77, h, b"\x01" * 32, 5, accounts[2], 50, accounts[3], True), owner)
    assert events(oracle, "ModelUploaded", r)[0].args.modelId == 77
    assert f.getModel(77).call() == [h, b"\x01" * 32, 5, accounts[2], 50, 0, accounts[3], True]
    assert f.numberOfModels().call() == n + 1 and f.modelIDs(n).call() == 77
    send(f.updateModel(77, keccak(b"v2"), bytes(32), 6, accounts[4], 40, ZERO, True), owner)
    assert f.getModel(77).call() == [keccak(b"v2"), bytes(32), 6, accounts[4], 40, 0, ZERO, True]
    reverts(f.updateModel(77, bytes(32), bytes(32), 6, owner, 40, ZERO, False), "invalid model hash", owner)
    reverts(f.updateModel(77, h, bytes(32), 6, owner, 140, ZERO, False), "invalid receiverPercentage", owner)
    reverts(f.updateModel(78, h, bytes(32), 6, owner, 40, ZERO, False), "model does not exist", owner)
    send(f.setModelFee(77, 9), owner)
    send(f.setModelReceiver(77, accounts[5]), owner)
    send(f.setModelReceiverPercentage(77, 100), owner)
    reverts(f.setModelReceiverPercentage(77, 101), "invalid receiverPercentage", owner)
    assert f.getModel(77).call()[2:5] == [9, accounts[5], 100]
    # unclaimed revenue blocks removal
    _answered(oracle, operator, accounts[1], 77, b"x", 9)
    reverts(f.removeModel(77), "unclaimed revenue", owner)
    send(f.claimModelRevenue(77), accounts[1])
    reverts_custom(f.removeModel(77), "OwnableUnauthorizedAccount(address)", accounts[1])
    first = f.modelIDs(0).call()  # removing from the middle keeps modelIDs dense (swap-and-pop)
    send(f.removeModel(first), owner)
    send(f.removeModel(77), owner)
    reverts(f.getModel(77), "model does not exist", owner)
    reverts(f.removeModel(77), "model does not exist", owner)
    ids = [f.modelIDs(i).call() for i in range(f.numberOfModels().call())]
    assert 77 not in ids and first not in ids and len(set(ids)) == len(ids) == n - 1


def test_register_model_permissionless(oracle, accounts, owner, operator, digit_input):
    f = oracle.functions
    dev, stranger = accounts[5], accounts[6]
    h = keccak(b"dev model")
    send(f.uploadModel(1000, keccak(b"taken"), bytes(32), 1, owner, 0, ZERO, True), owner)  # owner took 1000
    r = send(f.registerModel(h, bytes(32), 10**14, dev, 100), dev)
    mid = events(oracle, "ModelUploaded", r)[0].args.modelId
    assert mid == 1001  # ids from 1000 up, skipping taken ones
    assert f.modelOwner(mid).call() == dev
    # a hash the precompile cannot re-execute is registered unverifiable (no opML game)
    assert f.getModel(mid).call() == [h, bytes(32), 10**14, dev, 100, 0, ZERO, True]
    runnable = f.getModel(CLASSIFIER).call()[0]
    r = send(f.registerModel(runnable, bytes(32), 10**14, dev, 100), dev)
    assert f.getModel(events(oracle, "ModelUploaded", r)[0].args.modelId).call()[7] is False
    r = send(f.registerModel(h, bytes(32), 1, stranger, 0), stranger)  # same hash, another id
    assert events(oracle, "ModelUploaded", r)[0].args.modelId == 1003
    reverts(f.registerModel(bytes(32), bytes(32), 1, dev, 0), "invalid model hash", dev)
    reverts(f.registerModel(h, bytes(32), 1, dev, 101), "invalid receiverPercentage", dev)
    # the model owner (and the oracle owner) administer it; strangers cannot
    send(f.setModelFee(mid, 2 * 10**14), dev)
    send(f.setModelReceiverPercentage(mid, 90), dev)
    send(f.setModelReceiver(mid, accounts[7]), owner)
    reverts(f.setModelFee(mid, 1), "not model owner", stranger)
    reverts(f.setModelReceiver(mid, stranger), "not model owner", stranger)
    reverts(f.setModelReceiverPercentage(mid, 1), "not model owner", stranger)
    reverts(f.updateModel(mid, h, bytes(32), 1, stranger, 1, ZERO, False), "not model owner", stranger)
    reverts(f.transferModelOwnership(mid, stranger), "not model owner", stranger)
    reverts(f.setModelFee(5555, 1), "model does not exist", dev)
    # it serves requests; its revenue follows its settings
    _answered(oracle, operator, accounts[1], mid, digit_input, 2 * 10**14)
    assert f.getModel(mid).call()[5] == 2 * 10**14 * 90 // 100


def test_model_ownership_two_step(oracle, accounts, owner):
    f = oracle.functions
    dev, launchpad, other = accounts[5], accounts[6], accounts[7]
    mid = events(oracle, "ModelUploaded", send(f.registerModel(keccak(b"m"), bytes(32), 1, dev, 100), dev))[0].args.modelId
    r = send(f.transferModelOwnership(mid, launchpad), dev)
    assert events(oracle, "ModelOwnershipTransferStarted", r)[0].args.to == launchpad
    assert f.pendingModelOwner(mid).call() == launchpad
    assert f.modelOwner(mid).call() == dev  # unchanged until accepted
    reverts(f.acceptModelOwnership(mid), "not pending model owner", other)
    reverts(f.acceptModelOwnership(4242), "model does not exist", other)
    r = send(f.acceptModelOwnership(mid), launchpad)
    ev = events(oracle, "ModelOwnershipTransferred", r)[0].args
    assert (ev["from"], ev.to) == (dev, launchpad)
    assert f.modelOwner(mid).call() == launchpad and f.pendingModelOwner(mid).call() == ZERO
    reverts(f.setModelReceiver(mid, dev), "not model owner", dev)
    send(f.setModelReceiver(mid, other), launchpad)
    assert f.getModel(mid).call()[3] == other


def test_claim_revenue_failures(w3, oracle, consumer, accounts, owner, operator, digit_input):
    f = oracle.functions
    share = G.MODEL_FEE * G.MODEL_RECEIVER_PERCENTAGE // 100
    send(f.setModelReceiver(CLASSIFIER, consumer.address), owner)  # rejects ETH
    _answered(oracle, operator, accounts[1], CLASSIFIER, digit_input, G.MODEL_FEE)
    reverts(f.claimModelRevenue(CLASSIFIER), "revenue transfer failed", accounts[1])
    # changing the receiver tries to pay the old one first; it rejects, so the revenue stays
    r = send(f.setModelReceiver(CLASSIFIER, ZERO), owner)
    assert not events(oracle, "ModelRevenueClaimed", r)
    assert f.getModel(CLASSIFIER).call()[5] == share
    reverts(f.claimModelRevenue(CLASSIFIER), "no receiver", accounts[1])
    send(f.setModelReceiver(CLASSIFIER, accounts[8]), owner)
    before = w3.eth.get_balance(accounts[8])
    send(f.claimModelRevenue(CLASSIFIER), accounts[1])
    assert w3.eth.get_balance(accounts[8]) == before + share


def test_receiver_change_pays_the_old_receiver(w3, oracle, accounts, owner, operator, digit_input):
    f = oracle.functions
    share = G.MODEL_FEE * G.MODEL_RECEIVER_PERCENTAGE // 100
    _answered(oracle, operator, accounts[1], CLASSIFIER, digit_input, G.MODEL_FEE)
    before = w3.eth.get_balance(owner)
    r = send(f.setModelReceiver(CLASSIFIER, accounts[8]), owner)
    assert events(oracle, "ModelRevenueClaimed", r)[0].args.amount == share
    assert w3.eth.get_balance(owner) == before + share - r.gasUsed * r.effectiveGasPrice
    assert f.getModel(CLASSIFIER).call()[5] == 0
    _answered(oracle, operator, accounts[1], CLASSIFIER, digit_input, G.MODEL_FEE)
    m = f.getModel(CLASSIFIER).call()
    before = w3.eth.get_balance(accounts[8])
    send(f.updateModel(CLASSIFIER, m[0], m[1], m[2], accounts[7], m[4], m[6], m[7]), owner)
    assert w3.eth.get_balance(accounts[8]) == before + share


def test_unverifiable_model_is_final_at_once(oracle, opml, accounts, owner, operator, digit_input, infer,
                                              classifier_hash):
    f = oracle.functions
    send(f.uploadModel(50, classifier_hash, bytes(32), 0, owner, 0, ZERO, True), owner)
    r = send(f.requestCallback(50, digit_input, ZERO, 0, b""), accounts[1])
    rid = events(oracle, "AICallbackRequest", r)[0].args.requestId
    send(f.invokeCallback(rid, b"anything"), operator)
    assert f.isFinalized(rid).call()
    assert opml.functions.gameStatus(rid).call() == 0  # no game was opened


def test_without_opml_results_are_final(oracle, accounts, owner, operator, digit_input):
    send(oracle.functions.setOpml(ZERO), owner)
    rid, _ = _request(oracle, accounts[1], digit_input)
    send(oracle.functions.invokeCallback(rid, b"out"), operator)
    assert oracle.functions.isFinalized(rid).call()
    assert oracle.functions.getResultVersion(rid).call() == 1
    reverts_custom(oracle.functions.setOpml(ZERO), "OwnableUnauthorizedAccount(address)", accounts[1])


def test_prompt_example_reverts(oracle, prompt, accounts, digit_input):
    f = prompt.functions
    reverts(f.calculateAIResult(CLASSIFIER, digit_input), "insufficient fee", accounts[1], value=G.MODEL_FEE - 1)
    data = reverts_custom(f.aiOracleCallback(1, b"x", b""), "UnauthorizedCallbackSource(address,address)", accounts[1])
    assert oracle.address[2:].lower() in data.lower() and accounts[1][2:].lower() in data.lower()
    reverts(f.setCallbackGasLimit(CLASSIFIER, 5), "only owner", accounts[1])
    send(f.setCallbackGasLimit(CLASSIFIER, 1_234_567), to_checksum_address(G.OWNER_ADDRESS))
    assert f.callbackGasLimit(CLASSIFIER).call() == 1_234_567


def test_prompt_refunds_excess(w3, prompt, accounts, digit_input):
    user = accounts[1]
    fee = prompt.functions.estimateFee(CLASSIFIER).call()
    before = w3.eth.get_balance(user)
    r = send(prompt.functions.calculateAIResult(CLASSIFIER, digit_input), user, value=fee + 10**17)
    assert w3.eth.get_balance(user) == before - fee - r.gasUsed * r.effectiveGasPrice
    assert w3.eth.get_balance(prompt.address) == 0


def test_oracle_code_has_no_receive(w3, oracle, accounts):
    h = w3.eth.send_transaction({"from": accounts[1], "to": oracle.address, "value": 1, "gas": 100_000})
    assert w3.eth.wait_for_transaction_receipt(h).status == 0
    assert "receive" not in {e["type"] for e in load_artifact("AIOracle")["abi"]}
