"""The background warm-up after start-up: torch and the models built, then start-up's objects frozen."""

import gc
import time
from types import SimpleNamespace

import imochain.oracle as oracle


def test_warm_up_takes_start_up_objects_out_of_the_collectors_scans(monkeypatch):
    monkeypatch.setattr(oracle, "_frozen", False)
    gc.unfreeze()
    warmed = []
    node = SimpleNamespace(inference=SimpleNamespace(warm_up=lambda: warmed.append(gc.get_freeze_count())))
    try:
        oracle._warm_up_inference(node, delay=0)
        deadline = time.monotonic() + 60
        while gc.get_freeze_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert warmed == [0], "frozen before the models were built"
        assert gc.get_freeze_count() > 1000  # the test process's modules, at least
    finally:
        gc.unfreeze()
