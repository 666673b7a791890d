"""The new block's header built in one step equals py-evm's chain of fork rules, field by field
and by hash, over many parents (gas used 0, at target, full, above and below it; blob gas
around the target; the first block after genesis; Cancun, Shanghai and London parents)."""

from __future__ import annotations

import random

import pytest
from eth.constants import ZERO_HASH32
from eth.vm.forks.cancun.blocks import CancunBlockHeader
from eth.vm.forks.london.blocks import LondonBlockHeader
from eth.vm.forks.prague.blocks import PragueBlockHeader
from eth.vm.forks.shanghai.blocks import ShanghaiBlockHeader
from eth_utils import ValidationError

from imochain.chain import Node, NodeConfig
from imochain.chain.forks import FORKS
from imochain.chain.forks.bpo import BPO1_BLOBS, BPO2_BLOBS
from imochain.chain.forks.osaka.constants import GAS_PER_BLOB, OSAKA_BLOBS
from imochain.chain.forks.osaka.headers import direct_header, header_factory, through_every_fork

SCHEDULES = [OSAKA_BLOBS, BPO1_BLOBS, BPO2_BLOBS]


def _fields(header) -> dict:
    return {name: getattr(header, name) for name, _ in header._meta.fields}


def _random_parent(rng: random.Random, kind=PragueBlockHeader, schedule=OSAKA_BLOBS):
    gas_limit = rng.choice([30_000_000, 36_000_000, rng.randint(5_000, 60_000_000)])
    target = gas_limit // 2
    gas_used = rng.choice([0, target, gas_limit, target + 1, target - 1, rng.randint(0, gas_limit)])
    fields = dict(
        parent_hash=rng.randbytes(32), coinbase=rng.randbytes(20), state_root=rng.randbytes(32),
        difficulty=0, block_number=rng.randint(1, 10**7), gas_limit=gas_limit, gas_used=gas_used,
        timestamp=rng.randint(1, 2**40), extra_data=rng.randbytes(rng.randint(0, 32)),
        base_fee_per_gas=rng.choice([0, 1, 7, 8, 10**9, rng.randint(0, 10**12)]))
    if kind is not LondonBlockHeader:
        fields["withdrawals_root"] = rng.randbytes(32)
    if kind in (CancunBlockHeader, PragueBlockHeader):
        blobs = rng.choice([0, schedule.target, schedule.target - 1, schedule.target + 1, schedule.max,
                            rng.randint(0, schedule.max)])
        fields.update(blob_gas_used=blobs * GAS_PER_BLOB, parent_beacon_block_root=rng.randbytes(32),
                      excess_blob_gas=rng.choice([0, schedule.target_gas, rng.randint(0, 10**8),
                                                  rng.randint(0, 2**30)]))
    return kind(**fields)


def _random_params(rng: random.Random, parent) -> dict:
    params = {"timestamp": parent.timestamp + rng.choice([1, 12, rng.randint(1, 10**6)])}
    optional = {
        "gas_limit": lambda: rng.choice([parent.gas_limit, rng.randint(5_000, 60_000_000)]),
        "coinbase": lambda: rng.randbytes(20), "state_root": lambda: rng.randbytes(32),
        "mix_hash": lambda: rng.randbytes(32), "extra_data": lambda: rng.randbytes(rng.randint(0, 32)),
        "nonce": lambda: b"\0" * 8, "difficulty": lambda: 0,
        "parent_beacon_block_root": lambda: rng.randbytes(32), "withdrawals_root": lambda: rng.randbytes(32),
        "requests_hash": lambda: rng.randbytes(32), "blob_gas_used": lambda: rng.randint(0, 9) * GAS_PER_BLOB,
        "transaction_root": lambda: rng.randbytes(32), "receipt_root": lambda: rng.randbytes(32),
    }
    for name, make in optional.items():
        if rng.random() < 0.4:
            params[name] = make()
    return params


def _assert_same(parent, schedule, params) -> None:
    expected = through_every_fork(parent, schedule, **params)
    direct = direct_header(parent, schedule, dict(params))
    assert direct is not None, params
    assert type(direct) is type(expected)
    assert _fields(direct) == _fields(expected)
    assert direct.hash == expected.hash


@pytest.mark.parametrize("schedule", SCHEDULES, ids=["osaka", "bpo1", "bpo2"])
def test_direct_header_equals_py_evm_for_random_parents(schedule):
    rng = random.Random(f"headers-{schedule.target}")
    for _ in range(400):
        parent = _random_parent(rng, schedule=schedule)
        _assert_same(parent, schedule, _random_params(rng, parent))


def test_direct_header_equals_py_evm_at_the_edges():
    rng = random.Random(7)
    for schedule in SCHEDULES:
        for kind in (PragueBlockHeader, CancunBlockHeader, ShanghaiBlockHeader, LondonBlockHeader):
            for _ in range(40):
                parent = _random_parent(rng, kind, schedule)
                for gas_used in (0, parent.gas_limit // 2, parent.gas_limit, parent.gas_limit // 2 + 1):
                    edge = parent.copy(gas_used=gas_used)
                    _assert_same(edge, schedule, {"timestamp": edge.timestamp + 1, "gas_limit": edge.gas_limit})
                    _assert_same(edge, schedule, {"timestamp": edge.timestamp + 12})  # gas limit from the parent
        # excess blob gas just under, at and over the target, with base fees on both sides of
        # EIP-7918's floor
        for excess in (0, schedule.target_gas - 1, schedule.target_gas, 10**9):
            for used in (0, schedule.target_gas, schedule.max_gas):
                for base_fee in (0, 1, 10**9, 10**15):
                    parent = _random_parent(rng, schedule=schedule).copy(
                        excess_blob_gas=excess, blob_gas_used=used, base_fee_per_gas=base_fee)
                    _assert_same(parent, schedule, {"timestamp": parent.timestamp + 1})


def test_first_block_after_each_forks_genesis_and_the_mined_blocks_match():
    """The dev chain's own genesis (block 0) as the parent, and blocks mined on it."""
    for fork in ("osaka", "bpo1", "bpo2"):
        node = Node(NodeConfig(genesis_contracts=False, hardfork=fork))
        try:
            schedule = FORKS[fork]._state_class.blob_schedule
            genesis = node.head
            assert genesis.block_number == 0
            _assert_same(genesis, schedule, {"timestamp": genesis.timestamp + 1, "coinbase": b"\x11" * 20,
                                             "gas_limit": genesis.gas_limit, "state_root": genesis.state_root})
            mined = node.mine(2)[-1].header
            expected = through_every_fork(node.storage.header_at(1), schedule, timestamp=mined.timestamp,
                                          coinbase=mined.coinbase, gas_limit=mined.gas_limit)
            assert _fields(expected) | {"state_root": mined.state_root} == _fields(mined)
        finally:
            node.close()


def test_other_parameters_and_parents_take_py_evm_s_path():
    rng = random.Random(3)
    parent = _random_parent(rng)
    create = header_factory(OSAKA_BLOBS)
    for params in ({}, {"timestamp": None}, {"timestamp": 5, "excess_blob_gas": 3},
                   {"timestamp": 5, "base_fee_per_gas": 1}, {"timestamp": 5, "gas_limit": None},
                   {"timestamp": 5, "difficulty": 1}, {"timestamp": 5, "nonce": b"\1" * 8}):
        assert direct_header(parent, OSAKA_BLOBS, params) is None
    # what py-evm refuses, refused the same way
    with pytest.raises(ValidationError, match="difficulty"):
        create(parent, timestamp=parent.timestamp + 1, difficulty=1)
    with pytest.raises(ValidationError, match="base_fee_per_gas"):
        create(parent, timestamp=parent.timestamp + 1, base_fee_per_gas=parent.base_fee_per_gas + 10**9 + 1)
    # a genesis header (no parent) is py-evm's
    genesis = create(None, timestamp=1, gas_limit=30_000_000, difficulty=0, mix_hash=ZERO_HASH32)
    assert genesis.block_number == 0
