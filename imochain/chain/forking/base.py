"""The fork's first local block: the remote's pinned header over a local state that starts empty.

The pinned block's header (and its ancestors', for BLOCKHASH) are stored as the remote has
them, so local blocks chain onto the remote's hashes. Its state here is a local trie holding
only the marker account, the dev accounts' balances and the genesis plan; everything else is
copied from the remote on first touch (see `accountdb`).
"""

from __future__ import annotations

import logging

import rlp
from eth import constants
from eth.vm.forks.cancun.blocks import CancunBlockHeader
from eth.vm.forks.london.blocks import LondonBlockHeader
from eth.vm.forks.prague.blocks import PragueBlockHeader
from eth.vm.forks.shanghai.blocks import ShanghaiBlockHeader
from eth_utils import to_checksum_address

from ..errors import GenesisError
from ..genesis import GenesisAccount, build_genesis_state
from .accountdb import MARKER
from .remote import data, quantity

log = logging.getLogger("imochain.fork")

# richest first: the header class is the one whose fields the remote's block has
_HEADERS = ((PragueBlockHeader, "requestsHash"), (CancunBlockHeader, "parentBeaconBlockRoot"),
            (ShanghaiBlockHeader, "withdrawalsRoot"), (LondonBlockHeader, "baseFeePerGas"))


def header_from_rpc(block: dict):
    """A py-evm header from an eth_getBlockByNumber answer; checked against the block's hash."""
    def h32(name):
        return data(block.get(name), name, 32)

    def q(name):
        return quantity(block.get(name), name)

    fields = dict(
        parent_hash=h32("parentHash"), uncles_hash=h32("sha3Uncles"),
        coinbase=data(block.get("miner"), "miner", 20), state_root=h32("stateRoot"),
        transaction_root=h32("transactionsRoot"), receipt_root=h32("receiptsRoot"),
        bloom=int.from_bytes(data(block.get("logsBloom"), "logsBloom", 256), "big"),
        difficulty=q("difficulty"), block_number=q("number"), gas_limit=q("gasLimit"),
        gas_used=q("gasUsed"), timestamp=q("timestamp"), extra_data=data(block.get("extraData"), "extraData"),
        mix_hash=h32("mixHash"), nonce=data(block.get("nonce"), "nonce", 8))
    header_class = _pick_class(block)
    if header_class is not None:
        extra = {"base_fee_per_gas": q("baseFeePerGas")}
        if "withdrawalsRoot" in block:
            extra["withdrawals_root"] = h32("withdrawalsRoot")
        if "parentBeaconBlockRoot" in block:
            extra.update(blob_gas_used=q("blobGasUsed"), excess_blob_gas=q("excessBlobGas"),
                         parent_beacon_block_root=h32("parentBeaconBlockRoot"))
        if "requestsHash" in block:
            extra["requests_hash"] = h32("requestsHash")
        fields.update(extra)
        header = header_class(**fields)
    else:
        raise GenesisError(f"fork block {fields['block_number']} is from before London (no base fee): "
                           "imochain forks London-or-later chains only")
    return header


def _pick_class(block: dict):
    for cls, field in _HEADERS:
        if field in block:
            return cls
    return None


def create_fork_base(storage, vm_class, chain_context, config, accounts, plan, source) -> None:
    """Make the pinned block the head; fund the dev accounts and run the genesis plan on it."""
    for block in source.ancestors():  # only read by hash (BLOCKHASH walks parent hashes)
        header = header_from_rpc(block)
        storage.db[header.hash] = rlp.encode(header)
    base = header_from_rpc(source.block)
    if base.hash != source.hash:
        log.warning("fork: block %d's header does not hash to the remote's hash; "
                    "local blocks will not chain onto it", base.block_number)
    if base.block_number == 0:
        storage.chaindb.persist_header(base)
    else:  # a trusted header with no parent here: py-evm's checkpoint
        storage.chaindb.persist_checkpoint_header(base, 0)
    state = vm_class.build_state(storage.db, base.copy(state_root=constants.BLANK_ROOT_HASH), chain_context)
    state.set_nonce(MARKER, 1)  # not empty, so EIP-161 never deletes it
    source.prefetch([a.address for a in accounts])
    owner = accounts[0].address if accounts else constants.ZERO_ADDRESS
    predeploys, calls = plan(owner) if plan is not None else ([], [])
    for p in predeploys:
        if state.get_code(p.address):
            raise GenesisError(
                f"the fork already has code at {to_checksum_address(p.address)}, where {p.name} goes: "
                "run the fork without the IMO contracts (--no-imo)")
    # dev accounts keep their remote nonce and code; only the balance is set, as anvil does
    funded = [GenesisAccount(a.address, config.balance, nonce=state.get_nonce(a.address)) for a in accounts]
    build_genesis_state(state, funded, predeploys, calls, deployer=owner)
    witness = state.persist()
    storage.remember_touched(witness, accounts=[a.address for a in funded] + [p.address for p in predeploys])
    storage.start(base, config.chain_id, root=state.state_root)
    log.info("Forked %s at block #%d 0x%s (chain id %d)", source.client.url, base.block_number,
             base.hash.hex(), source.chain_id)
