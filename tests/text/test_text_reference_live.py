"""Live comparison with Hugging Face transformers loading the same GGUF offline.

Slow (transformers de-quantises the GGUF itself: ~40 s idle, ~100 s on a loaded 2-core box,
~1 GiB), so it runs only with IMOCHAIN_TEXT_REFERENCE=1 and transformers + accelerate installed.
The always-on tests compare against reference_smollm2.json, written by make_reference.py from
the same library.
"""

import importlib.util
import os

import pytest
import torch

from text_cases import TOKENIZER_CASES

HAVE = all(importlib.util.find_spec(m) for m in ("transformers", "accelerate"))
pytestmark = [
    pytest.mark.skipif(not HAVE, reason="transformers + accelerate not installed (reference only)"),
    pytest.mark.skipif(os.environ.get("IMOCHAIN_TEXT_REFERENCE") != "1",
                       reason="slow (~1-2 min): set IMOCHAIN_TEXT_REFERENCE=1 to compare with transformers live"),
]

PROMPTS = ["What is an Initial Model Offering?", "Write a haiku about Ethereum gas. 🚀", "2+2="]


@pytest.fixture(scope="module")
def hf(smol):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d, f = os.path.split(smol.path)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    return tok, model


def test_tokenizer_and_template_live(smol, hf):
    tok, _ = hf
    for s in TOKENIZER_CASES:
        if "<|im_start|>" not in s:
            assert smol.tokenizer.encode(s) == tok.encode(s, add_special_tokens=False), s
    for p in PROMPTS:
        text = tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False)
        assert smol.encode_prompt(p) == tok.encode(text, add_special_tokens=False)


def test_logits_live(smol, hf):
    _, model = hf
    for p in PROMPTS:
        ids = smol.encode_prompt(p)
        with torch.no_grad():
            ref = model(torch.tensor([ids])).logits[0, -1].float()
        ours = smol.logits(ids)
        assert (ours - ref).abs().max().item() < 2e-3, p
