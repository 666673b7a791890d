"""The --db folder (issue 11 part 3): anvil_reset removed the whole folder with rmtree."""

from __future__ import annotations

import subprocess
import sys

from security_support import DEV, NodeProcess, rpc


def _node_exit(tmp_path, db) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "imochain.cli", "node", "--port", "1", "--db", str(db),
                           "--models", str(tmp_path / "models"), "--no-oracle", "--no-challenger"],
                          capture_output=True, text=True, timeout=240)


def test_foreign_files_refuse_the_start(tmp_path):
    db = tmp_path / "project"
    db.mkdir()
    (db / "notes.txt").write_text("mine")
    done = _node_exit(tmp_path, db)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "not an imochain store" in lines[0] and "notes.txt" in lines[0], done.stderr
    assert (db / "notes.txt").read_text() == "mine" and sorted(p.name for p in db.iterdir()) == ["notes.txt"]


def test_a_file_and_a_foreign_database_refuse_the_start(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    done = _node_exit(tmp_path, target)
    assert done.returncode == 2 and "is a file" in done.stderr
    import lmdb
    other = tmp_path / "other"
    env = lmdb.open(str(other))
    with env.begin(write=True) as txn:
        txn.put(b"their-key", b"their-value")
    env.close()
    done = _node_exit(tmp_path, other)
    assert done.returncode == 2 and "not an imochain store" in done.stderr, done.stderr
    env = lmdb.open(str(other))
    with env.begin() as txn:
        assert txn.get(b"their-key") == b"their-value"
    env.close()


def test_reset_deletes_only_the_store(tmp_path):
    db = tmp_path / "chain"  # a new folder: accepted, created
    node = NodeProcess("--db", str(db), models=str(tmp_path / "models"))
    try:
        rpc(node.url, "eth_sendTransaction", [{"from": DEV[0], "to": DEV[1], "value": "0x1"}])
        assert int(rpc(node.url, "eth_blockNumber")["result"], 16) == 1
        (db / "notes.txt").write_text("mine")
        assert rpc(node.url, "anvil_reset")["result"] is None
        assert rpc(node.url, "eth_blockNumber")["result"] == "0x0"
        assert (db / "notes.txt").read_text() == "mine"
        rpc(node.url, "eth_sendTransaction", [{"from": DEV[0], "to": DEV[1], "value": "0x1"}])
        assert node.alive()
    finally:
        node.stop()
    (db / "notes.txt").unlink()
    again = NodeProcess("--db", str(db), models=str(tmp_path / "models"))  # its own store: resumes
    try:
        assert rpc(again.url, "eth_blockNumber")["result"] == "0x1"
    finally:
        again.stop()
