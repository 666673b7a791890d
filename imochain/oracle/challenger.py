"""The opML challenger: re-executes every posted result in its window and disputes wrong ones."""

from __future__ import annotations

import logging

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak

from .requests import RequestBook
from .sender import BlockService, Sender
from .worker import REQUEST_V1, REQUEST_V2, _request_gas_limit, _selector

log = logging.getLogger("imochain.oracle")

RESULT_SUBMITTED = keccak(text="ResultSubmitted(uint256,address,bytes32,bytes32)")
TX_GAS_CAP = 2**24 - 1  # EIP-7825 (Osaka on): the most gas one transaction may ask for
CHALLENGE_GAS = 400_000  # one challenge without its callback: re-execution, bookkeeping, events


class Challenger(BlockService):
    """Re-executes every posted result during its window and disputes the wrong ones."""

    def __init__(self, node, key: bytes, oracle: bytes, opml: bytes, bond: int, book: RequestBook | None = None):
        super().__init__(node)
        self.book = book or RequestBook()
        self.oracle = oracle
        self.opml = opml
        self.bond = bond
        self.sender = Sender(node, key)
        self.checked: dict[int, bool] = {}  # request id → result was right
        self.challenged: dict[int, bytes] = {}  # request id → challenge tx

    def watched(self) -> tuple[bytes, ...]:
        return (self.opml,)

    def on_block(self, info) -> None:
        posted = []
        for receipt in self.node.block_receipts(info.number):
            for entry in receipt.logs:
                if entry.address == self.opml and entry.topics and entry.topics[0] == RESULT_SUBMITTED:
                    model_hash, output_hash = abi_decode(["bytes32", "bytes32"], entry.data)
                    posted.append((int.from_bytes(entry.topics[1], "big"), model_hash, output_hash))
        if posted:
            self.node.defer(lambda: self._check(posted))

    def _check(self, posted) -> None:
        wrong = []
        for request_id, model_hash, output_hash in posted:
            if self.node.inference.is_text(model_hash):
                continue  # text answers are fp32: exact on this machine only, not disputed
            try:
                inp = request_input(self.node, self.oracle, request_id)
                output = self.node.inference.execute(abi_encode(["bytes32", "bytes"], [model_hash, inp]))
            except Exception as exc:  # no input, unknown model, bad tensor: nothing to compare against
                log.info("challenger: cannot re-execute request #%d: %s", request_id, exc)
                continue
            right = keccak(output) == output_hash
            self.checked[request_id] = right
            if not right:
                gas = CHALLENGE_GAS + _request_gas_limit(self.node, self.oracle, request_id) * 64 // 63 \
                    + 25_000 * ((len(output) + 31) // 32 + 2)
                wrong.append((request_id, gas, inp))
        if wrong:
            self._challenge_all(wrong)

    def _challenge_all(self, wrong: list[tuple[int, int, bytes]]) -> None:
        """All of a block's wrong results at once: `challengeMany` transactions as large as half a
        block (and EIP-7825's cap) allow, submitted together so they land in the next block(s), well
        inside the window."""
        budget = min(self.node.head.gas_limit // 2, TX_GAS_CAP)
        chunks, chunk, used = [], [], 0
        for request_id, gas, inp in wrong:
            gas += 16 * len(inp)  # the input travels in the challenge's calldata
            if chunk and used + gas > budget:
                chunks.append(chunk)
                chunk, used = [], 0
            chunk.append((request_id, gas, inp))
            used += gas
        chunks.append(chunk)
        with self.node.batched():
            for chunk in chunks:
                ids = [request_id for request_id, _, _ in chunk]
                data = _selector("challengeMany(uint256[],bytes[])") + abi_encode(
                    ["uint256[]", "bytes[]"], [ids, [inp for _, _, inp in chunk]])
                try:
                    tx = self.sender.send(self.opml, data, 100_000 + sum(g for _, g, _ in chunk) + 16 * len(data),
                                          value=self.bond * len(ids))
                except Exception as exc:
                    log.warning("challenger: could not challenge requests %s: %s", ids, exc)
                    continue
                for request_id in ids:
                    self.challenged[request_id] = tx
                    self.book.challenged(request_id, tx)
                log.info("challenger: %d wrong result(s) %s challenged in tx 0x%s", len(ids), ids, tx.hex())


def request_input(node, oracle: bytes, request_id: int) -> bytes:
    """A request's original input, from its AICallbackRequest log (the oracle keeps only its
    hash, `getInputHash`; the log's block is `getRequestBlock`). Raises LookupError if absent."""
    data = _selector("getRequestBlock(uint256)") + abi_encode(["uint256"], [request_id])
    block = int.from_bytes(node.call({"to": oracle, "data": data})[:32], "big")
    topic = request_id.to_bytes(32, "big")
    for receipt in node.block_receipts(block) if block else ():
        for entry in receipt.logs:
            if entry.address != oracle or len(entry.topics) < 3 or entry.topics[2] != topic:
                continue
            if entry.topics[0] == REQUEST_V1:
                return abi_decode(["uint256", "bytes", "address", "uint64", "bytes"], entry.data)[1]
            if entry.topics[0] == REQUEST_V2:
                return abi_decode(["uint256", "bytes", "address", "uint64", "bytes", "uint8", "uint8", "uint256"],
                                  entry.data)[1]
    raise LookupError(f"no AICallbackRequest log for request #{request_id}")


RESULT = keccak(text="AICallbackResult(address,uint256,address,bytes)")


def posted_output(node, oracle: bytes, request_id: int, output_hash: bytes) -> bytes:
    """The output posted for a request with this hash, from the AICallbackResult log of the block
    that fulfilled it (the oracle keeps only the hash). Raises LookupError if absent."""
    data = _selector("getRequestFulfilledBlock(uint256)") + abi_encode(["uint256"], [request_id])
    block = int.from_bytes(node.call({"to": oracle, "data": data})[:32], "big")
    topic = request_id.to_bytes(32, "big")
    for receipt in node.block_receipts(block) if block else ():
        for entry in receipt.logs:
            if entry.address == oracle and len(entry.topics) > 2 and entry.topics[0] == RESULT \
                    and entry.topics[2] == topic:
                output = abi_decode(["address", "bytes"], entry.data)[1]
                if keccak(output) == output_hash:
                    return output
    raise LookupError(f"no AICallbackResult log for request #{request_id}")
