"""Llama forward pass in float32 torch with a KV cache (batch 1).

Layout conventions of GGUF that matter here:
* GGUF matrices are (out, in); the cache stores them transposed (in, out) for ``x @ W``;
* the GGUF converter permutes the rows of Q and K within each head so that RoPE rotates
  *adjacent* pairs (x[2i], x[2i+1]) — the "normal" (GPT-J style) RoPE — instead of HF's
  rotate-half pairs (x[i], x[i+d/2]). We apply RoPE on adjacent pairs and need no un-permute;
  q·k is unchanged because Q and K carry the same permutation.
* query head h reads key/value head h // (heads / kv_heads) (grouped-query attention).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .gguf_file import LlamaConfig


class KVCache:
    def __init__(self, cfg: LlamaConfig, max_len: int):
        shape = (cfg.layers, cfg.kv_heads, max_len, cfg.head_dim)
        # empty, not zeros: attention reads only positions already written (< length).
        self.k = torch.empty(shape, dtype=torch.float32)
        self.v = torch.empty(shape, dtype=torch.float32)
        self.length = 0
        self.max_len = max_len


class Llama:
    def __init__(self, cfg: LlamaConfig, w: dict[str, torch.Tensor]):
        self.cfg = cfg
        self.embed = w["token_embd.weight"]  # (vocab, width): rows are looked up
        self.lm_head = w["output.t"]  # (width, vocab); a transposed copy of embed when tied
        self.norm = w["output_norm.weight"]
        # Matrices are (in, out): see gguf_file.fuse for why.
        self.blocks = [
            tuple(w[f"blk.{i}.{n}"] for n in
                  ("attn_norm.weight", "attn_qkv.t", "attn_output.t", "ffn_norm.weight", "ffn_gate_up.t", "ffn_down.t"))
            for i in range(cfg.layers)
        ]
        half = cfg.head_dim // 2
        inv = 1.0 / (cfg.rope_base ** (torch.arange(0, half, dtype=torch.float64) * 2.0 / cfg.head_dim))
        if "rope_freqs.weight" in w:  # Llama-3.1 style per-frequency divisors
            inv = inv / w["rope_freqs.weight"].to(torch.float64)
        self.inv_freq = inv
        self.group = cfg.heads // cfg.kv_heads
        self.scale = cfg.head_dim ** -0.5

    def _rms(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.cfg.rms_eps) * w

    def _rope(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        # x: (T, heads, head_dim) -> rotate each adjacent pair by its position's angle.
        T, H, D = x.shape
        p = x.view(T, H, D // 2, 2)
        a, b = p[..., 0], p[..., 1]
        return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).view(T, H, D)

    @torch.inference_mode()
    def forward(self, ids: list[int], cache: KVCache) -> torch.Tensor:
        """Run ``ids`` at positions cache.length…; return the logits of the last position (vocab,)."""
        cfg = self.cfg
        T = len(ids)
        pos = cache.length
        S = pos + T
        if S > cache.max_len:
            raise ValueError("KV cache overflow")  # callers size the cache; this is a bug guard
        H, Hkv, D, G = cfg.heads, cfg.kv_heads, cfg.head_dim, self.group
        x = self.embed[torch.tensor(ids, dtype=torch.long)]
        ang = torch.arange(pos, S, dtype=torch.float64)[:, None] * self.inv_freq[None, :]
        cos = ang.cos().to(torch.float32)[:, None, :]
        sin = ang.sin().to(torch.float32)[:, None, :]
        mask = None
        if T > 1:  # causal mask over the whole cached span; a single new token sees everything
            mask = torch.full((T, S), float("-inf")).triu(pos + 1).repeat(G, 1)
        qd, kvd = H * D, Hkv * D
        for li, (an, wqkv, wo, fn, w13, w2) in enumerate(self.blocks):
            h = self._rms(x, an)
            qkv = h @ wqkv
            q = self._rope(qkv[:, :qd].reshape(T, H, D), cos, sin)
            k = self._rope(qkv[:, qd:qd + kvd].reshape(T, Hkv, D), cos, sin)
            v = qkv[:, qd + kvd:].reshape(T, Hkv, D)
            cache.k[li, :, pos:S] = k.transpose(0, 1)
            cache.v[li, :, pos:S] = v.transpose(0, 1)
            K = cache.k[li, :, :S]  # (Hkv, S, D)
            V = cache.v[li, :, :S]
            # Queries grouped by their kv head: (Hkv, G*T, D), row = g*T + t.
            qg = q.transpose(0, 1).reshape(Hkv, G * T, D)
            att = torch.matmul(qg, K.transpose(1, 2)) * self.scale
            if mask is not None:
                att = att + mask
            o = torch.matmul(att.softmax(-1), V)  # (Hkv, G*T, D)
            o = o.reshape(H, T, D).transpose(0, 1).reshape(T, qd)
            x = x + o @ wo
            h = self._rms(x, fn)
            gu = h @ w13
            x = x + (F.silu(gu[:, :cfg.ffn]) * gu[:, cfg.ffn:]) @ w2
        cache.length = S
        last = self._rms(x[-1:], self.norm)
        return (last @ self.lm_head)[0]
