"""Gas of the opML bisection over text answers: every move of a whole game on a fresh in-process
chain (tiny int8 Llama, a lie at the first answer token), and the final layer step at its worst
case for SmolLM2-135M's layer shape (width 576, 9/3 heads, FFN 1536, vocabulary 49 152) at the
game's last position, against the 30 M block and EIP-7825's 2^24 cap per transaction.

    python -m imochain.bench.bisection_gas      # prints one line per row
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from imochain.chain.validate import MAX_CALL_DATA

BLOCK_GAS = 30_000_000
TX_GAS_CAP = 2**24
SMOLLM2_SHAPE = dict(width=576, heads=9, kv_heads=3, ffn=1536, vocab=49152)
SMOLLM2_LAYERS = 30


def _send(w3, who, to, data, value=0):
    r = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(
        {"from": who, "to": to, "data": data, "value": value, "gas": TX_GAS_CAP - 1}))
    if r.status != 1:
        raise RuntimeError(f"move to {to} reverted")
    return r.gasUsed


def game_moves() -> dict:
    """Gas of each move of one game: the operator lies at the first answer token and loses."""
    from imochain.contracts import GENESIS_ADDRESSES, abi
    from imochain.contracts import genesis as G
    from imochain.models.text.int8 import Int8Llama
    from imochain.models.text.trace import GAME_MAX_NEW_TOKENS, Trace
    from imochain.oracle import bisection as B
    from imochain.testing import in_process_web3

    w3, node = in_process_web3()
    try:
        stepper = node.inference.add_stepped_model(Int8Llama.tiny(seed=3))
        acc, operator = w3.eth.accounts, w3.to_checksum_address(G.OPERATOR_ADDRESS)
        oracle = w3.eth.contract(address=GENESIS_ADDRESSES["AIOracle"], abi=abi("AIOracle"))
        bis_addr = GENESIS_ADDRESSES["OpMLBisection"]
        oracle.functions.uploadModel(900, stepper.model_hash, bytes(32), G.MODEL_FEE, acc[0], 80,
                                     "0x" + "00" * 20, False).transact({"from": acc[0]})
        prompt = b"What is an IMO?"
        oracle.functions.requestCallback(900, prompt, "0x" + "00" * 20, 0, b"").transact(
            {"from": acc[1], "value": oracle.functions.estimateFee(900, 0).call()})
        rid = oracle.functions.nextRequestId().call() - 1
        honest = Trace(stepper, prompt, GAME_MAX_NEW_TOKENS)
        first = next(i for i, s in enumerate(honest.states) if len(s.tokens) > s.prompt_len)

        def lie_at_first_token(i, s):
            if i != first:
                return s
            token = (s.tokens[-1] + 1) % stepper.vocab
            return replace(s, tokens=s.tokens[:-1] + (token,), x=stepper._embed(token))

        lie = Trace(stepper, prompt, GAME_MAX_NEW_TOKENS, lie_at_first_token)
        oracle.functions.invokeCallback(rid, lie.answer).transact({"from": operator, "gas": 5_000_000})
        out = {"steps": len(lie), "commitTrace": _send(w3, operator, bis_addr, B.commit_call(rid, lie)),
               "open": _send(w3, acc[3], bis_addr, B.open_call(rid, honest.answer), G.CHALLENGE_BOND)}
        reveals, responds, rounds = [], [], 0
        bis = bytes.fromhex(bis_addr[2:])
        while (d := B.read_dispute(node, bis, rid)).phase not in (B.OPERATOR_WON, B.CHALLENGER_WON):
            if d.phase == B.REVEAL:
                reveals.append(_send(w3, operator, bis_addr, B.operator_move(rid, lie, d)))
            elif d.phase == B.RESPOND:
                responds.append(_send(w3, acc[3], bis_addr, B.challenger_move(rid, honest, d)))
                rounds += 1
            else:
                out["settle (layer step, challenger wins, answer re-delivered)"] = _send(
                    w3, acc[3], bis_addr, B.challenger_move(rid, honest, d))
        out.update({"rounds": rounds, "reveal (max)": max(reveals), "respond (max)": max(responds),
                    "winner": B.PHASES[d.phase]})
        return out
    finally:
        node.close()


def smollm2_layer_step(position: int | None = None) -> dict:
    """The final step at its worst case: one layer of SmolLM2-135M's shape (random int8 weights)
    at the game's last position, its whole KV cache in the calldata; eth_estimateGas of a
    transaction calling 0xA1's layer-step entry, and the wall time of the step itself."""
    from eth_utils import keccak

    from imochain.models.text.int8 import Int8Llama
    from imochain.models.text.trace import MAX_POSITIONS, STEP_TAG, ZERO, ByteTokenizer, State, Stepper
    from imochain.precompiles.gas import layer_step_gas
    from imochain.testing import in_process_web3

    pos = MAX_POSITIONS - 1 if position is None else position
    model = Int8Llama.tiny(seed=0, layers=1, context=MAX_POSITIONS, **SMOLLM2_SHAPE)
    stepper = Stepper(model, ByteTokenizer(SMOLLM2_SHAPE["vocab"]))
    rng = np.random.default_rng(0)
    k = rng.integers(-127, 128, (pos, model.kv_dim), dtype=np.int8)
    v = rng.integers(-127, 128, (pos, model.kv_dim), dtype=np.int8)
    digest = ZERO
    for t in range(pos):
        digest = keccak(digest + k[t].tobytes() + v[t].tobytes())
    tokens = tuple(int(t) for t in rng.integers(0, 256, pos + 1))
    state = State(pos, pos, 0, False, pos + 1 - 64, 64, tokens, stepper._embed(tokens[-1]), (digest,))
    preimage = stepper.pack(state, k, v)
    # SmolLM2 has 30 layers: the preimage carries 29 more KV digests than this one-layer model's
    extra_bytes = 32 * (SMOLLM2_LAYERS - 1)
    call = STEP_TAG + stepper.model_hash + preimage
    micros = float("inf")
    for _ in range(3):  # best of three: the first call warms numpy's and torch's caches
        started = time.perf_counter()
        stepper.replay(preimage)
        micros = min(micros, (time.perf_counter() - started) * 1e6)
    w3, node = in_process_web3()
    try:
        node.inference.steppers[stepper.model_hash] = stepper
        tx_gas = w3.eth.estimate_gas({"from": w3.eth.accounts[0], "to": "0x00000000000000000000000000000000000000A1", "data": call})
    finally:
        node.close()
    macs, rows = stepper.step_work(preimage)
    precompile_gas = layer_step_gas(macs, len(call), rows)
    # EIP-7623's calldata floor (10 gas per token, a zero byte 1 token, any other 4) over the
    # whole call, the 30-layer model's extra digests included
    tokens = call.count(0) + 4 * (len(call) - call.count(0)) + 4 * extra_bytes
    worst = max(tx_gas + 16 * extra_bytes, 21_000 + 10 * tokens + precompile_gas)
    # settle(uint256 requestId, bytes preimage): selector, id, offset, length, padded bytes
    settle_bytes = 4 + 32 * 3 + -(-(len(preimage) + extra_bytes) // 32) * 32
    return {"position": pos, "preimage bytes": len(preimage) + extra_bytes, "MACs": macs,
            "settle calldata bytes": settle_bytes, "fits 128 KiB calldata": settle_bytes <= MAX_CALL_DATA,
            "precompile gas": precompile_gas, "transaction gas (eth_estimateGas)": tx_gas + 16 * extra_bytes,
            "transaction gas with EIP-7623 floor": worst,
            "step µs": round(micros), "time/gas": round(micros / (precompile_gas / 100), 2),
            "fits 30M block": worst <= BLOCK_GAS, "fits EIP-7825 cap": worst <= TX_GAS_CAP}


def measure() -> dict:
    import os
    load = [round(x, 2) for x in os.getloadavg()]
    return {"game (tiny int8 Llama)": game_moves(), "final step, SmolLM2-135M layer shape": smollm2_layer_step(),
            "machine": {"loadavg": str(load), "cpus": os.cpu_count()}}


def main() -> None:
    for section, rows in measure().items():
        print(section)
        for name, value in rows.items():
            print(f"  {name:58s} {value:>12,}" if isinstance(value, int) and not isinstance(value, bool)
                  else f"  {name:58s} {value!s:>12}")


if __name__ == "__main__":
    main()
