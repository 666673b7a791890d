"""Valid requests that took gigabytes (issue 11 part 6): a 10 MiB cnn batch in imo_dryRun
(4.1 GB), a gzip bomb in anvil_loadState (1 MiB -> 2.3 GB); and long prompts (chunked prefill)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from security_support import error_of, rpc

from imochain.models import ModelStore, PrecompileError
from imochain.precompiles.gas import MAX_CALL_ACTIVATION_BYTES, check_budget
from imochain.models.tensor import encode_array


def _hash_of(url: str, name: str) -> str:
    return next(m["hash"] for m in rpc(url, "imo_listModels")["result"] if m["name"] == name)


def test_ten_mib_cnn_batch_is_refused_before_running(survives):
    cnn = _hash_of(survives.url, "cnn-28-residual")
    batch = np.zeros((10 * 2**20 // 784, 1, 28, 28), np.int8)
    tensor = "0x" + encode_array(batch).hex()
    for method in ("imo_dryRun", "imo_quoteGas"):
        err = error_of(survives.url, method, [cnn, tensor])
        assert err["code"] == -32000 and "activation bytes" in err["message"], err
    # what the budget admits still runs
    ok = rpc(survives.url, "imo_dryRun", [cnn, "0x" + encode_array(batch[:8]).hex()])
    assert ok["result"]["output"].startswith("0x")


def test_budget_is_checked_by_every_entry_point():
    store = ModelStore()
    store.load_shipped()
    model = store.get(store.find("cnn-28-residual"))
    fits = MAX_CALL_ACTIVATION_BYTES // model.graph.activation_bytes_per_sample
    check_budget(model.graph, fits)
    with pytest.raises(PrecompileError, match="activation bytes"):
        check_budget(model.graph, fits + 1)
    from imochain.precompiles import InferencePrecompile
    pc = InferencePrecompile(store, "cpu")
    one = encode_array(np.zeros((1, 28, 28), np.int8))
    with pytest.raises(PrecompileError, match="activation bytes"):
        pc.execute_batch(model.hash, [one] * (fits + 1))


def test_gzip_bomb_state_is_refused_while_decompressing(survives):
    bomb = gzip.compress(b" " * (80 * 2**20), compresslevel=9)
    assert len(bomb) < 200_000
    err = error_of(survives.url, "anvil_loadState", ["0x" + bomb.hex()])
    assert err["code"] == -32602 and "64 MiB" in err["message"], err


def test_gunzip_capped():
    from imochain.rpc.dev import gunzip_capped
    data = b"x" * 1000
    assert gunzip_capped(gzip.compress(data), 1000) == data
    assert gunzip_capped(gzip.compress(data) + gzip.compress(b"yz"), 1002) == data + b"yz"
    with pytest.raises(ValueError, match="larger"):
        gunzip_capped(gzip.compress(data), 999)
    with pytest.raises(ValueError, match="truncated"):
        gunzip_capped(gzip.compress(data)[:-12], 10_000)
