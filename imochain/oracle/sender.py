"""The operator's sender: signs a service's transactions with its own key and submits them."""

from __future__ import annotations

from eth_account import Account
from eth_bloom import BloomFilter
from eth_utils import to_checksum_address

from imochain.chain.fees import DEFAULT_PRIORITY_FEE, default_max_fee


class Sender:
    """Signs and submits a service's transactions from one account."""

    def __init__(self, node, key: bytes):
        self.node = node
        self.key = key
        self.address = Account.from_key(key).address
        self.raw_address = bytes.fromhex(self.address[2:])

    def send(self, to: bytes, data: bytes, gas: int, value: int = 0) -> bytes:
        node = self.node
        tip = DEFAULT_PRIORITY_FEE
        fields = dict(type=2, chainId=node.config.chain_id, nonce=node.get_nonce(self.raw_address, "pending"),
                      maxPriorityFeePerGas=tip, maxFeePerGas=default_max_fee(node.next_base_fee(), tip),
                      gas=min(gas, node.head.gas_limit), to=to_checksum_address(to), value=value, data=data)
        raw = bytes(Account.sign_transaction(fields, self.key).raw_transaction)
        return node.send_raw_transaction(raw)


class BlockService:
    """A node-side service: sees every new block until stopped, or, when it names the contracts
    it watches, only the blocks whose logs bloom may hold a log of one of them, and every block
    while it is `busy` (most blocks concern no oracle: the check is O(1), no receipt is read)."""

    def __init__(self, node):
        self.node = node
        self._running = True
        self._masks: tuple[int, ...] | None = None  # each watched address's bloom bits, once known
        node.block_listeners.append(self._seen)

    def _seen(self, info) -> None:
        if not self._running:
            return
        if self._masks is None:
            self._masks = tuple(int(BloomFilter.from_iterable([a])) for a in self.watched() or ())
        bloom = info.header.bloom
        if not self._masks or self.busy() or any(bloom & mask == mask for mask in self._masks):
            self.on_block(info)

    def watched(self) -> tuple[bytes, ...]:
        """The addresses whose logs concern this service (read once); none: every block does."""
        return ()

    def busy(self) -> bool:
        """Whether it must see the next block even without a log of its contracts (work in flight)."""
        return False

    def on_block(self, info) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._running = False
        if self._seen in self.node.block_listeners:
            self.node.block_listeners.remove(self._seen)
