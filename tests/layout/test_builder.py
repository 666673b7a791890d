"""The node builder hands the chain its precompiles and genesis plan; the model service warms up."""

from __future__ import annotations

from eth.abc import ComputationAPI

from imochain.builder import build_node
from imochain.chain import Node, NodeConfig

ECHO = bytes.fromhex("00000000000000000000000000000000000000e1")


def test_bare_chain_runs_precompiles_it_is_handed():
    """`{address: callable}` is the whole contract between the chain and its precompiles."""
    def echo(computation: ComputationAPI) -> ComputationAPI:
        computation.consume_gas(7, reason="echo")
        computation.output = bytes(computation.msg.data_as_bytes)[::-1]
        return computation

    node = Node(NodeConfig(accounts=1), precompiles={ECHO: echo})
    assert node.call({"to": ECHO, "data": b"\x01\x02\x03"}) == b"\x03\x02\x01"
    bare = Node(NodeConfig(accounts=1))
    assert bare.call({"to": ECHO, "data": b"\x01\x02\x03"}) == b""  # an empty account there
    assert bare.inference is None and bare.models is None


def test_genesis_plan_comes_from_the_builder():
    cfg = NodeConfig(accounts=1, default_text_model=False)
    from imochain.contracts import GENESIS_ADDRESSES
    oracle = bytes.fromhex(GENESIS_ADDRESSES["AIOracle"][2:])
    assert build_node(cfg).get_code(oracle)
    assert not Node(cfg).get_code(oracle)  # the bare chain has no plan: nothing predeployed


def test_model_service_warm_up_builds_every_runtime():
    node = build_node(NodeConfig(accounts=1, genesis_contracts=False, default_text_model=False, device="cpu"))
    models = [node.models.get(bytes.fromhex(r["hash"][2:])) for r in node.models.list()]
    assert models and not any(m.runtimes for m in models)
    node.inference.warm_up()
    assert all("cpu" in m.runtimes for m in models)
