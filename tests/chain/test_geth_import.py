"""geth genesis files and chain import, checked against Ethereum's rpc-compat chain (54 blocks,
Frontier to BPO2): the genesis hash and the head hash must be the ones geth computed."""

import json
from pathlib import Path

import pytest
import rlp

from imochain.chain.errors import GenesisError
from imochain.chain.geth_genesis import load_genesis, parse_genesis
from imochain.chain.importer import ImportFailed, genesis_chain, import_blocks, split_blocks

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "execution-apis-tests" / "tests"
pytestmark = pytest.mark.skipif(not (FIXTURES / "chain.rlp").exists(),
                                reason=f"rpc-compat fixtures not found at {FIXTURES}")
GENESIS_HASH = "44fd89d504659cd58f48f4796b77a7e7012cf296a2409afa2f6c3cb99b5b3d99"  # get-genesis.io


def _fixture_genesis_hash() -> str:
    text = (FIXTURES / "eth_getBlockByNumber" / "get-genesis.io").read_text()
    reply = json.loads(next(line[3:] for line in text.splitlines() if line.startswith("<< ")))
    return reply["result"]["hash"][2:]


def _blocks():
    return list(split_blocks((FIXTURES / "chain.rlp").read_bytes()))


def test_genesis_hash_equals_geths():
    genesis = load_genesis(FIXTURES / "genesis.json")
    assert [a.fork for a in genesis.schedule][-4:] == ["prague", "osaka", "bpo1", "bpo2"]
    chain = genesis_chain(genesis, _blocks())
    assert chain.get_canonical_head().hash.hex() == _fixture_genesis_hash() == GENESIS_HASH


def test_import_reaches_geths_head_through_every_fork():
    genesis = load_genesis(FIXTURES / "genesis.json")
    blocks = _blocks()
    chain = genesis_chain(genesis, blocks)
    result = import_blocks(chain, blocks)
    head = json.loads((FIXTURES / "headfcu.json").read_text())["params"][0]["headBlockHash"]
    assert result.imported == 54 and result.head_number == 54
    assert "0x" + result.head_hash.hex() == head
    assert result.gas > 0


def test_a_tampered_block_stops_the_import_and_nothing_after_it_is_stored():
    genesis = load_genesis(FIXTURES / "genesis.json")
    blocks = _blocks()
    fields = rlp.decode(blocks[39])  # a Cancun block: change its state root
    header = list(fields[0])
    header[3] = bytes(32)
    blocks[39] = rlp.encode([header] + list(fields[1:]))
    chain = genesis_chain(genesis, blocks)
    with pytest.raises(ImportFailed) as err:
        import_blocks(chain, blocks)
    assert err.value.number == 40
    assert err.value.reason == "header.state_root differ(s) from the locally executed block"
    assert chain.get_canonical_head().block_number == 39


@pytest.mark.parametrize("doc, message", [
    ([], "expected a JSON object"),
    ({"config": {}}, "chainId is missing"),
    ({"config": {"chainId": "lots"}}, "not a number"),
    ({"config": {"chainId": 1, "londonBlock": 5, "berlinBlock": 9}}, "out of order"),
    ({"config": {"chainId": 1, "cancunTime": 20, "shanghaiTime": 30}}, "out of order"),
    ({"config": {"chainId": 1, "amsterdamTime": 0}}, "unknown fork"),
    ({"config": {"chainId": 1, "blobSchedule": {"osaka": {"target": 1}}}}, "needs target, max"),
    ({"config": {"chainId": 1}, "alloc": {"0xzz": {}}}, "not hex"),
    ({"config": {"chainId": 1}, "extraData": "0x" + "00" * 33}, "longer than 32 bytes"),
])
def test_malformed_genesis_is_refused_with_a_reason(doc, message):
    with pytest.raises(GenesisError, match=message):
        parse_genesis(doc)


def test_malformed_rlp_is_refused(tmp_path):
    with pytest.raises(ImportFailed, match="malformed RLP"):
        list(split_blocks(b"\xf9\xff\xff\x01"))
    with pytest.raises(GenesisError, match="not valid JSON"):
        (tmp_path / "g.json").write_text("{")
        load_genesis(tmp_path / "g.json")


def test_import_command(tmp_path):
    import subprocess
    import sys

    def run(*args):
        return subprocess.run([sys.executable, "-m", "imochain.cli", "import", *args],
                              capture_output=True, text=True, timeout=120)

    ok = run(str(FIXTURES / "chain.rlp"), "--genesis", str(FIXTURES / "genesis.json"))
    assert ok.returncode == 0, ok.stderr
    assert "imported 54 blocks to #54 0xd226371d" in ok.stdout and "blocks/s" in ok.stdout
    (tmp_path / "junk.rlp").write_bytes(b"\xf9\xff\xff\x01")
    for args, message in (([str(tmp_path / "junk.rlp")], "malformed RLP at byte 0"),
                          ([str(tmp_path / "missing.rlp")], "cannot read"),
                          ([str(FIXTURES / "chain.rlp"), "--genesis", str(tmp_path / "missing.json")],
                           "cannot read")):
        proc = run(*args) if "--genesis" in args else run(*args, "--genesis", str(FIXTURES / "genesis.json"))
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_node_serves_an_imported_chain_and_answers_as_geth():
    from imochain.builder import build_node
    from imochain.chain import NodeConfig
    from imochain.testing import in_process_web3
    node = build_node(NodeConfig(init_genesis=str(FIXTURES / "genesis.json"), import_chain=str(FIXTURES / "chain.rlp"),
                                 accounts=0, genesis_contracts=False, automine=False, rpc_shapes="geth"))
    w3, _ = in_process_web3(node=node)
    assert w3.eth.chain_id == 3503995874084926 and w3.eth.block_number == 54
    assert w3.eth.get_block(0).hash.hex().endswith(GENESIS_HASH)
    block = w3.provider.make_request("eth_getBlockByNumber", ["0x2a", False])["result"]
    assert "totalDifficulty" not in block and block["miner"] == "0x" + "00" * 20
    assert w3.eth.accounts == [] and node.models is not None  # no dev accounts, no 0xA1 without --imo
    assert w3.eth.get_code("0x00000000000000000000000000000000000000A1") == b""


def test_init_and_import_flags_refuse_bad_files(tmp_path):
    import subprocess
    import sys
    bad_rlp = tmp_path / "bad.rlp"
    blocks = _blocks()
    fields = rlp.decode(blocks[4])
    header = list(fields[0])
    header[3] = bytes(32)  # block 5 with a wrong state root
    bad_rlp.write_bytes(b"".join(blocks[:4]) + rlp.encode([header] + list(fields[1:])))
    (tmp_path / "g.json").write_text('{"config": {"chainId": 1, "londonBlock": 9, "berlinBlock": 12}}')
    for args, message in (
            (["--init", str(tmp_path / "g.json")], "out of order"),
            (["--init", str(FIXTURES / "genesis.json"), "--import", str(bad_rlp)], "block 5:"),
            (["--import", str(FIXTURES / "chain.rlp")], "--import needs --init"),
            (["--init", str(tmp_path / "missing.json")], "cannot read")):
        proc = subprocess.run([sys.executable, "-m", "imochain.cli", "node", "--port", "1", *args],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)
