"""eth_config (EIP-7910): the dev node's answer, and the description of the rpc-compat chain's
head fork equal to the one geth gave in Ethereum's fixture."""

import json
from pathlib import Path

import pytest

from imochain.chain.forks.config import describe, fork_id
from imochain.testing import in_process_web3

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "execution-apis-tests" / "tests"


def test_fork_ids_follow_eip2124():
    mainnet = bytes.fromhex("d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3")
    assert fork_id(mainnet).hex() == "fc64ec04"  # EIP-2124's own vectors
    assert fork_id(mainnet, [1150000]).hex() == "97c2c34c"
    assert fork_id(mainnet, [1150000, 1920000]).hex() == "91d1f948"


def test_dev_node_answers_its_fork():
    w3, node = in_process_web3()
    current = w3.provider.make_request("eth_config", [])["result"]["current"]
    assert current["chainId"] == "0x7a69"
    assert current["blobSchedule"] == {"target": 14, "max": 21, "baseFeeUpdateFraction": 11684671}
    assert current["precompiles"]["P256VERIFY"] == "0x" + "00" * 18 + "0100"
    assert current["precompiles"]["IMOCHAIN_INFERENCE"].endswith("a1")
    assert current["forkId"] == "0x" + fork_id(w3.eth.get_block(0).hash).hex()


@pytest.mark.skipif(not (FIXTURES / "eth_config").is_dir(), reason="rpc-compat fixtures not found")
def test_the_compat_chains_head_fork_matches_geths_answer():
    from imochain.chain.geth_genesis import load_genesis
    genesis = load_genesis(FIXTURES / "genesis.json")
    expected = json.loads(next(line[3:] for line in (FIXTURES / "eth_config" / "get-config.io").read_text()
                               .splitlines() if line.startswith("<< ")))["result"]["current"]
    points = [a.block if a.block is not None else a.time for a in genesis.schedule]
    ours = describe(genesis.vm_for("bpo2"), "bpo2", genesis.chain_id,
                    bytes.fromhex("44fd89d504659cd58f48f4796b77a7e7012cf296a2409afa2f6c3cb99b5b3d99"),
                    genesis.schedule[-1].time, {}, points, genesis.deposit_contract)
    ours = dict(ours, chainId=hex(ours["chainId"]), forkId="0x" + ours["forkId"].hex(),
                precompiles={k: "0x" + v.hex() for k, v in ours["precompiles"].items()},
                systemContracts={k: "0x" + v.hex() for k, v in ours["systemContracts"].items()})
    assert ours == expected
