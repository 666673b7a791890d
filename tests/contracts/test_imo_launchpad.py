"""IMOLaunchpad against a fresh AIOracle: every success and revert path, pro-rata allocation,
refunds, the model's revenue flowing to its ERC-7641 token, and ETH conserved to the wei."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from imo_support import (  # noqa: F401  (chain, w3, accounts are fixtures)
    accounts,
    chain,
    w3,
    at,
    deploy,
    deploy_helper,
    events,
    gas_cost,
    increase_time,
    reverts,
    send,
    send_eth,
)

E = 10**18
WINDOW = 3600
MODEL_FEE = 10**16


def ceil_div(a, b):
    return -(-a // b)


@pytest.fixture
def env(w3, accounts):
    admin, dev = accounts[0], accounts[1]
    oracle = deploy(w3, "AIOracle", sender=admin)
    model_id = oracle.functions.registerModel(keccak(b"model"), b"\0" * 32, MODEL_FEE, dev, 50).call({"from": dev})
    send(w3, oracle.functions.registerModel(keccak(b"model"), b"\0" * 32, MODEL_FEE, dev, 50), dev)
    pad = deploy(w3, "IMOLaunchpad", oracle.address, sender=admin)
    return oracle, pad, model_id


def open_args(model_id, supply=1000 * E, sale=600 * E, target=10 * E, window=WINDOW, pct=80, interval=86400):
    return (model_id, "Model Token", "MDL", supply, sale, target, window, pct, interval)


def open_offering(w3, oracle, pad, model_id, owner, **kw):
    send(w3, oracle.functions.transferModelOwnership(model_id, pad.address), owner)
    r = send(w3, pad.functions.open(*open_args(model_id, **kw)), owner)
    (ev,) = events(pad, r, "OfferingOpened")
    return ev["offeringId"]


def test_open_reverts(w3, accounts, env):
    oracle, pad, mid = env
    dev, other = accounts[1], accounts[2]
    reverts(pad.functions.open(*open_args(mid)), "not model owner", sender=other)
    reverts(pad.functions.open(*open_args(12345)), "not model owner", sender=dev)
    reverts(pad.functions.open(*open_args(mid)), "transfer model ownership to launchpad first", sender=dev)
    send(w3, oracle.functions.transferModelOwnership(mid, pad.address), dev)
    bad = [
        ((mid, "", "MDL", 10, 5, 1, 1, 1, 1), "empty name or symbol"),
        ((mid, "N", "", 10, 5, 1, 1, 1, 1), "empty name or symbol"),
        (open_args(mid, sale=0), "zero sale amount"),
        (open_args(mid, sale=1001 * E), "sale amount exceeds supply"),
        (open_args(mid, supply=2**208, sale=1), "supply too large"),
        (open_args(mid, target=0), "zero target"),
        (open_args(mid, window=0), "zero deposit window"),
        (open_args(mid, pct=101), "percentClaimable over 100"),
    ]
    for args, reason in bad:
        reverts(pad.functions.open(*args), reason, sender=dev)
    # the launchpad takes the model ownership when opening
    oid = pad.functions.open(*open_args(mid)).call({"from": dev})
    send(w3, pad.functions.open(*open_args(mid)), dev)
    assert oid == 1 == pad.functions.offeringCount().call()
    assert oracle.functions.modelOwner(mid).call() == pad.address
    assert pad.functions.offeringOfModel(mid).call() == 1
    # nobody (not even the former owner) can open it again while it is held
    reverts(pad.functions.open(*open_args(mid)), "not model owner", sender=dev)


def test_oversubscribed_success_full_flow(w3, accounts, env):
    oracle, pad, mid = env
    dev, d1, d2, d3, user = accounts[1], accounts[2], accounts[3], accounts[4], accounts[5]
    miner = w3.eth.get_block("latest").miner
    tracked = [dev, d1, d2, d3, user]
    assert miner not in tracked
    receipts = []

    def tx(fn, sender, value=0):
        r = send(w3, fn, sender, value)
        receipts.append((sender, r))
        return r

    def total():
        return sum(w3.eth.get_balance(a) for a in tracked + [pad.address, oracle.address])

    def answer(request_receipt):
        """The model fee is revenue once the request is answered (until then it is in escrow)."""
        (ev,) = events(oracle, request_receipt, "AICallbackRequest")
        tx(oracle.functions.invokeCallback(ev["requestId"], b"an answer"), accounts[0])

    tx(oracle.functions.transferModelOwnership(mid, pad.address), dev)
    start = total()
    r = tx(pad.functions.open(*open_args(mid)), dev)
    (ev,) = events(pad, r, "OfferingOpened")
    oid = ev["offeringId"]
    assert (ev["modelId"], ev["modelOwner"], ev["target"]) == (mid, dev, 10 * E)
    assert ev["end"] - ev["start"] == WINDOW

    reverts(pad.functions.deposit(oid), "zero deposit", sender=d1)
    reverts(pad.functions.deposit(99), "no such offering", sender=d1, value=1)
    deposits = {d1: 6 * E, d2: 9 * E + 1, d3: 12345}
    for who, amount in deposits.items():
        r = tx(pad.functions.deposit(oid), who, amount)
        (ev,) = events(pad, r, "Deposited")
        assert (ev["account"], ev["amount"]) == (who, amount)
    tx(pad.functions.deposit(oid), d1, 1 * E)  # a second deposit adds up
    deposits[d1] += 1 * E
    raised = sum(deposits.values())
    assert pad.functions.getOffering(oid).call()[11] == raised
    reverts(pad.functions.finalize(oid), "deposit window open", sender=user)
    reverts(pad.functions.claim(oid), "offering not succeeded", sender=d1)
    reverts(pad.functions.refund(oid), "offering not failed", sender=d1)
    reverts(pad.functions.finalize(77), "no such offering", sender=user)

    # revenue the model earned before the IMO goes to its old receiver (the dev) at finalize
    pre_fee = oracle.functions.estimateFee(mid, 0).call()
    tx(oracle.functions.addToWhitelist(accounts[0]), accounts[0])  # the admin answers requests
    answer(tx(oracle.functions.requestCallback(mid, b"\x01", "0x" + "00" * 20, 0, b""), user, pre_fee))
    pre_revenue = oracle.functions.getModel(mid).call()[5]
    assert pre_revenue == MODEL_FEE * 50 // 100

    increase_time(w3, WINDOW)
    reverts(pad.functions.deposit(oid), "deposit window closed", sender=d1, value=1)
    dev_before = w3.eth.get_balance(dev)
    r = tx(pad.functions.finalize(oid), user)
    (ev,) = events(pad, r, "Finalized")
    assert ev["success"] and ev["raised"] == raised
    token = at(w3, "ERC7641", ev["token"])
    assert w3.eth.get_balance(dev) == dev_before + 10 * E + pre_revenue  # proceeds = exactly the target
    assert oracle.functions.getModel(mid).call()[5] == 0
    reverts(pad.functions.finalize(oid), "already finalized", sender=user)
    reverts(pad.functions.deposit(oid), "deposit window closed", sender=d1, value=1)
    reverts(pad.functions.refund(oid), "offering not failed", sender=d1)

    # the token: ORA-style parameters, rest of the supply with the model owner
    assert token.functions.name().call() == "Model Token" and token.functions.symbol().call() == "MDL"
    assert token.functions.totalSupply().call() == 1000 * E
    assert token.functions.percentClaimable().call() == 80
    assert token.functions.snapshotInterval().call() == 86400
    assert token.functions.balanceOf(dev).call() == 400 * E
    assert token.functions.balanceOf(pad.address).call() == 600 * E
    # the model's oracle revenue now goes to the token
    model = oracle.functions.getModel(mid).call()
    assert model[3] == token.address and model[6] == token.address
    assert oracle.functions.modelOwner(mid).call() == pad.address

    # depositors claim tokens pro rata and their unused ETH
    reverts(pad.functions.claim(oid), "no deposit", sender=user)
    got_tokens = {}
    for who, d in deposits.items():
        tokens = 600 * E * d // raised
        unused = d - ceil_div(d * 10 * E, raised)
        assert pad.functions.claimable(oid, who).call() == [tokens, unused]
        before = w3.eth.get_balance(who)
        r = tx(pad.functions.claim(oid), who)
        (ev,) = events(pad, r, "Claimed")
        assert (ev["tokens"], ev["refund"]) == (tokens, unused)
        assert w3.eth.get_balance(who) == before + unused - gas_cost(r)
        assert token.functions.balanceOf(who).call() == tokens
        got_tokens[who] = tokens
        reverts(pad.functions.claim(oid), "already claimed", sender=who)
    # the last claim swept the rounding dust to the model owner: the launchpad is empty
    (dust,) = events(pad, r, "DustSwept")
    assert token.functions.balanceOf(pad.address).call() == 0
    assert token.functions.balanceOf(dev).call() == 400 * E + dust["tokens"]
    assert sum(got_tokens.values()) + dust["tokens"] == 600 * E
    assert w3.eth.get_balance(pad.address) == 0

    # model owner keeps fee control through the launchpad
    reverts(pad.functions.setModelFee(oid, 1), "not model owner", sender=user)
    tx(pad.functions.setModelFee(oid, 2 * MODEL_FEE), dev)
    assert oracle.functions.getModel(mid).call()[2] == 2 * MODEL_FEE
    reverts(oracle.functions.setModelReceiver(mid, dev), "not model owner", sender=dev)

    # paid inference -> model revenue -> token -> holders
    fee = oracle.functions.estimateFee(mid, 0).call()
    assert fee == 2 * MODEL_FEE
    for _ in range(3):
        answer(tx(oracle.functions.requestCallback(mid, b"\x01", "0x" + "00" * 20, 0, b""), user, fee))
    accrued = oracle.functions.getModel(mid).call()[5]
    assert accrued == 3 * 2 * MODEL_FEE * 50 // 100
    r = tx(oracle.functions.claimModelRevenue(mid), user)
    (ev,) = events(token, r, "RevenueReceived")
    assert ev["amount"] == accrued and w3.eth.get_balance(token.address) == accrued
    increase_time(w3, 86401)
    tx(token.functions.snapshot(), user)
    share = token.functions.claimableRevenue(d2, 1).call()
    assert share == got_tokens[d2] * (accrued * 80 // 100) // (1000 * E)
    tx(token.functions.claim(1), d2)

    # ETH conservation over everything that happened since the offering opened
    gas = sum(gas_cost(r) for s, r in receipts[1:] if s in tracked)
    assert total() + w3.eth.get_balance(token.address) + gas == start


def test_exact_target(w3, accounts, env):
    oracle, pad, mid = env
    dev, d1, d2 = accounts[1], accounts[2], accounts[3]
    oid = open_offering(w3, oracle, pad, mid, dev, target=3 * E)
    send(w3, pad.functions.deposit(oid), d1, 1 * E)
    send(w3, pad.functions.deposit(oid), d2, 2 * E)
    increase_time(w3, WINDOW)
    send(w3, pad.functions.finalize(oid), d1)
    assert pad.functions.claimable(oid, d1).call() == [200 * E, 0]
    assert pad.functions.claimable(oid, d2).call() == [400 * E, 0]
    send(w3, pad.functions.claim(oid), d1)
    r = send(w3, pad.functions.claim(oid), d2)
    (dust,) = events(pad, r, "DustSwept")
    assert (dust["eth"], dust["tokens"]) == (0, 0)
    assert w3.eth.get_balance(pad.address) == 0


def test_target_missed_refunds_and_model_returned(w3, accounts, env):
    oracle, pad, mid = env
    dev, d1, d2, user = accounts[1], accounts[2], accounts[3], accounts[4]
    oid = open_offering(w3, oracle, pad, mid, dev)
    send(w3, pad.functions.deposit(oid), d1, 2 * E)
    send(w3, pad.functions.deposit(oid), d2, 3 * E + 5)
    increase_time(w3, WINDOW)
    r = send(w3, pad.functions.finalize(oid), user)
    (ev,) = events(pad, r, "Finalized")
    assert not ev["success"] and ev["token"] == "0x" + "00" * 20
    assert pad.functions.getOffering(oid).call()[13] == 3  # Status.Failed
    reverts(pad.functions.claim(oid), "offering not succeeded", sender=d1)
    reverts(pad.functions.setModelFee(oid, 1), "offering not succeeded", sender=dev)
    reverts(pad.functions.refund(oid), "no deposit", sender=user)
    for who, d in ((d1, 2 * E), (d2, 3 * E + 5)):
        before = w3.eth.get_balance(who)
        r = send(w3, pad.functions.refund(oid), who)
        assert w3.eth.get_balance(who) == before + d - gas_cost(r)
        (ev,) = events(pad, r, "Refunded")
        assert ev["amount"] == d
        reverts(pad.functions.refund(oid), "already refunded", sender=who)
    assert w3.eth.get_balance(pad.address) == 0
    # the model is offered back; its owner accepts and may open a new offering
    assert oracle.functions.pendingModelOwner(mid).call() == dev
    send(w3, oracle.functions.acceptModelOwnership(mid), dev)
    assert oracle.functions.modelOwner(mid).call() == dev
    assert oracle.functions.getModel(mid).call()[3] == dev  # receiver untouched
    oid2 = open_offering(w3, oracle, pad, mid, dev)
    assert oid2 == oid + 1


def test_no_deposits_fails(w3, accounts, env):
    oracle, pad, mid = env
    dev = accounts[1]
    oid = open_offering(w3, oracle, pad, mid, dev)
    increase_time(w3, WINDOW)
    send(w3, pad.functions.finalize(oid), dev)
    assert pad.functions.getOffering(oid).call()[13] == 3


def test_owner_rejecting_eth_is_owed_then_withdraws(w3, accounts, env):
    oracle, pad, _ = env
    admin, d1 = accounts[0], accounts[2]
    owner = deploy_helper(w3, "Actor", sender=admin)
    ex = owner.functions.exec
    mid = oracle.functions.registerModel(keccak(b"m2"), b"\0" * 32, 0, owner.address, 100).call(
        {"from": owner.address}
    )
    send(w3, ex(oracle.address, oracle.encode_abi("registerModel", [keccak(b"m2"), b"\0" * 32, 0, owner.address, 100])), admin)
    send(w3, ex(oracle.address, oracle.encode_abi("transferModelOwnership", [mid, pad.address])), admin)
    send(w3, ex(pad.address, pad.encode_abi("open", list(open_args(mid, target=E)))), admin)
    oid = pad.functions.offeringCount().call()
    send(w3, pad.functions.deposit(oid), d1, 2 * E)
    send(w3, owner.functions.setAccept(False), admin)
    increase_time(w3, WINDOW)
    reverts(pad.functions.withdraw(), "nothing owed", sender=d1)
    r = send(w3, pad.functions.finalize(oid), d1)  # the owner's refusal does not block anyone
    (ev,) = events(pad, r, "PaymentOwed")
    assert (ev["account"], ev["amount"]) == (owner.address, E)
    assert pad.functions.owed(owner.address).call() == E
    send(w3, pad.functions.claim(oid), d1)
    withdraw = pad.encode_abi("withdraw", [])
    reverts(ex(pad.address, withdraw), "ETH transfer failed", sender=admin)
    send(w3, owner.functions.setAccept(True), admin)
    send(w3, ex(pad.address, withdraw), admin)
    assert w3.eth.get_balance(owner.address) == E
    assert pad.functions.owed(owner.address).call() == 0


def test_removed_model_does_not_block_finalize(w3, accounts, env):
    oracle, pad, mid = env
    admin, dev, d1 = accounts[0], accounts[1], accounts[2]
    oid = open_offering(w3, oracle, pad, mid, dev, target=E)
    send(w3, pad.functions.deposit(oid), d1, E)
    send(w3, oracle.functions.removeModel(mid), admin)
    increase_time(w3, WINDOW)
    r = send(w3, pad.functions.finalize(oid), d1)
    assert events(pad, r, "ModelAdminFailed")[0]["offeringId"] == oid
    send(w3, pad.functions.claim(oid), d1)
    assert w3.eth.get_balance(pad.address) == 0


def test_huge_supply_claims_do_not_overflow(w3, accounts, env):
    """Finding 6: `open` accepts a supply up to uint208.max; saleAmount × deposit overflowed, so
    every claim panicked after finalize had paid the owner, locking the depositors' ETH."""
    oracle, pad, mid = env
    dev, d1, d2 = accounts[1], accounts[2], accounts[3]
    huge = 2**208 - 1
    oid = open_offering(w3, oracle, pad, mid, dev, supply=huge, sale=huge - 1, target=3 * E)
    send(w3, pad.functions.deposit(oid), d1, 1 * E)
    send(w3, pad.functions.deposit(oid), d2, 5 * E)
    increase_time(w3, WINDOW)
    send(w3, pad.functions.finalize(oid), d1)
    tokens, unused = pad.functions.claimable(oid, d2).call()
    assert tokens == (huge - 1) * 5 * E // (6 * E) and unused == 5 * E - -(-5 * E * 3 * E // (6 * E))
    send(w3, pad.functions.claim(oid), d1)
    send(w3, pad.functions.claim(oid), d2)
    token = at(w3, "ERC7641", pad.functions.getOffering(oid).call()[12])
    assert token.functions.balanceOf(d2).call() == tokens
    # revenue shares of such a token are computed without overflow too
    send_eth(w3, d1, token.address, 10**21)
    increase_time(w3, 86401)
    send(w3, token.functions.snapshot(), d1)
    assert token.functions.claimableRevenue(d2, 1).call() == tokens * (10**21 * 80 // 100) // huge
    send(w3, token.functions.claim(1), d2)
