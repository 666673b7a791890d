"""The opML challenger: re-executes every posted result in its window and disputes wrong ones."""

from __future__ import annotations

import logging

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak

from .requests import RequestBook
from .sender import BlockService, Sender
from .worker import _selector

log = logging.getLogger("imochain.oracle")

RESULT_SUBMITTED = keccak(text="ResultSubmitted(uint256,address,bytes32,bytes32)")


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
        for request_id, model_hash, output_hash in posted:
            if self.node.inference.is_text(model_hash):
                continue  # text answers are fp32: exact on this machine only, not disputed
            data = _selector("getInput(uint256)") + abi_encode(["uint256"], [request_id])
            try:
                (inp,) = abi_decode(["bytes"], self.node.call({"to": self.oracle, "data": data}))
                output = self.node.inference.execute(abi_encode(["bytes32", "bytes"], [model_hash, inp]))
            except Exception as exc:  # no input, unknown model, bad tensor: nothing to compare against
                log.info("challenger: cannot re-execute request #%d: %s", request_id, exc)
                continue
            right = keccak(output) == output_hash
            self.checked[request_id] = right
            if right:
                continue
            gas_limit = self._callback_gas(request_id)
            try:
                tx = self.sender.send(self.opml, _selector("challenge(uint256)") + abi_encode(["uint256"], [request_id]),
                                      2_000_000 + 2 * gas_limit + 40_000 * ((len(output) + 31) // 32),
                                      value=self.bond)
                self.challenged[request_id] = tx
                self.book.challenged(request_id, tx)
                log.info("challenger: result of request #%d is wrong; challenged in tx 0x%s", request_id, tx.hex())
            except Exception as exc:
                log.warning("challenger: could not challenge request #%d: %s", request_id, exc)

    def _callback_gas(self, request_id: int) -> int:
        data = _selector("requests(uint256)") + abi_encode(["uint256"], [request_id])
        try:
            out = self.node.call({"to": self.oracle, "data": data})
            # requests(id) → (account, requestId, modelId, input, callbackContract, gasLimit, callbackData)
            return abi_decode(["address", "uint256", "uint256", "bytes", "address", "uint64", "bytes"], out)[5]
        except Exception:
            return 1_000_000
