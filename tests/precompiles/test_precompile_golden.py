"""Golden vectors: 1000 seeded inputs per zoo model, output hashes committed in golden_outputs.json.

The same bytes are required at batch sizes 1, 2, 7, 64, 256 and torch thread counts 1 and 2,
on CPU and (when present) CUDA: the int8 mode is exact, so none of these may change a bit.
All 1000 inputs are checked at batch sizes 64 and 256; batch sizes 1, 2 and 7 (thousands of
separate calls, slow on a 2-core machine) are checked on the first PREFIX inputs, whose output
hash is committed too.
Under every kernel set this CPU can take (kernel_sets.py: scalar, AVX2, AVX-512 code paths of
torch, MKL and numpy, each in a fresh interpreter) the same hashes are required again, through
both the torch path (one batch) and the small-batch numpy path (batch 1), on the prefix.
Regenerate (only after an intended change of models or semantics):
``python tests/precompiles/test_precompile_golden.py --write``.
"""

import json
import sys
from pathlib import Path

import pytest
from eth_utils import keccak
from kernel_sets import finish, kernel_sets, start
from precompile_helpers import ZOO, random_inputs, shipped_store

from imochain.precompiles import InferencePrecompile
from imochain.models.tensor import encode_array

GOLDEN = Path(__file__).with_name("golden_outputs.json")
COUNT = 1000
FULL_BATCH_SIZES = [64, 256]
PREFIX_BATCH_SIZES = [1, 2, 7]
PREFIX = 126          # a multiple of 2 and 7


def _inputs(name):
    store = shipped_store()
    model = store.get(store.find(name))
    return model, random_inputs(model.graph.input_shape, COUNT, seed=ZOO.index(name) + 100)


def _outputs_hash(precompile, model, x, batch) -> str:
    """keccak of all outputs, computed through the precompile in chunks of `batch` samples."""
    parts = []
    for start in range(0, len(x), batch):
        chunk = x[start:start + batch]
        if batch == 1:
            parts.extend(precompile.execute_batch(model.hash, [encode_array(chunk[0])]))
        else:
            parts.extend(precompile.execute_batch(model.hash, [encode_array(s) for s in chunk]))
    return "0x" + keccak(b"".join(parts)).hex()


def _cuda_available():
    import torch
    return torch.cuda.is_available()


@pytest.fixture(scope="module")
def golden():
    return json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("name", ZOO)
def test_golden_outputs(name, device, golden):
    import torch

    if device == "cuda" and not _cuda_available():
        pytest.skip("no CUDA device")
    model, x = _inputs(name)
    entry = golden[name]
    assert entry["model_hash"] == "0x" + model.hash.hex(), "model file changed: regenerate golden vectors"
    precompile = InferencePrecompile(shipped_store(), device)
    threads = torch.get_num_threads()
    try:
        for n_threads in (1, 2):
            torch.set_num_threads(n_threads)
            for batch in FULL_BATCH_SIZES:
                got = _outputs_hash(precompile, model, x, batch)
                assert got == entry["outputs_keccak"], f"{name} {device} threads={n_threads} batch={batch}"
            for batch in PREFIX_BATCH_SIZES:
                got = _outputs_hash(precompile, model, x[:PREFIX], batch)
                assert got == entry["prefix_keccak"], f"{name} {device} threads={n_threads} batch={batch}"
    finally:
        torch.set_num_threads(threads)


def kernel_set_hashes() -> dict:
    """This interpreter's hashes of the first PREFIX outputs: in one batch (the torch path) and
    one by one (the numpy path); the full 1000 cost minutes on a shared 2-core machine."""
    import torch
    precompile = InferencePrecompile(shipped_store(), "cpu")
    out = {"capability": torch.backends.cpu.get_cpu_capability()}
    for name in ZOO:
        model, x = _inputs(name)
        out[name] = {"batched": _outputs_hash(precompile, model, x[:PREFIX], PREFIX),
                     "one_by_one": _outputs_hash(precompile, model, x[:PREFIX], 1)}
    return out


@pytest.mark.timeout(900)    # one interpreter per kernel set: ~30 s of CPU, minutes on a loaded machine
def test_golden_outputs_under_every_kernel_set(golden):
    sets = kernel_sets()
    assert len(sets) >= 2 or pytest.skip("torch offers only its scalar kernels on this CPU")
    procs = {name: start([__file__, "--hashes"], env) for name, env in sets.items()}
    for name, proc in procs.items():
        got = finish(proc)
        assert got["capability"] == sets[name]["ATEN_CPU_CAPABILITY"].upper()
        for model in ZOO:
            want = golden[model]["prefix_keccak"]
            assert got[model] == {"batched": want, "one_by_one": want}, (name, model)


def write_golden():
    precompile = InferencePrecompile(shipped_store(), "cpu")
    data = {}
    for name in ZOO:
        model, x = _inputs(name)
        data[name] = {"model_hash": "0x" + model.hash.hex(), "count": COUNT,
                      "input_seed": ZOO.index(name) + 100,
                      "outputs_keccak": _outputs_hash(precompile, model, x, 64),
                      "prefix_keccak": _outputs_hash(precompile, model, x[:PREFIX], 1)}
    GOLDEN.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(json.dumps(data, indent=2))


if __name__ == "__main__" and "--write" in sys.argv:
    write_golden()
elif __name__ == "__main__" and "--hashes" in sys.argv:
    print(json.dumps(kernel_set_hashes()))
