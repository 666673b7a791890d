"""The demo's bisection step: a lying oracle answers a prompt with an int8 language model, and the node's challenger wins the bisection game (OpMLBisection) down to one step."""

from __future__ import annotations

import time

from eth_utils import keccak

from imochain.contracts import oracle_output

PROMPT = b"Name one colour of the sky."
WAIT_SECONDS = 600  # the answer (off the node's lock) and every move of the game


def add_demo_text_model(node, prefer_served: bool = True) -> None:
    """The in-process demo's int8 text model in the game: SmolLM2-135M's int8 export when the
    node serves it (its export already built, e.g. by `imochain model export-text`; loaded now,
    ~10 s), else a tiny random int8 Llama (fast; its answers are noise, which is all a dispute
    over them needs; ``prefer_served=False`` takes it even when SmolLM2's is served)."""
    router = node.inference
    if router.int8_text and prefer_served:
        router.stepper(next(iter(router.int8_text)))
        return
    from imochain.models.text.int8 import Int8Llama
    router.add_stepped_model(Int8Llama.tiny(seed=0), name="int8-llama-tiny")


def stepped_text_model(demo) -> bytes | None:
    """Hash of an int8 text model the node replays layer by layer (None: it serves none): a
    served model file first, then one added in-process."""
    rows = [m for m in demo.rpc("imo_listModels") if m.get("kind") == "text" and m.get("layerSteps")]
    loaded = {m["hash"] for m in rows if m.get("loaded")}
    rows.sort(key=lambda m: (m["hash"] not in loaded, "source" not in m and m.get("file") is None))
    return bytes.fromhex(rows[0]["hash"][2:]) if rows else None


def run_step(demo) -> None:
    from imochain.contracts.genesis import OPERATOR_ADDRESS, RESULT_BOND
    from imochain.oracle.bisection import CHALLENGER_WON, OPERATOR_WON, PHASES

    model_hash = stepped_text_model(demo)
    w3, c = demo.w3, demo.c
    oracle, prompt, opml, game = c["AIOracle"], c["Prompt"], c["OpML"], c["OpMLBisection"]
    operator = w3.to_checksum_address(OPERATOR_ADDRESS)
    receipt = demo.send(oracle.functions.registerModel(model_hash, bytes(32), 10**15, demo.dev, 80), demo.dev)
    (event,) = demo.events(oracle.events.ModelUploaded(), receipt)
    model_id = event.args.modelId
    demo.check(oracle.functions.getModel(model_id).call()[7] is False,
               "an int8 text model is registered verifiable: its answers enter the opML game", model_id=model_id)
    bond_before = opml.functions.bondOf(operator).call()
    demo.rpc("imo_setOracleFaults", [1.0])
    fee = prompt.functions.estimateFee(model_id).call()
    receipt = demo.send(prompt.functions.calculateAIResult(model_id, PROMPT), demo.users[0], fee)
    demo.rpc("imo_setOracleFaults", [0.0])
    request_id = demo.request_id(receipt)
    # the answer arrives in a later block; then every move is a transaction of the node's players,
    # automined, so the game plays itself: blocks mined here only let time pass
    until = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < until:
        d = game.functions.getDispute(request_id).call()
        if d[1] in (OPERATOR_WON, CHALLENGER_WON):
            break
        demo.rpc("evm_mine")
        time.sleep(0.2)
    steps = game.functions.commitments(request_id).call()[1]
    corrected = oracle_output(oracle, request_id)  # the current result, from its log
    delivered = [e.args.output for e in oracle.events.AICallbackResult().get_logs(from_block=receipt.blockNumber)
                 if e.args.requestId == request_id]
    demo.check(len(delivered) >= 1, "the oracle answered the prompt", request_id=request_id)
    lie = delivered[0]
    demo.say(f"{demo.names[demo.users[0]]} asks model #{model_id}: {PROMPT.decode()!r}; the lying oracle answers "
             f"{lie.decode('utf-8', 'replace')!r} and commits to a trace of its steps")
    settled = game.events.DisputeSettled().get_logs(from_block=receipt.blockNumber)
    demo.check(PHASES[d[1]] == "ChallengerWon" and len(settled) == 1, "the challenger won the bisection",
               phase=PHASES[d[1]])
    demo.say(f"{steps} steps committed (one layer of one token each); {d[6]} rounds of reveal and answer "
             f"narrowed the dispute to step {d[4]}"
             + (" (the answer step: the model's own tokens spell another text)" if d[4] == steps - 1 else "")
             + ", re-executed through 0xA1's layer-step entry")
    demo.say(f"corrected answer: {corrected.decode('utf-8', 'replace')!r}")
    demo.note(model_id=model_id, request_id=request_id, steps=steps, rounds=d[6], disputed_step=d[4],
              lie=lie, corrected=corrected, settle_tx=settled[0].transactionHash)
    demo.check(d[6] <= (steps - 1).bit_length() + 1, "the rounds stayed within log2(steps) + 1", rounds=d[6])
    demo.check(corrected == d[11] and keccak(corrected) != keccak(lie) and delivered[-1] == corrected,
               "the challenger's recomputed answer replaced the lie", deliveries=len(delivered))
    demo.check(prompt.functions.getAIResult(model_id, PROMPT).call() == corrected,
               "the corrected answer was delivered to the consumer")
    demo.check(bond_before - opml.functions.bondOf(operator).call() == RESULT_BOND,
               "the operator's result bond was slashed")
