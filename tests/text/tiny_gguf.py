"""Write small synthetic GGUF files with gguf's own writer, for tests.

``write_tiny_llama`` builds a random 2-layer Llama whose weights are drawn in Hugging Face's
layout and then permuted the way the GGUF converter permutes Q/K (so RoPE pairs become
adjacent); ``hf_reference_logits`` is an independent numpy forward in HF's rotate-half
convention on the un-permuted weights. Agreement checks our GGUF layout handling.
"""

from __future__ import annotations

import numpy as np



def _byte_chars() -> list[str]:
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars = {b: chr(b) for b in keep}
    n = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + n)
            n += 1
    return [chars[b] for b in range(256)]


def tiny_vocab():
    """256 byte tokens + a few merges + ChatML control tokens."""
    toks = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + _byte_chars()
    merges = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a"]
    for m in merges:
        toks.append(m.replace(" ", ""))
    types = [3, 3, 3] + [1] * (len(toks) - 3)
    return toks, merges, types


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF (rotate-half) row order -> GGUF (adjacent pairs) row order, per head."""
    out, inp = w.shape
    return w.reshape(n_head, 2, out // n_head // 2, inp).swapaxes(1, 2).reshape(out, inp)


def make_weights(rng, layers=2, width=32, heads=4, kv_heads=2, ffn=48, vocab=264, tied=False):
    hd = width // heads
    s = 0.2
    w = {"token_embd.weight": rng.standard_normal((vocab, width)).astype(np.float32) * s,
         "output_norm.weight": (1 + 0.1 * rng.standard_normal(width)).astype(np.float32)}
    if not tied:
        w["output.weight"] = rng.standard_normal((vocab, width)).astype(np.float32) * s
    for i in range(layers):
        p = f"blk.{i}."
        w[p + "attn_norm.weight"] = (1 + 0.1 * rng.standard_normal(width)).astype(np.float32)
        w[p + "ffn_norm.weight"] = (1 + 0.1 * rng.standard_normal(width)).astype(np.float32)
        w[p + "attn_q.weight"] = rng.standard_normal((width, width)).astype(np.float32) * s
        w[p + "attn_k.weight"] = rng.standard_normal((kv_heads * hd, width)).astype(np.float32) * s
        w[p + "attn_v.weight"] = rng.standard_normal((kv_heads * hd, width)).astype(np.float32) * s
        w[p + "attn_output.weight"] = rng.standard_normal((width, width)).astype(np.float32) * s
        w[p + "ffn_gate.weight"] = rng.standard_normal((ffn, width)).astype(np.float32) * s
        w[p + "ffn_up.weight"] = rng.standard_normal((ffn, width)).astype(np.float32) * s
        w[p + "ffn_down.weight"] = rng.standard_normal((width, ffn)).astype(np.float32) * s
    return w


def write_tiny_llama(path, hf_weights, *, layers=2, width=32, heads=4, kv_heads=2, ffn=48,
                     arch="llama", template=True, rope_base=10000.0, f16=False, extra_tensor=None):
    import gguf

    toks, merges, types = tiny_vocab()
    wr = gguf.GGUFWriter(str(path), arch)
    wr.add_name("tiny-llama")
    wr.add_block_count(layers)
    wr.add_context_length(64)
    wr.add_embedding_length(width)
    wr.add_feed_forward_length(ffn)
    wr.add_head_count(heads)
    wr.add_head_count_kv(kv_heads)
    wr.add_rope_freq_base(rope_base)
    wr.add_layer_norm_rms_eps(1e-5)
    wr.add_tokenizer_model("gpt2")
    wr.add_tokenizer_pre("default")
    wr.add_token_list(toks)
    wr.add_token_merges(merges)
    wr.add_token_types(types)
    wr.add_bos_token_id(1)
    wr.add_eos_token_id(2)
    if template:
        wr.add_chat_template("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}")
    for name, arr in hf_weights.items():
        if name.endswith("attn_q.weight"):
            arr = _permute(arr, heads)
        elif name.endswith("attn_k.weight"):
            arr = _permute(arr, kv_heads)
        if f16 and arr.ndim == 2:
            arr = arr.astype(np.float16)
        wr.add_tensor(name, arr)
    if extra_tensor:
        wr.add_tensor(extra_tensor, np.zeros(4, np.float32))
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()


def hf_reference_logits(w, ids, *, layers=2, width=32, heads=4, kv_heads=2, rope_base=10000.0, eps=1e-5):
    """Plain numpy Llama (HF conventions, float64), logits of every position: (T, vocab)."""
    w = {k: v.astype(np.float64) for k, v in w.items()}
    hd = width // heads
    T = len(ids)
    x = w["token_embd.weight"][ids]
    inv = 1.0 / rope_base ** (np.arange(0, hd, 2) / hd)
    ang = np.arange(T)[:, None] * inv[None, :]
    cos = np.concatenate([np.cos(ang)] * 2, -1)[:, None, :]
    sin = np.concatenate([np.sin(ang)] * 2, -1)[:, None, :]

    def rms(v, g):
        return v / np.sqrt((v * v).mean(-1, keepdims=True) + eps) * g

    def rot_half(v):
        h = v.shape[-1] // 2
        return np.concatenate([-v[..., h:], v[..., :h]], -1)

    mask = np.triu(np.full((T, T), -np.inf), 1)
    for i in range(layers):
        p = f"blk.{i}."
        h = rms(x, w[p + "attn_norm.weight"])
        q = (h @ w[p + "attn_q.weight"].T).reshape(T, heads, hd)
        k = (h @ w[p + "attn_k.weight"].T).reshape(T, kv_heads, hd)
        v = (h @ w[p + "attn_v.weight"].T).reshape(T, kv_heads, hd)
        q = q * cos + rot_half(q) * sin
        k = k * cos + rot_half(k) * sin
        rep = heads // kv_heads
        k = np.repeat(k, rep, axis=1)
        v = np.repeat(v, rep, axis=1)
        att = np.einsum("thd,shd->hts", q, k) / np.sqrt(hd) + mask
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        o = np.einsum("hts,shd->thd", att, v).reshape(T, width)
        x = x + o @ w[p + "attn_output.weight"].T
        h = rms(x, w[p + "ffn_norm.weight"])
        g = h @ w[p + "ffn_gate.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * (h @ w[p + "ffn_up.weight"].T)) @ w[p + "ffn_down.weight"].T
    x = rms(x, w["output_norm.weight"])
    head = w.get("output.weight", w["token_embd.weight"])
    return x @ head.T
