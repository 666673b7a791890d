"""The AI-oracle worker: serves each block's AICallbackRequest events with batched inference.

The worker reads each new block's `AICallbackRequest` events, runs every model's requests of
that block in ONE batched forward pass (int8 outputs are byte-identical to one-by-one runs),
and answers from the operator account, a block's results together in `invokeCallbacks`
transactions (delivery.py; `invokeCallback` for a lone one). It serves exactly the
model hash the oracle recorded for the request (the one the opML game re-executes), never what
`getModel` says now, and reports a fulfilment that reverted (e.g. a failing callback) with
`feedbackError`, which refunds the model fee.

It runs after a block's listeners have all seen it (`Node.defer`), so subscribers see blocks
in order; with automine their transactions go into one block rather than one block each.
Slow inference (text answers, big batches) is handed to `oracle.offlock`, which runs it off the
node's lock and answers in a later block.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector, keccak

from . import delivery
from .requests import RequestBook
from .sender import BlockService, Sender

log = logging.getLogger("imochain.oracle")

REQUEST_V1 = keccak(text="AICallbackRequest(address,uint256,uint256,bytes,address,uint64,bytes)")
REQUEST_V2 = keccak(text="AICallbackRequest(address,uint256,uint256,bytes,address,uint64,bytes,uint8,uint8,uint256)")
CALLBACK_ERROR = keccak(text="AICallbackError(uint256,uint8,bytes,bool)")
FULFILMENT_FAILED = keccak(text="FulfilmentFailed(uint256)")
MODEL_CHANGED = {keccak(text=e) for e in ("ModelUploaded(uint256,bytes32,address)", "ModelUpdated(uint256)",
                                          "ModelRemoved(uint256)")}
INVALID_INPUT, INVALID_BATCH_SIZE = 0, 1
PENDING = 1  # IAIOracleExtended.RequestStatus.Pending
TEXT_ANSWER_TOKENS = 64  # cap on an oracle text answer (ORA requests carry none): a sentence or two


def _selector(signature: str) -> bytes:
    return function_signature_to_4byte_selector(signature)


@dataclass
class Request:
    request_id: int
    model_id: int
    input: bytes
    callback: bytes
    gas_limit: int
    batch_size: int
    block: int
    account: bytes = b"\0" * 20
    tx_hash: bytes | None = None
    block_hash: bytes | None = None  # the block it was seen in: an answer ready later checks it still is


@dataclass
class BatchRecord:
    """One forward pass: what the worker ran for one model in one block."""
    block: int
    model: str
    model_hash: str
    request_ids: list[int]
    batch_size: int  # samples in the forward pass
    micros: float
    faulty: list[int] = field(default_factory=list)
    errors: dict = field(default_factory=dict)


class OracleWorker(BlockService):
    def __init__(self, node, operator_key: bytes, oracle: bytes, fault_rate: float = 0.0, seed: int = 7):
        super().__init__(node)
        self.oracle = oracle
        self.sender = Sender(node, operator_key)
        self.fault_rate = fault_rate
        self.rng = random.Random(seed)
        self.text_tokens = TEXT_ANSWER_TOKENS
        self.book = RequestBook()  # each request's state, for imo_getRequest
        self.records: list[BatchRecord] = []
        self.sent: dict[bytes, list[tuple[int, str, int, float]]] = {}  # tx → [(request, model, batch, µs)]
        self.delivered: dict[int, bytes] = {}  # request id → output the worker posted
        self.invoked: dict[bytes, list[int]] = {}  # invokeCallback(s) tx → request ids, until mined
        self.results_per_tx = 256  # 1: one invokeCallback per result (ORA's way; an oracle without invokeCallbacks)
        self.offlock = None  # the off-lock runner of slow inference (oracle.offlock), once attached

    def stop(self) -> None:
        super().stop()
        if self.offlock is not None:
            self.offlock.stop()

    # -- reading the chain ------------------------------------------------------------------
    def watched(self) -> tuple[bytes, ...]:
        return (self.oracle,)

    def busy(self) -> bool:
        return bool(self.sent)  # its transactions, until mined (a reverted one logs nothing)

    def _requests(self, info) -> list[Request]:
        out = []
        for receipt in self.node.block_receipts(info.number):
            if receipt.status != 1:
                continue
            for entry in receipt.logs:
                if entry.address != self.oracle or not entry.topics:
                    continue
                if entry.topics[0] == REQUEST_V1:
                    model_id, data, cb, gas, _ = abi_decode(["uint256", "bytes", "address", "uint64", "bytes"], entry.data)
                    batch = 1
                elif entry.topics[0] == REQUEST_V2:
                    model_id, data, cb, gas, _, _, _, batch = abi_decode(
                        ["uint256", "bytes", "address", "uint64", "bytes", "uint8", "uint8", "uint256"], entry.data)
                else:
                    continue
                out.append(Request(int.from_bytes(entry.topics[2], "big"), model_id, data,
                                   bytes.fromhex(cb[2:]), gas, batch, info.number,
                                   entry.topics[1][12:], entry.tx_hash, info.hash))
        return out

    def _model_hashes(self, request_ids: list[int]) -> list[bytes]:
        """The model hashes recorded at request time (what the opML game re-executes), in one call
        (one per request to an oracle without getRequestModelHashes)."""
        data = _selector("getRequestModelHashes(uint256[])") + abi_encode(["uint256[]"], [request_ids])
        try:
            return list(abi_decode(["bytes32[]"], self.node.call({"to": self.oracle, "data": data}))[0])
        except Exception:
            one = _selector("getRequestModelHash(uint256)")
            return [self.node.call({"to": self.oracle, "data": one + abi_encode(["uint256"], [i])})[:32]
                    for i in request_ids]

    def _unchanged_models(self, info, requests: list[Request]) -> dict[int, bytes]:
        """model id -> hash for the models of this block's requests that no log of this block
        changed: a request recorded its model's hash at its time, and with no change after it in
        its own block that is the hash now, one call per model instead of a storage read per request."""
        changed = {int.from_bytes(entry.topics[1], "big") for receipt in self.node.block_receipts(info.number)
                   if receipt.status == 1 for entry in receipt.logs
                   if entry.address == self.oracle and len(entry.topics) > 1 and entry.topics[0] in MODEL_CHANGED}
        known = {}
        for model_id in {r.model_id for r in requests} - changed:
            data = _selector("getModel(uint256)") + abi_encode(["uint256"], [model_id])
            try:
                known[model_id] = self.node.call({"to": self.oracle, "data": data})[:32]
            except Exception:  # no such model: its requests go the long way (and are refused there)
                continue
        return known

    def _pending(self, request_id: int) -> bool:
        data = _selector("getRequestStatus(uint256)") + abi_encode(["uint256"], [request_id])
        return int.from_bytes(self.node.call({"to": self.oracle, "data": data})[:32], "big") == PENDING

    # -- serving ----------------------------------------------------------------------------
    def on_block(self, info) -> None:
        self._log_mined(info)
        requests = self._requests(info)
        for r in requests:
            self.book.requested(r.request_id, r.model_id, r.account, r.callback, r.gas_limit, len(r.input),
                                r.block, r.tx_hash)
        if requests:
            self.node.defer(lambda: self._serve(requests, known=self._unchanged_models(info, requests)))

    def _log_mined(self, info) -> None:
        for tx in info.transactions:
            entries = self.sent.pop(tx.hash, None)
            if entries is None:
                continue
            receipt = self.node.get_receipt(tx.hash)
            failed = _failed_in_batch(receipt, self.oracle)
            outcomes = self.book.mined(self.node, tx.hash, receipt, _error_delivered(receipt, self.oracle), failed)
            ok = receipt is not None and receipt.status == 1
            for request_id in self.invoked.pop(tx.hash, ()):
                if not ok or request_id in failed:
                    self.node.defer(lambda rid=request_id: self._report_failed(rid))
            gas = receipt.gas_used // len(entries) if receipt else 0
            for request_id, model, batch, micros in entries:
                log.info("oracle: request #%d model %s batch %d %.0f µs gas %d %s", request_id, model, batch,
                         micros, gas, outcomes.get(request_id) or "mined")

    def _report_failed(self, request_id: int) -> None:
        """A fulfilment reverted (the consumer's callback failed, or too little stake): close the
        request with feedbackError, which refunds its model fee, rather than leave it Pending."""
        if not self._pending(request_id):
            return
        message = b"result not delivered: invokeCallback reverted (callback failed or operator stake too low)"
        data = _selector("feedbackError(uint256,uint8,bytes)") + abi_encode(
            ["uint256", "uint8", "bytes"], [request_id, INVALID_INPUT, message])
        gas = 200_000 + self._callback_gas(request_id) * 64 // 63 + 16 * len(data)
        try:
            with self.node.batched():  # mined once it is on the books, so the log line sees it
                tx_hash = self.sender.send(self.oracle, data, gas)
                self.sent[tx_hash] = [(request_id, "feedbackError", 0, 0.0)]
        except Exception as exc:
            log.warning("oracle: could not report request #%d: %s", request_id, exc)
            return
        record = self.book.get(request_id)  # it stays listed as a failed callback, now closed
        if record is not None:
            record.transactions["error"] = tx_hash
            record.reason = f"{record.reason}; closed with feedbackError, the model fee refunded"

    def _callback_gas(self, request_id: int) -> int:
        return _request_gas_limit(self.node, self.oracle, request_id)

    def _serve(self, requests: list[Request], first: bool = False, known: dict[int, bytes] | None = None) -> None:
        """`known`: model id -> the hash its requests recorded (`_unchanged_models`); the others'
        are read from the oracle."""
        known = known or {}
        recorded = [r.request_id for r in requests if r.model_id not in known]
        hashes = dict(zip(recorded, self._model_hashes(recorded))) if recorded else {}
        by_model: dict[bytes, list[Request]] = {}
        for r in requests:
            model_hash = known[r.model_id] if r.model_id in known else hashes[r.request_id]
            by_model.setdefault(model_hash, []).append(r)
        answers: list[tuple[Request, bytes | None, str | None, int, str, float]] = []
        slow = []
        for model_hash, group in by_model.items():
            if self.offlock is not None and self.offlock.is_slow(model_hash, group):
                slow.append((model_hash, group))  # text, big batches: answered in a later block
            else:
                answers += self._run_group(model_hash, group)
        self._send_answers(answers)
        if slow:
            self.offlock.submit(slow, first)

    def _faulty(self, r: Request, faults: dict | None) -> bool:
        """Whether the fault switch lies about `r` (drawn beforehand for answers run off the lock,
        so the draws keep one order whichever thread runs them)."""
        if faults is not None:
            return faults.get(r.request_id, False)
        return bool(self.fault_rate) and self.rng.random() < self.fault_rate

    def _send_answers(self, answers) -> dict[int, bytes]:
        """Send the answers in one block: the results together in `invokeCallbacks` (delivery.py),
        each rejection in a feedbackError; returns request id → tx hash."""
        sent: dict[int, bytes] = {}
        if not answers:
            return sent
        results = []
        with self.node.batched():
            for r, output, error, batch, name, micros in answers:
                self.book.ran(r.request_id, name, batch, micros, output, None if error is None else error[1])
                if output is not None:
                    self.delivered[r.request_id] = output
                    results.append((r, output, name, batch, micros))
                    continue
                code, message = error
                data = _selector("feedbackError(uint256,uint8,bytes)") + abi_encode(
                    ["uint256", "uint8", "bytes"], [r.request_id, code, message.encode()[:1024]])
                gas = 200_000 + r.gas_limit + r.gas_limit // 63 + 16 * len(data)
                self._submit(data, gas, [(r, name, batch, micros)], False, sent)
            budget = min(self.node.head.gas_limit // 2, delivery.TX_GAS_CAP)
            for chunk in delivery.chunks(results, lambda x: delivery.result_gas(x[1], x[0].gas_limit), budget,
                                         self.results_per_tx):
                data = delivery.invoke_data([r.request_id for r, *_ in chunk], [out for _, out, *_ in chunk])
                if len(chunk) == 1:
                    gas = delivery.single_gas(chunk[0][1], chunk[0][0].gas_limit, data)
                else:
                    gas = delivery.BATCH_GAS + 16 * len(data) + sum(delivery.result_gas(out, r.gas_limit)
                                                                    for r, out, *_ in chunk)
                served = [(r, name, batch, micros) for r, _, name, batch, micros in chunk]
                self._submit(data, gas, served, True, sent)
        return sent

    def _submit(self, data: bytes, gas: int, served: list, answer: bool, sent: dict) -> None:
        """One transaction answering `served` [(request, model name, batch, µs)]; `sent` gets
        request id → its tx hash."""
        try:
            tx_hash = self.sender.send(self.oracle, data, gas)
        except Exception as exc:  # one failed submission must not stop the others
            log.warning("oracle: could not answer requests %s: %s", [r.request_id for r, *_ in served], exc)
            return
        self.sent[tx_hash] = [(r.request_id, name, batch, micros) for r, name, batch, micros in served]
        for r, *_ in served:
            self.book.sent(r.request_id, tx_hash, answer=answer)
            sent[r.request_id] = tx_hash
        if answer:
            self.invoked[tx_hash] = [r.request_id for r, *_ in served]

    def _run_group(self, model_hash: bytes, group: list[Request], faults: dict | None = None):
        from imochain.models import PrecompileError
        pc = self.node.inference
        if pc.is_text(model_hash) or pc.is_stepped(model_hash):
            return self._run_text(model_hash, group, faults)
        name = "?"
        try:
            model = pc.model(model_hash)
            name = model.name
        except Exception as exc:
            return [(r, None, (INVALID_INPUT, f"model unavailable: {getattr(exc, 'reason', exc)}"), 0, name, 0.0)
                    for r in group]
        good, answers = [], []
        for r in group:
            problem = self._check(model, r)
            if problem:
                answers.append((r, None, problem, 0, name, 0.0))
            else:
                good.append(r)
        if not good:
            return answers
        start = time.perf_counter()
        try:
            outputs = pc.execute_batch(model_hash, [r.input for r in good])
        except PrecompileError as exc:
            # a bad tensor spoils the whole pass: run one by one to isolate it
            outputs = []
            for r in good:
                try:
                    outputs.append(pc.execute(abi_encode(["bytes32", "bytes"], [model_hash, r.input])))
                except PrecompileError as one:
                    outputs.append(one)
            log.debug("batch fell back to single runs: %s", exc)
        micros = (time.perf_counter() - start) * 1e6
        samples = sum(max(1, r.batch_size) for r in good)
        record = BatchRecord(good[0].block, name, "0x" + model_hash.hex(), [r.request_id for r in good],
                             samples, micros)
        for r, out in zip(good, outputs):
            if isinstance(out, Exception):
                record.errors[r.request_id] = out.reason
                answers.append((r, None, (INVALID_INPUT, out.reason), samples, name, micros))
                continue
            if self._faulty(r, faults):
                out = corrupt(out)
                record.faulty.append(r.request_id)
            answers.append((r, out, None, samples, name, micros))
        self.records.append(record)
        return answers

    def _run_text(self, model_hash: bytes, group: list[Request], faults: dict | None = None):
        """Prompts one at a time: fp32 generation is exact only at batch 1 on one machine."""
        from imochain.models import PrecompileError
        pc = self.node.inference
        name = pc.name_of(model_hash)
        answers = []
        for r in group:
            start = time.perf_counter()
            try:
                out = pc.answer(model_hash, r.input, self.text_tokens)
            except PrecompileError as exc:
                answers.append((r, None, (INVALID_INPUT, exc.reason), 1, name, 0.0))
                continue
            micros = (time.perf_counter() - start) * 1e6
            record = BatchRecord(r.block, name, "0x" + model_hash.hex(), [r.request_id], 1, micros)
            if self._faulty(r, faults):
                out = out + " (made up)".encode()
                record.faulty.append(r.request_id)
            self.records.append(record)
            answers.append((r, out, None, 1, name, micros))
        return answers

    @staticmethod
    def _check(model, r: Request):
        """(code, message) when the request cannot be served, else None."""
        from imochain.models.tensor import decode_tensor
        from imochain.models import PrecompileError
        try:
            view = decode_tensor(r.input)
        except PrecompileError as exc:
            return INVALID_INPUT, exc.reason
        shape = tuple(view.shape)
        expected = tuple(model.graph.input_shape)
        batched = len(shape) == len(expected) + 1
        # the fee paid for batchSize samples: a tensor holding more (a batch-1 request with an
        # [N, ...] input) is refused, so nobody gets N inferences for the price of one
        if (r.batch_size > 1 and not batched) or (batched and shape[0] != r.batch_size):
            return INVALID_BATCH_SIZE, f"batch of {r.batch_size} needs shape [{r.batch_size}, ...], got {list(shape)}"
        return None


def _failed_in_batch(receipt, oracle: bytes) -> set[int]:
    """Request ids whose fulfilment reverted inside a mined `invokeCallbacks` (FulfilmentFailed)."""
    return {int.from_bytes(entry.topics[1], "big") for entry in (receipt.logs if receipt else ())
            if entry.address == oracle and len(entry.topics) > 1 and entry.topics[0] == FULFILMENT_FAILED}


def _error_delivered(receipt, oracle: bytes) -> bool:
    """Whether a mined feedbackError reached the consumer (its AICallbackError says so)."""
    for entry in receipt.logs if receipt else ():
        if entry.address == oracle and entry.topics and entry.topics[0] == CALLBACK_ERROR:
            return bool(abi_decode(["uint8", "bytes", "bool"], entry.data)[2])
    return False


def corrupt(tensor: bytes) -> bytes:
    """A wrong but well-formed output: the last data byte changed (the fault switch)."""
    body = bytearray(tensor)
    body[-1 - _padding(tensor)] ^= 0x55
    return bytes(body)


def _padding(tensor: bytes) -> int:
    # abi-encoded `bytes data` ends with zero padding to 32; change a real data byte instead
    from imochain.models.tensor import decode_tensor
    n = decode_tensor(tensor).data_len
    return (-n) % 32


def _request_gas_limit(node, oracle: bytes, request_id: int) -> int:
    """The callback gas limit of a request (what a fulfilment or correction must pass on)."""
    data = _selector("requests(uint256)") + abi_encode(["uint256"], [request_id])
    try:
        out = node.call({"to": oracle, "data": data})
        # requests(id) → (account, requestId, modelId, input, callbackContract, gasLimit, callbackData)
        return abi_decode(["address", "uint256", "uint256", "bytes", "address", "uint64", "bytes"], out)[5]
    except Exception:
        return 1_000_000
