"""The node: a façade that owns the lock and composes the chain's services.

py-evm is not thread-safe, so every public method takes the node's lock; the RPC server,
the interval miner and node-side services all go through here. The services do the work:
storage (history, indexes, receipts), state (reads, head edits, dumps), validate (pool
admission), signing, clock, executor (build one block), miner (when to mine), calls
(eth_call, estimateGas, access lists), snapshots, logs, replay and genesis.

Whoever builds a node hands it its extra precompiles (`{address: callable}`, see
`vm.wrap_precompile`) and its genesis plan; `imochain.builder.build_node` does both.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Any, Callable, Sequence

import rlp
from eth.abc import BlockHeaderAPI
from eth.vm.chain_context import ChainContext

from . import forking
from . import logs as log_queries
from .accounts import DevAccount, derive_accounts
from .calls import Calls
from .cheats import Cheats
from .clock import TimeManager
from .dbfolder import check_db_folder
from .devcontrols import DevControls
from .errors import ChainError, ExecutionFailed, ExecutionReverted, InvalidParams, TransactionRejected
from .executor import build_block, log_block
from .fees import fee_caps, next_base_fee
from .genesis import GenesisPlan, create_genesis, create_genesis_from_file
from .geth_genesis import load_genesis
from .importer import fork_schedule, split_blocks
from .mempool import Mempool, PendingTx
from .miner import Miner
from .notifications import Notifications
from .replay import replay_transaction
from .signing import DevKeys, executable, fill_request, impersonated_transaction
from .snapshots import Snapshots
from .state import StateAccess, account_summary
from .storage import ChainStorage
from .types import BlockInfo, CallResult, LogInfo, NodeConfig, ReceiptInfo, TxInfo
from .validate import check_for_pool, check_signed, decode_raw, tx_gas_cap
from .vm import Precompile, make_chain_class

log = logging.getLogger("imochain.node")


class Node(DevControls):
    def __init__(self, config: NodeConfig | None = None, precompiles: dict[bytes, Precompile] | None = None,
                 genesis: GenesisPlan | None = None):
        self.config = config or NodeConfig()
        self.lock = threading.RLock()
        self.accounts: list[DevAccount] = derive_accounts(self.config.mnemonic, self.config.accounts)
        self.keys = DevKeys(self.accounts)
        self.cheats = Cheats()
        self.impersonated: set[bytes] = self.cheats.impersonated
        self._instance_id = os.urandom(32)  # anvil_metadata: tells a restarted or reset node apart
        self.notifications = Notifications()
        self.block_listeners = self.notifications.block_listeners
        self.pending_listeners = self.notifications.pending_listeners
        self.services: list = []  # node-side services (oracle worker, challenger) once started
        # what the builder attached: the model store and the 0xA1 model service, or None
        self.models = None
        self.inference = None
        self.custom_precompiles = set(precompiles or {})  # addresses only this node runs (0xA1, 0xA2)
        self._precompiles = precompiles or {}
        self.fork = None  # the remote chain's ForkSource while forking
        self._imports: list[bytes] = []
        self.geth_genesis = None
        if self.config.init_genesis:
            self._load_genesis_file()
        self._make_chain_class()
        self._genesis_plan = genesis
        if self.config.db_path:  # before the first open only: a reset keeps the user's files
            check_db_folder(self.config.db_path)
        self.miner = Miner(self.lock, self._mine_one, self._ready_count, lambda: len(self.pool),
                           automine=self.config.automine and not self.config.block_time,
                           answer_first=not self.config.db_path)  # with --db an answer means on disk
        self._open()
        if self.config.block_time:
            self.set_interval_mining(self.config.block_time)

    def _make_chain_class(self) -> None:
        self.fork, account_db = forking.connect(self.config, self.fork) if self.config.fork_url else (None, None)
        schedule = None if self.geth_genesis is None else fork_schedule(self.geth_genesis, self._imports)
        self.chain_class = make_chain_class(self.config.chain_id, self._precompiles, self.config.hardfork,
                                            schedule, account_db)
        self.vm_class = self.chain_class.vm_configuration[-1][1]  # the fork new blocks are built with

    def _open(self) -> None:
        self.storage = ChainStorage(self.chain_class, self.config.db_path)
        self.chain_context = ChainContext(self.config.chain_id)
        self.states = StateAccess(self.storage, self.vm_class, self.chain_context)
        self.pool = Mempool()
        self.clock = TimeManager()
        self.calls = Calls(self.storage, self.states, self.clock, self.config, self.lock)
        self.snapshots = Snapshots(self.storage, self.clock, self.pool, self.impersonated)
        if self.storage.exists:
            if self.geth_genesis is not None:
                raise ChainError(f"--init starts a new chain, but {self.config.db_path} already holds one")
            self.storage.resume(self.config.chain_id)
            forking.check_resumed(self.storage, self.fork)
        elif self.fork:
            forking.create_fork_base(self.storage, self.vm_class, self.chain_context, self.config,
                                     self.accounts, self._genesis_plan, self.fork)
        elif self.geth_genesis is not None:
            genesis_vm = self.chain_class.get_vm_class_for_block_number(0)
            create_genesis_from_file(self.storage, genesis_vm, self.chain_context, self.geth_genesis,
                                     self.accounts, self.config.balance, self._genesis_plan)
            for raw in self._imports:
                self.storage.import_block(raw)
            self._imports = []
        else:
            create_genesis(self.storage, self.vm_class, self.chain_context, self.config, self.accounts,
                           self._genesis_plan)

    def _load_genesis_file(self) -> None:
        """--init (and --import): the file's chain id, fork schedule and blocks replace the dev
        chain's; ChainError says what is wrong with either file."""
        from dataclasses import replace
        try:
            self.geth_genesis = load_genesis(self.config.init_genesis)
            if self.config.import_chain:
                with open(self.config.import_chain, "rb") as f:
                    self._imports = list(split_blocks(f.read()))
        except OSError as exc:
            raise ChainError(f"cannot read {self.config.import_chain}: {exc.strerror}") from None
        self.config = replace(self.config, chain_id=self.geth_genesis.chain_id,
                              hardfork=self.geth_genesis.schedule[-1].fork)

    def close(self) -> None:
        self.stop_interval_mining()
        with self.lock:
            self.storage.close()
            if self.fork:
                self.fork.close()

    @contextlib.contextmanager
    def atomic(self, wait: bool = True):
        """Hold the chain still across several calls; wait=False: None rather than wait for it."""
        if not wait and (self.block_in_progress or not self.lock.acquire(blocking=False)):
            yield None
            return
        if wait:
            self.lock.acquire()
        try:
            yield self
        finally:
            self.lock.release()

    # ------------------------------------------------------------------ blocks & state

    @property
    def head(self) -> BlockHeaderAPI:
        return self.storage.head

    @property
    def head_root(self) -> bytes:
        return self.storage.head_root

    @property
    def block_number(self) -> int:
        return self.storage.head.block_number

    def resolve_block(self, block_id: Any = "latest") -> BlockHeaderAPI:
        """int number, 32-byte hash, or a tag: latest/pending/safe/finalized/earliest."""
        with self.lock:
            return self.storage.resolve(block_id)

    def header_by_hash(self, block_hash: bytes) -> BlockHeaderAPI | None:
        with self.lock:
            return self.storage.header_by_hash(block_hash)

    def state_at(self, block_id: Any = "latest"):
        """A read-only py-evm state for the block's post-state."""
        with self.lock:
            return self.states.state_at(block_id)

    def get_balance(self, address: bytes, block_id: Any = "latest") -> int:
        with self.lock:
            return self.states.reader(block_id).get_balance(address)

    def get_nonce(self, address: bytes, block_id: Any = "latest") -> int:
        with self.lock:
            if block_id == "pending":
                return self._pending_nonce(address)
            return self.states.reader(block_id).get_nonce(address)

    def _pending_nonce(self, address: bytes) -> int:
        return self.pool.next_nonce(address, self.states.reader().get_nonce(address))

    def get_code(self, address: bytes, block_id: Any = "latest") -> bytes:
        with self.lock:
            return self.states.reader(block_id).get_code(address)

    def get_account(self, address: bytes, block_id: Any = "latest") -> dict:
        """eth_getAccount: nonce, balance, code hash and storage root of one account."""
        with self.lock:
            return account_summary(self.states.state_at(block_id), address)

    def get_storage(self, address: bytes, slot: int, block_id: Any = "latest") -> int:
        with self.lock:
            return self.states.reader(block_id).get_storage(address, slot)

    def fork_config(self, extra_names: dict[bytes, str]) -> dict:
        """EIP-7910's description of the running fork: on the dev chain every fork is active
        from genesis; a chain from a geth genesis file has its schedule's past forks."""
        from .forks.config import describe
        genesis = self.geth_genesis
        if genesis is None:
            return describe(self.vm_class, self.config.hardfork, self.config.chain_id,
                            self.storage.canonical.hashes[0], 0, extra_names)
        head = self.storage.head
        past = [a for a in genesis.schedule if a.active(head.block_number, head.timestamp)]
        points = [a.block if a.block is not None else a.time for a in past]
        extra = {} if genesis.deposit_contract is None else {"deposit_contract": genesis.deposit_contract}
        return describe(self.vm_class, past[-1].fork, self.config.chain_id, self.storage.canonical.hashes[0],
                        past[-1].time or 0, extra_names, points, **extra)

    def simulate(self, blocks: list[dict], block_id: Any = "latest", validation: bool = False,
                 trace_transfers: bool = False):
        """eth_simulateV1 on top of a block: a list of chain.simulate.SimulatedBlock; nothing kept."""
        from .simulate import simulate
        with self.lock:
            return simulate(self.storage, self.config.chain_id, self.storage.resolve(block_id), blocks,
                            validation, trace_transfers)

    def build_payload(self, parent_hash: bytes, txs: list | None, **attributes):
        """testing_buildBlockV1: the block `txs` (None: the pool's ready ones) make on a parent,
        not added to the chain (chain.simulate.BuiltPayload)."""
        from .simulate import build_payload
        with self.lock:
            parent = self.storage.resolve(parent_hash)
            if txs is None:
                reader = self.states.reader()
                txs = [p.tx for p in self.pool.ready(lambda a: reader.get_nonce(a))]
            return build_payload(self.storage, self.config.chain_id, parent, txs, **attributes)

    def raw_block(self, block_id: Any = "latest") -> bytes:
        """The block's consensus RLP encoding (as debug_getRawBlock returns it)."""
        with self.lock:
            header = self.resolve_block(block_id)
            block_class = self.chain_class.get_vm_class_for_block_number(header.block_number).get_block_class()
            return rlp.encode(block_class.from_header(header, self.storage.chaindb))

    def raw_receipts(self, block_id: Any = "latest") -> list[bytes]:
        """Each receipt's consensus encoding (typed ones as type byte + RLP)."""
        with self.lock:
            return [r.encode() for r in self.storage.receipts(self.storage.resolve(block_id))]

    def get_proof(self, address: bytes, slots: list[int], block_id: Any = "latest"):
        """EIP-1186 proofs of an account and its slots at a block (chain.proofs.AccountProof)."""
        from .proofs import account_proof
        with self.lock:
            header = self.resolve_block(block_id)
            return account_proof(self.storage.db, self.storage.state_root_of(header), address, slots)

    def get_block(self, block_id: Any = "latest") -> BlockInfo:
        with self.lock:
            return self.storage.block_info(self.storage.resolve(block_id))

    def next_base_fee(self) -> int:
        if self.cheats.next_base_fee is not None:
            return self.cheats.next_base_fee
        return next_base_fee(self.storage.head)

    # ------------------------------------------------------------------ transactions

    def get_transaction(self, tx_hash: bytes) -> TxInfo | None:
        with self.lock:
            loc = self.storage.locate(tx_hash)
            if loc is not None:
                header, index = loc
                return self.storage.block_info(header).transactions[index]
            ptx = self.pool.get(tx_hash)
            if ptx is not None:
                return TxInfo(ptx.tx, ptx.hash, ptx.sender)
            return None

    def get_receipt(self, tx_hash: bytes) -> ReceiptInfo | None:
        with self.lock:
            loc = self.storage.locate(tx_hash)
            if loc is None:
                return None
            header, index = loc
            return self.storage.block_receipts(header)[index]

    def block_receipts(self, block_id: Any = "latest") -> list[ReceiptInfo]:
        with self.lock:
            return self.storage.block_receipts(self.storage.resolve(block_id))

    def decode_raw(self, raw: bytes):
        return decode_raw(self.storage.tx_builder, raw)

    def send_raw_transaction(self, raw: bytes) -> bytes:
        tx = self.decode_raw(raw)
        sender = check_signed(tx, self.config.chain_id)
        return self._submit(tx, sender, raw)

    def _submit(self, tx, sender: bytes, raw: bytes = b"", impersonated: bool = False) -> bytes:
        with self.lock:
            head = self.storage.head
            check_for_pool(tx, sender, self.states.reader(), head, self.next_base_fee(),
                           tx_gas_cap(self.chain_class, head))
            max_fee, tip = fee_caps(tx)
            self.pool.add(PendingTx(tx, tx.hash, sender, tx.nonce, max_fee, tip, raw))
            if impersonated:
                self.storage.imp_senders[tx.hash] = sender
            self.notifications.new_pending(tx.hash)
            # automine mines only executable transactions; a nonce gap stays queued (anvil)
            if self.miner.automine and self._pending_nonce(sender) > tx.nonce:
                self.miner.automine_now()
            return tx.hash

    def build_transaction(self, params: dict) -> tuple[Any, bytes]:
        """Fill a transaction request (eth_sendTransaction fields, python types) for `from`."""
        with self.lock:
            sender = params.get("from")
            if sender is None:
                raise InvalidParams("missing 'from'")
            nonce = params.get("nonce")
            if nonce is None:
                nonce = self._pending_nonce(sender)
            fields = fill_request(params, sender, self.config.chain_id, nonce, self.next_base_fee(),
                                  lambda request: self.estimate_gas(request, "pending"))
            return fields, sender

    def sign_transaction(self, params: dict) -> bytes:
        fields, sender = self.build_transaction(params)
        return self.keys.sign_transaction(fields, sender)

    def has_key(self, address: bytes) -> bool:
        """Whether `address` is a dev account whose key this node holds."""
        return address in self.keys

    def sign_message(self, address: bytes, message) -> bytes:
        """Sign an eth_account SignableMessage (EIP-191, EIP-712) with a dev account's key."""
        return self.keys.sign_message(address, message)

    def send_transaction(self, params: dict) -> bytes:
        with self.lock:
            sender = params.get("from")
            if sender in self.keys:
                return self.send_raw_transaction(self.sign_transaction(params))
            if self.cheats.may_send_as(sender):
                fields, sender = self.build_transaction(params)
                tx, raw = impersonated_transaction(self.storage.tx_builder, fields, sender)
                return self._submit(tx, sender, raw, impersonated=True)
            raise TransactionRejected(
                f"no signer for 0x{sender.hex() if sender else ''}: not a dev account and not impersonated")

    def _executable(self, tx, sender: bytes):
        return executable(tx, sender, tx.hash in self.storage.imp_senders)

    def pool_content(self) -> tuple[dict, dict]:
        """(pending, queued) pool entries by sender and nonce (txpool_*)."""
        with self.lock:
            state = self.states.state_at("latest")
            return self.pool.split(lambda a: state.get_nonce(a))

    def pending_count(self) -> int:
        with self.lock:
            return len(self.pool)

    def drop_transaction(self, tx_hash: bytes) -> bool:
        with self.lock:
            return self.pool.remove(tx_hash) is not None

    def drop_all_transactions(self) -> None:
        with self.lock:
            self.pool.clear()

    # ------------------------------------------------------------------ mining

    def mine(self, blocks: int = 1, timestamp: int | None = None, interval: int | None = None) -> list[BlockInfo]:
        out = []
        for i in range(blocks):
            with self.lock:  # taken per block: readers and senders get in between
                ts = None
                if timestamp is not None:
                    ts = timestamp + (interval or 0) * i if i == 0 or interval else None
                    if i == 0:
                        ts = timestamp
                elif interval and i > 0:
                    ts = self.head.timestamp + interval
                out.append(self._mine_one(ts))
            if i + 1 < blocks:
                time.sleep(0)  # let a thread waiting on the lock take it (locks are not fair)
        return out

    def mine_spaced(self, blocks: int, interval: int) -> list[BlockInfo]:
        """anvil_mine's timing: the clock jumps `interval` before each block (3 × 12 s: +36 s)."""
        with self.lock:
            start = max(self.head.timestamp, self.clock.now())
            out = self.mine(blocks, timestamp=start + interval, interval=interval)
            self.clock.set_time(self.head.timestamp)  # later blocks go on from there
            return out

    def _mine_one(self, timestamp: int | None = None) -> BlockInfo:
        storage = self.storage
        parent = storage.head
        ts = self.clock.take(parent, timestamp)
        built = build_block(storage.chain, self.vm_class, parent, storage.head_root, ts, self.config.coinbase,
                            self.pool, self._executable, gas_limit=self.cheats.block_gas_limit,
                            base_fee=self.cheats.take_base_fee())
        for ptx in built.included:
            self.pool.remove(ptx.hash)
        info = storage.append_block(built.block, parent.state_root, built.included, built.receipts, built.witness)
        self.states.adopt_head(built.state)
        self.pool.prune(lambda a: built.state.get_nonce(a))
        log_block(info, built, self.custom_precompiles)
        self.notifications.new_block(info)
        return info

    def _ready_count(self) -> int:
        state = self.states.state_at("latest")
        return len(self.pool.ready(lambda a: state.get_nonce(a)))

    def defer(self, fn: Callable[[], None]) -> None:
        """Run `fn` once every listener has seen the current block (services send from here,
        so subscribers never see a later block before an earlier one)."""
        with self.lock:
            self.notifications.defer(fn)

    @contextlib.contextmanager
    def batched(self):
        """Submit several transactions into one block: automine waits until the block ends."""
        with self.lock, self.miner.batched():
            yield

    @property
    def block_in_progress(self) -> bool:
        """An automined block is being built after its sender was answered (miner.answer_first)."""
        return self.miner.in_progress > 0

    @property
    def automine(self) -> bool:
        return self.miner.automine

    @automine.setter
    def automine(self, enabled: bool) -> None:
        self.miner.automine = enabled

    def set_automine(self, enabled: bool) -> None:
        with self.lock:
            self.miner.set_automine(enabled)

    def set_interval_mining(self, seconds: float | None) -> None:
        self.miner.set_interval(seconds)

    def stop_interval_mining(self) -> None:
        self.miner.stop_interval()

    @property
    def interval(self) -> float | None:
        return self.miner.interval

    # ------------------------------------------------------------------ execution

    def execute_call(self, params: dict, block_id: Any = "latest", overrides: dict | None = None,
                     gas: int | None = None, tracer=None, watch: Callable | None = None) -> CallResult:
        """Run a call on a snapshot of the block, off the lock (see calls.py)."""
        return self.calls.execute(params, block_id, overrides, gas, tracer, watch)

    def call(self, params: dict, block_id: Any = "latest", overrides: dict | None = None) -> bytes:
        result = self.execute_call(params, block_id, overrides)
        if result.reverted:
            raise ExecutionReverted(result.output)
        if result.error:
            raise ExecutionFailed(result.error)
        return result.output

    def estimate_gas(self, params: dict, block_id: Any = "latest", overrides: dict | None = None) -> int:
        """Binary search for the least gas that succeeds, as geth and anvil do (see calls.py)."""
        return self.calls.estimate_gas(params, block_id, overrides)

    def create_access_list(self, params: dict, block_id: Any = "latest") -> tuple[list, int]:
        with self.lock:
            return self.calls.create_access_list(params, block_id)

    # ------------------------------------------------------------------ logs and tracing

    def get_logs(self, from_block: Any = "latest", to_block: Any = "latest",
                 addresses: Sequence[bytes] | None = None,
                 topics: Sequence[Any] | None = None, block_hash: bytes | None = None,
                 limit: int = 10_000) -> list[LogInfo]:
        with self.lock:
            return log_queries.get_logs(self.storage, from_block, to_block, addresses, topics, block_hash, limit)

    def replay_transaction(self, tx_hash: bytes, tracer) -> tuple[Any, Any]:
        """Re-execute a mined transaction on its parent state with `tracer` attached."""
        with self.lock:
            return replay_transaction(self.storage, tx_hash, tracer, self._executable)
