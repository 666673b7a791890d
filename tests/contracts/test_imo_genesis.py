"""The IMO contracts as the node places them at genesis: the launchpad and the ERC-7007
collection of the digits generator, wired to the oracle at ORA's address, and the whole story on
them: an IMO of the generator model, paid mints whose fees reach its ERC-7641 token, oracle
revenue shared by snapshot, and opML finality gating `verify`."""

from __future__ import annotations

import pytest
from eth_abi import encode

from imochain.contracts import GENESIS_ADDRESSES
from eth_utils import keccak, to_checksum_address

from imo_support import (  # noqa: F401  (chain, w3, accounts are fixtures)
    ORA_ORACLE,
    accounts,
    at,
    chain,
    events,
    increase_time,
    rpc,
    w3,
)
from imo_support import send as send_

E = 10**18
PRECOMPILE = "0x00000000000000000000000000000000000000A1"


@pytest.fixture
def genesis(w3):
    pad_addr = GENESIS_ADDRESSES["IMOLaunchpad"]
    coll_addr = GENESIS_ADDRESSES["ERC7007Collection"]
    if not w3.eth.get_code(pad_addr) or not w3.eth.get_code(coll_addr):
        pytest.skip("this chain has no IMO contracts at genesis")
    return at(w3, "AIOracle", ORA_ORACLE), at(w3, "IMOLaunchpad", pad_addr), at(w3, "ERC7007Collection", coll_addr)


def test_predeploy_helper_matches_genesis(w3, accounts, genesis):
    from imochain.contracts import deployed_bytecode
    from imochain.contracts.imo_genesis import predeploys

    _, pad, coll = genesis
    plan = predeploys(accounts[0], ORA_ORACLE, coll.functions.modelId().call())
    assert [to_checksum_address(a) for _, a, _ in plan] == [pad.address, coll.address]
    # Deployed normally, the helper's initcode gives the genesis runtime byte for byte (the
    # constructor arguments that are immutables live in it) and the same stored texts.
    for (name, _, initcode), live in zip(plan, (pad, coll)):
        r = w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction({"from": accounts[0], "data": "0x" + initcode.hex(), "gas": 15_000_000}))
        assert r.status == 1
        assert w3.eth.get_code(r.contractAddress) == w3.eth.get_code(live.address), name
        assert len(w3.eth.get_code(live.address)) == len(deployed_bytecode(name))
    copy = at(w3, "ERC7007Collection", r.contractAddress)
    for getter in ("name", "symbol", "description", "aigcType"):
        assert getattr(copy.functions, getter)().call() == getattr(coll.functions, getter)().call()


def test_genesis_wiring(w3, genesis):
    oracle, pad, coll = genesis
    assert pad.functions.aiOracle().call() == ORA_ORACLE
    assert coll.functions.aiOracle().call() == ORA_ORACLE
    mid = coll.functions.modelId().call()
    model = oracle.functions.getModel(mid).call()
    from imochain.models import ModelStore

    store = ModelStore(None)
    store.load_shipped()
    assert model[0] == store.find("digits-generator")
    for iid in ("702c55a6", "fa1a557a", "3f37dce2", "80ac58cd"):
        assert coll.functions.supportsInterface(bytes.fromhex(iid)).call()
    assert coll.functions.mintPrice().call() == oracle.functions.estimateFee(mid, coll.functions.callbackGasLimit().call()).call() + coll.functions.mintFee().call()


def test_imo_of_the_generator_then_mints_pay_its_holders(w3, accounts, genesis):
    oracle, pad, coll = genesis
    owner, d1, d2, minter, operator = accounts[0], accounts[1], accounts[2], accounts[3], accounts[9]
    mid = coll.functions.modelId().call()
    assert oracle.functions.modelOwner(mid).call() == owner
    # ETH conservation over the whole story: every balance involved, plus the gas paid
    held = [owner, d1, d2, minter, operator, pad.address, coll.address, oracle.address, GENESIS_ADDRESSES["OpML"]]
    start = sum(w3.eth.get_balance(a) for a in held)
    gas = []

    def send(w3, fn, sender, value=0):
        r = send_(w3, fn, sender, value)
        gas.append(r.gasUsed * r.effectiveGasPrice)
        return r

    # IMO of the generator model
    send(w3, oracle.functions.transferModelOwnership(mid, pad.address), owner)
    r = send(w3, pad.functions.open(mid, "Digits Generator", "DGEN", 1000 * E, 500 * E, 2 * E, 600, 80, 3600), owner)
    oid = events(pad, r, "OfferingOpened")[0]["offeringId"]
    send(w3, pad.functions.deposit(oid), d1, 1 * E)
    send(w3, pad.functions.deposit(oid), d2, 3 * E)
    increase_time(w3, 600)
    r = send(w3, pad.functions.finalize(oid), d1)
    token = at(w3, "ERC7641", events(pad, r, "Finalized")[0]["token"])
    send(w3, pad.functions.claim(oid), d1)
    send(w3, pad.functions.claim(oid), d2)
    assert token.functions.balanceOf(d1).call() == 125 * E and token.functions.balanceOf(d2).call() == 375 * E
    assert coll.functions.revenueRecipient().call() == token.address

    # a paid mint: the mint fee reaches the token at once, the model fee accrues in the oracle
    onehot = bytes(127 if i == 5 else 0 for i in range(10))
    prompt = encode(["uint8", "uint32[]", "bytes"], [1, [16], onehot + keccak(b"genesis")[:6]])
    price = coll.functions.mintPrice().call()
    r = send(w3, coll.functions.mint(prompt), minter, price)
    rid = events(coll, r, "MintRequested")[0]["requestId"]
    assert events(token, r, "RevenueReceived")[0]["amount"] == coll.functions.mintFee().call()

    # the operator answers (what the node's oracle worker does); opML keeps it open for a window
    out = bytes(w3.eth.call({"to": PRECOMPILE, "data": "0x" + encode(["bytes32", "bytes"], [oracle.functions.getModel(mid).call()[0], prompt]).hex()}))
    send(w3, oracle.functions.invokeCallback(rid, out), operator)
    tid = int.from_bytes(keccak(prompt), "big")
    assert coll.functions.ownerOf(tid).call() == minter
    proof = coll.functions.proofOf(tid).call()
    assert not coll.functions.verify(prompt, out, proof).call()  # still challengeable
    for _ in range(10):
        if oracle.functions.isFinalized(rid).call():
            break
        rpc(w3, "evm_mine")
    assert oracle.functions.isFinalized(rid).call()
    assert coll.functions.verify(prompt, out, proof).call()

    # oracle revenue of the model flows to the token too; a snapshot shares it
    send(w3, oracle.functions.claimModelRevenue(mid), d1)
    revenue = w3.eth.get_balance(token.address)
    assert revenue > coll.functions.mintFee().call()
    increase_time(w3, 3601)
    send(w3, token.functions.snapshot(), d1)
    assert token.functions.claimableRevenue(d2, 1).call() == 375 * E * (revenue * 80 // 100) // (1000 * E)
    send(w3, token.functions.claim(1), d2)
    end = sum(w3.eth.get_balance(a) for a in held + [token.address])
    assert end + sum(gas) == start
