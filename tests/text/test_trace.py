"""Traces of int8 text answers: states, Merkle commitments, and 0xA1's layer-step entry replaying
any one step from its packed pre-state (tiny random int8 Llama)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_utils import keccak

from imochain.models.errors import PrecompileError
from imochain.models.text import trace as T

Int8Llama = pytest.importorskip("imochain.models.text.int8", reason="needs part A's Int8Llama").Int8Llama

LAYERS = 2


@pytest.fixture(scope="module")
def stepper():
    return T.Stepper(Int8Llama.tiny(seed=1, layers=LAYERS, width=64), T.ByteTokenizer())


@pytest.fixture(scope="module")
def trace(stepper):
    return T.Trace(stepper, b"abc", 5)


def test_trace_shape_and_answer_match_generation(stepper, trace):
    # (3 prompt + 5 generated - 1) positions forwarded, each LAYERS layers + a head, state 0,
    # the done state's answer step
    assert len(trace) == 7 * (LAYERS + 1) + 2
    assert trace.states[-1].done and len(trace.states[-1].tokens) == 3 + 5
    assert trace.leaves[-1] == T.answer_leaf(trace.answer)
    assert trace.locate(0) == "token 0 layer 0" and trace.locate(LAYERS) == "token 0 head"
    generated = stepper.model.generate(list(b"abc"), 5) if _has_generate(stepper.model) else None
    if generated is not None:  # the trace answers what the model's own greedy decoding answers
        assert list(trace.answer) == [t & 0xFF for t in generated[-5:]]


def _has_generate(model):
    try:
        model.generate([1], 1)
        return True
    except NotImplementedError:
        return False


def test_every_step_replays_from_its_preimage(stepper, trace):
    assert stepper.replay(trace.init_preimage()) == bytes(32) + trace.leaves[0]
    for i in range(len(trace) - 1):
        assert stepper.replay(trace.preimage(i)) == trace.leaves[i] + trace.leaves[i + 1], trace.locate(i)


def test_merkle_proofs(trace):
    for i in (0, 5, len(trace) - 1):
        proof = trace.proof(i)
        assert len(proof) == (len(trace) - 1).bit_length()
        assert T.merkle_verify(trace.root, trace.leaves[i], i, proof)
        assert not T.merkle_verify(trace.root, trace.leaves[i], i ^ 1, proof)
        assert not T.merkle_verify(trace.root, keccak(b"x"), i, proof)


def test_a_tampered_state_changes_every_later_leaf(stepper, trace):
    lie = T.Trace(stepper, b"abc", 5, lambda i, s: replace(s, x=-s.x) if i == 4 else s)
    assert lie.leaves[:4] == trace.leaves[:4] and lie.leaves[4] != trace.leaves[4]
    # the lie's own step 3 -> 4 does not replay: that is what the contract catches
    assert stepper.replay(lie.preimage(3))[32:] != lie.leaves[4]
    assert lie.claiming(b"other").leaves[-1] == T.answer_leaf(b"other")


def test_malformed_preimages_are_refused(stepper, trace):
    i = next(k for k, s in enumerate(trace.states) if s.layer == 1 and s.pos >= 2)  # has KV rows
    good = trace.preimage(i)
    cases = {
        b"": "empty",
        b"\x07" + good[1:]: "unknown layer-step kind",
        good[:-1]: "expected",
        good + b"\0": "expected",
        b"\x00\x00": "shorter than 5",
        b"\x00\x00\x00\x00\x00": "maxNew must be",
        b"\x00\x00\x00\x00\x05": "empty prompt",
        good[:-1] + bytes([good[-1] ^ 1]): "does not match its digest",
    }
    for data, reason in cases.items():
        with pytest.raises(PrecompileError, match=reason):
            stepper.replay(data)
    s = trace.states[i]
    bad_token = stepper.pack(replace(s, tokens=s.tokens[:-1] + (10**6,)), *trace._cache(s.layer, s.pos))
    with pytest.raises(PrecompileError, match="vocabulary"):
        stepper.replay(bad_token)
    bad_header = bytearray(good)
    bad_header[1 + 8:1 + 10] = (LAYERS + 1).to_bytes(2, "big")
    with pytest.raises(PrecompileError, match="header"):
        stepper.replay(bytes(bad_header))


def test_layer_step_entry_of_the_router(stepper, trace):
    from imochain.models.store import ModelStore
    from imochain.precompiles.router import ModelRouter
    router = ModelRouter(ModelStore())
    with pytest.raises(PrecompileError, match="no int8 text model"):
        router.gas_cost(T.STEP_TAG + stepper.model_hash + trace.preimage(0))
    router.add_stepped_model(stepper.model)
    call = T.STEP_TAG + stepper.model_hash + trace.preimage(1)
    assert router.execute(call) == trace.leaves[1] + trace.leaves[2]
    layer_gas = router.gas_cost(call)
    assert 5_000 < layer_gas < 1_000_000
    with pytest.raises(PrecompileError, match="shorter"):
        router.execute(T.STEP_TAG + b"\1" * 8)
    assert router.is_stepped(stepper.model_hash) and not router.is_text(stepper.model_hash)
    assert router.answer(stepper.model_hash, b"abc", 5) == T.Trace(stepper, b"abc", T.GAME_MAX_NEW_TOKENS).answer
    assert len(router.quote(stepper.model_hash)) > 0


def test_the_game_cap_is_the_contracts():
    from imochain.contracts import genesis
    assert T.GAME_MAX_NEW_TOKENS == genesis.BISECTION_MAX_NEW_TOKENS
