"""The players of the opML bisection over int8 text answers: the operator's side and the challenger's side.

The operator commits each answer's trace and reveals states; the challenger recomputes the honest
trace, disputes, answers and settles.

Where the trace lives: the operator keeps every answer's :class:`~imochain.models.text.trace.Trace`
in memory (``BisectionOperator.traces``, request id -> trace, dropped once the result is final)
and serves its leaves and Merkle proofs through its moves; only the root and the step count go
on-chain (``OpMLBisection.commitTrace``). A challenger needs the model file (its hash is the
request's model hash), the prompt (the request's log, checked by the oracle's ``getInputHash``) and the game's ``maxNewTokens``: it
recomputes the honest trace itself (``BisectionChallenger``, no state shared with the operator),
compares answers, and to play it needs only its own trace: agree with a revealed state iff it is
its own state at that index, and at the end hand over its own pre-state preimage.

The move functions (`operator_move`, `challenger_move`) are pure, so tests and the demo play the
same moves the services do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak

from .sender import BlockService, Sender
from .worker import _request_gas_limit, _selector

log = logging.getLogger("imochain.oracle")

PHASES = ("None", "Commit", "Reveal", "Respond", "Settle", "OperatorWon", "ChallengerWon")
NONE, COMMIT, REVEAL, RESPOND, SETTLE, OPERATOR_WON, CHALLENGER_WON = range(7)
RESULT_SUBMITTED = keccak(text="ResultSubmitted(uint256,address,bytes32,bytes32)")
DISPUTE_TYPE = "(address,uint8,uint64,uint32,uint32,uint32,uint16,bytes32,bytes32,bytes32,uint256,bytes)"
TX_GAS_CAP = 2**24 - 1  # EIP-7825


@dataclass
class Dispute:
    challenger: str
    phase: int
    deadline: int
    agreed: int
    disputed: int
    mid: int
    rounds: int
    agreed_leaf: bytes
    disputed_leaf: bytes
    mid_leaf: bytes
    bond: int
    output: bytes


def read_dispute(node, bisection: bytes, request_id: int) -> Dispute:
    out = node.call({"to": bisection, "data": _selector("getDispute(uint256)") + abi_encode(["uint256"], [request_id])})
    return Dispute(*abi_decode([DISPUTE_TYPE], out)[0])


def commit_call(request_id: int, trace) -> bytes:
    return _selector("commitTrace(uint256,bytes32,uint256,bytes32[])") + abi_encode(
        ["uint256", "bytes32", "uint256", "bytes32[]"], [request_id, trace.root, len(trace), trace.proof(len(trace) - 1)])


def operator_move(request_id: int, trace, d: Dispute) -> bytes | None:
    """Call data of the operator's next move (None: not its turn)."""
    if d.phase == REVEAL:
        return _selector("reveal(uint256,bytes32,bytes32[])") + abi_encode(
            ["uint256", "bytes32", "bytes32[]"], [request_id, trace.leaves[d.mid], trace.proof(d.mid)])
    if d.phase == COMMIT:
        return commit_call(request_id, trace)
    return None


def challenger_move(request_id: int, honest, d: Dispute) -> bytes | None:
    """Call data of the challenger's next move from its own (honest) trace (None: not its turn)."""
    if d.phase == RESPOND:
        agree = d.mid < len(honest) and honest.leaves[d.mid] == d.mid_leaf
        return _selector("respond(uint256,bool)") + abi_encode(["uint256", "bool"], [request_id, agree])
    if d.phase == SETTLE:
        # state 0 follows from the prompt, which the oracle keeps by hash: the settle brings it
        preimage = honest.preimage(d.disputed - 1) if d.disputed > 0 else honest.prompt
        return _selector("settle(uint256,bytes)") + abi_encode(["uint256", "bytes"], [request_id, preimage])
    return None


def timeout_call(request_id: int) -> bytes:
    return _selector("timeout(uint256)") + abi_encode(["uint256"], [request_id])


def open_call(request_id: int, answer: bytes) -> bytes:
    return _selector("open(uint256,bytes)") + abi_encode(["uint256", "bytes"], [request_id, answer])


def move_gas(node, data: bytes, model_hash: bytes, callback_gas: int) -> int:
    """Gas to allow a move: its calldata (EIP-7623 floor) and bookkeeping; a verdict (settle,
    timeout) also pays the layer step and the corrected answer's storage and re-delivery with
    the request's whole callback gas (the oracle insists on it). Unused gas is refunded."""
    from imochain.models.text.trace import STEP_TAG
    gas = 400_000 + 40 * len(data)
    if data[:4] in (_selector("settle(uint256,bytes)"), _selector("timeout(uint256)")):
        gas += 600_000 + callback_gas * 64 // 63
    if data[:4] == _selector("settle(uint256,bytes)"):
        preimage = abi_decode(["uint256", "bytes"], data[4:])[1]
        gas += node.inference.gas_cost(STEP_TAG + model_hash + preimage) if preimage else 3_000_000
    return min(gas, TX_GAS_CAP)


class _Player(BlockService):
    """Shared plumbing: reads ResultSubmitted of the game, tracks disputes, sends moves."""

    def __init__(self, node, key: bytes, oracle: bytes, opml: bytes, bisection: bytes):
        super().__init__(node)
        self.sender = Sender(node, key)
        self.oracle, self.opml, self.bisection = oracle, opml, bisection
        self.traces: dict[int, object] = {}  # request id -> trace this player keeps
        self.sent: dict[int, tuple] = {}  # request id -> (phase, mid) of the last move sent
        self.outcomes: dict[int, str] = {}  # request id -> "operator" / "challenger" once settled

    def watched(self) -> tuple[bytes, ...]:
        return (self.opml,)

    def busy(self) -> bool:
        return bool(self.traces)  # a dispute in play: each block may pass a deadline

    def _max_new(self) -> int:
        out = self.node.call({"to": self.bisection, "data": _selector("maxNewTokens()")})
        return int.from_bytes(out[:32], "big")

    def _prompt(self, request_id: int) -> bytes:
        from .challenger import request_input
        return request_input(self.node, self.oracle, request_id)  # from the request's log

    def _results(self, info):
        for receipt in self.node.block_receipts(info.number):
            for entry in receipt.logs:
                if entry.address == self.opml and entry.topics and entry.topics[0] == RESULT_SUBMITTED:
                    model_hash, output_hash = abi_decode(["bytes32", "bytes32"], entry.data)
                    if model_hash in self.node.inference.steppers:
                        yield (int.from_bytes(entry.topics[1], "big"), entry.topics[2][12:], model_hash,
                               output_hash)

    def _play(self, move) -> None:
        """Each tracked dispute: send this player's move once per state of the game."""
        for request_id, trace in list(self.traces.items()):
            d = read_dispute(self.node, self.bisection, request_id)
            if d.phase in (OPERATOR_WON, CHALLENGER_WON):
                self.outcomes[request_id] = "challenger" if d.phase == CHALLENGER_WON else "operator"
                del self.traces[request_id]
                continue
            if d.phase == NONE:
                if self._window_over(request_id):
                    del self.traces[request_id]  # final without a dispute
                continue
            key = (d.phase, d.mid, d.agreed, d.disputed)
            if self.sent.get(request_id) in (key, ("timeout",) + key):
                continue  # moved already; wait for the game to change
            data = move(request_id, trace, d)
            if data is not None:
                self._send(request_id, data, key)
            elif self.node.head.block_number >= d.deadline:  # the other side missed its move
                self._send(request_id, timeout_call(request_id), ("timeout",) + key)

    def _window_over(self, request_id: int) -> bool:
        out = self.node.call({"to": self.opml, "data": _selector("challengeDeadline(uint256)")
                              + abi_encode(["uint256"], [request_id])})
        return self.node.head.block_number >= int.from_bytes(out[:32], "big")

    def _send(self, request_id: int, data: bytes, key, value: int = 0) -> None:
        model_hash = self.traces[request_id].stepper.model_hash
        try:
            gas = move_gas(self.node, data, model_hash, _request_gas_limit(self.node, self.oracle, request_id))
            self.sender.send(self.bisection, data, gas, value=value)
            self.sent[request_id] = key
        except Exception as exc:
            log.warning("bisection: move on request #%d failed: %s", request_id, exc)


class BisectionOperator(_Player):
    """Commits the trace of each int8 text answer its operator posted, then reveals on demand."""

    def on_block(self, info) -> None:
        posted = [r for r in self._results(info) if r[1] == self.sender.raw_address]
        self.node.defer(lambda: self._step(posted))

    def _step(self, posted) -> None:
        for request_id, _, model_hash, output_hash in posted:
            try:
                trace = self.node.inference.trace(model_hash, self._prompt(request_id), self._max_new())
            except Exception as exc:
                log.info("bisection: no trace for request #%d: %s", request_id, exc)
                continue
            if keccak(trace.answer) != output_hash:  # the fault switch lied: so does the commitment
                from .challenger import posted_output
                trace = trace.claiming(posted_output(self.node, self.oracle, request_id, output_hash))
            self.traces[request_id] = trace
            self._send(request_id, commit_call(request_id, trace), ("commit",))
        self._play(operator_move)


class BisectionChallenger(_Player):
    """Recomputes every int8 text answer; disputes wrong ones and plays the dispute to the end."""

    def __init__(self, node, key: bytes, oracle: bytes, opml: bytes, bisection: bytes, bond: int):
        super().__init__(node, key, oracle, opml, bisection)
        self.bond = bond
        self.checked: dict[int, bool] = {}  # request id -> the answer was right

    def on_block(self, info) -> None:
        posted = list(self._results(info))
        self.node.defer(lambda: self._step(posted))

    def _step(self, posted) -> None:
        from imochain.models.text.trace import Trace
        for request_id, _, model_hash, output_hash in posted:
            try:  # recomputed here, from the prompt: nothing taken from the operator's side
                honest = Trace(self.node.inference.steppers[model_hash], self._prompt(request_id), self._max_new())
            except Exception as exc:
                log.info("bisection: cannot recompute request #%d: %s", request_id, exc)
                continue
            self.checked[request_id] = keccak(honest.answer) == output_hash
            if not self.checked[request_id]:
                self.traces[request_id] = honest
                log.info("bisection: request #%d answered wrongly; opening a dispute", request_id)
                self._send(request_id, open_call(request_id, honest.answer), ("open",), value=self.bond)
        self._play(challenger_move)
