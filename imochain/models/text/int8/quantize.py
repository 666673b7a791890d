"""Float Llama -> int8 model: weight quantisation, static K/V scales from a calibration run, tables.

This is the only place floats decide integers; its output (tensors + constants) is stored in the
model file, so the runtime on every device starts from the same integers.
"""

from __future__ import annotations

import math

import numpy as np

from . import fixed

FX = 16            # fractional bits of the residual stream and every int32 activation
LF = 16            # fractional bits of the integer logits
KV_MARGIN = 1.2    # static K/V scales cover 1.2x the calibration maximum before clamping
CALIB_BITS = 6     # calibration maxima are rounded up to this many significant bits


def quant_matrix(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(in, out) float matrix -> int8 matrix and per-output-column real scales (max|col| / 127)."""
    w = np.asarray(w, dtype=np.float64)
    sw = np.abs(w).max(axis=0) / 127.0
    sw = np.where(sw > 0, sw, 1.0 / 127.0)
    q = np.clip(np.rint(w / sw), -127, 127).astype(np.int8)
    return q, sw


def quant_gamma(g: np.ndarray) -> tuple[np.ndarray, int]:
    """RMSNorm weights as integers with ``fg`` fractional bits, the largest near 2^15."""
    g = np.asarray(g, dtype=np.float64)
    gmax = float(np.abs(g).max())
    fg = 15 - math.frexp(gmax)[1] if gmax > 0 else 0
    return np.rint(g * 2.0 ** fg).astype(np.int32), fg


def _rms_linear(tensors: dict, name: str, w: np.ndarray, fg: int, out_frac: int = FX) -> None:
    """Quantise a matrix fed by an RMSNorm: multipliers map int sums to ``out_frac`` fixed point."""
    q, sw = quant_matrix(w)
    tensors[name + ".q"] = q
    tensors[name + ".m"], tensors[name + ".s"] = fixed.scales_of(sw * 2.0 ** (out_frac - FX) / (127.0 * 2.0 ** fg))


def _linear(tensors: dict, name: str, w: np.ndarray) -> None:
    q, sw = quant_matrix(w)
    tensors[name + ".q"] = q
    tensors[name + ".m"], tensors[name + ".s"] = fixed.scales_of(sw / 127.0)


def calibrate(net, cfg, ids: list[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per layer, the largest |K| (after RoPE) and |V| per kv channel over a float64 run of ``ids``,
    rounded up to CALIB_BITS significant bits: float64 kernels differ across CPUs only in the last
    bits, so every machine rounds to the same values and exports the same file (bytes and hash)."""
    import torch

    from ..llama import KVCache, Llama

    with torch.inference_mode():
        w64 = {"token_embd.weight": net.embed.double(), "output.t": net.lm_head[:, :1].double(),
               "output_norm.weight": net.norm.double()}
        names = ("attn_norm.weight", "attn_qkv.t", "attn_output.t", "ffn_norm.weight", "ffn_gate_up.t", "ffn_down.t")
        for i, block in enumerate(net.blocks):
            w64.update({f"blk.{i}.{n}": t.double() for n, t in zip(names, block)})
        net64 = Llama(cfg, w64)
        net64.inv_freq = net.inv_freq
        cache = KVCache(cfg, len(ids))
        cache.k, cache.v = cache.k.double(), cache.v.double()
        net64.forward(list(ids), cache)
        n = len(ids)
        kmax = [_round_up(cache.k[i, :, :n].abs().amax(dim=1).reshape(-1).numpy()) for i in range(cfg.layers)]
        vmax = [_round_up(cache.v[i, :, :n].abs().amax(dim=1).reshape(-1).numpy()) for i in range(cfg.layers)]
    return kmax, vmax


def _round_up(a: np.ndarray) -> np.ndarray:
    m, e = np.frexp(np.maximum(a, 1e-6))  # exact
    return np.ldexp(np.ceil(np.ldexp(m, CALIB_BITS)), e - CALIB_BITS)


def quantize(net, cfg, calib_ids: list[int], positions: int | None = None) -> tuple[dict, dict]:
    """Quantise a float ``llama.Llama`` into (tensors, consts) for ``Int8Llama``."""
    positions = min(cfg.context_length, positions or 8192)
    t: dict[str, np.ndarray] = {}
    emb = net.embed.double().numpy()
    se = np.abs(emb).max(axis=1) / 127.0
    se = np.where(se > 0, se, 1.0 / 127.0)
    t["embed.q"] = np.clip(np.rint(emb / se[:, None]), -127, 127).astype(np.int8)
    t["embed.m"], t["embed.s"] = fixed.scales_of(se * 2.0 ** FX)
    t["norm"], norm_fg = quant_gamma(net.norm.double().numpy())
    head = net.lm_head.double().numpy()  # (width, vocab)
    if cfg.tied_embeddings:
        sh = se  # the head is the embedding matrix: reuse its int8 rows and real row scales
    else:
        hq, sh = quant_matrix(head)
        t["head.q"] = np.ascontiguousarray(hq.T)
    t["head.m"], t["head.s"] = fixed.scales_of(sh * 2.0 ** (LF - FX) / (127.0 * 2.0 ** norm_fg))
    kmax, vmax = calibrate(net, cfg, calib_ids)
    D = cfg.head_dim
    layers = []
    for i, (an, wqkv, wo, fn, w13, w2) in enumerate(net.blocks):
        p = f"blk.{i}."
        t[p + "attn_norm"], afg = quant_gamma(an.double().numpy())
        _rms_linear(t, p + "qkv", wqkv.double().numpy(), afg)
        _linear(t, p + "o", wo.double().numpy())
        t[p + "ffn_norm"], ffg = quant_gamma(fn.double().numpy())
        _rms_linear(t, p + "gu", w13.double().numpy(), ffg)
        _linear(t, p + "down", w2.double().numpy())
        sk = kmax[i] * KV_MARGIN / 127.0   # real K per int8 step, per channel
        sv = vmax[i] * KV_MARGIN / 127.0
        t[p + "k.m"], t[p + "k.s"] = fixed.scales_of(1.0 / (sk * 2.0 ** FX))
        t[p + "v.m"], t[p + "v.s"] = fixed.scales_of(1.0 / (sv * 2.0 ** FX))
        skf = 15 - math.frexp(float(sk.max()))[1]
        t[p + "qk.m"] = np.rint(sk * 2.0 ** skf).astype(np.int32)
        v_shift = 15 - math.frexp(float((sv * 2.0 ** FX).max()))[1]
        t[p + "vo.m"] = np.rint(sv * 2.0 ** FX * 2.0 ** v_shift).astype(np.int32)
        # scores -> exponent of 2 in Q16: log2(e) / (127 sqrt(D) 2^(FX + skf)) per unit of S * q8.k8
        score_m, score_s = fixed.scale_of(math.log2(math.e) * 2.0 ** 16 / (127.0 * math.sqrt(D) * 2.0 ** (FX + skf)))
        layers.append({"score_m": score_m, "score_s": score_s, "v_shift": v_shift})
    t["rope.cos"], t["rope.sin"] = fixed.rope_tables(net.inv_freq.numpy(), positions)
    t["lut.exp2"] = fixed.exp2_table()
    t["lut.sigmoid"] = fixed.sigmoid_table()
    eps_m, eps_e = fixed.scale_of(cfg.rms_eps)
    consts = {"fx": FX, "lf": LF, "eps_m": eps_m, "eps_e": eps_e, "positions": positions, "layers": layers}
    return t, consts


def tiny_float(seed: int, layers: int, width: int, heads: int, kv_heads: int, ffn: int, vocab: int,
               context: int):
    """A random float Llama (fused layout, like gguf_file.fuse) and its config."""
    import torch

    from ..gguf_file import LlamaConfig
    from ..llama import Llama

    if width % heads or heads % kv_heads or (width // heads) % 2:
        raise ValueError("tiny: width must split into heads of even size, heads into kv heads")
    cfg = LlamaConfig(
        layers=layers, width=width, ffn=ffn, heads=heads, kv_heads=kv_heads, head_dim=width // heads,
        vocab=vocab, context_length=context, rope_base=10000.0, rms_eps=1e-5, tied_embeddings=True,
        rope_freq_factors=False, file_type="random", general_name=f"tiny-{seed}", tokenizer_pre="default",
        bos_id=None, eos_id=None, add_bos=False, chat_template=None,
    )
    rng = np.random.default_rng(seed)
    kvd = kv_heads * cfg.head_dim

    def mat(i, o):
        return torch.from_numpy((rng.standard_normal((i, o)) / math.sqrt(i)).astype(np.float32))

    def gamma():
        return torch.from_numpy((1.0 + 0.2 * rng.standard_normal(width)).astype(np.float32))

    emb = torch.from_numpy((0.5 * rng.standard_normal((vocab, width))).astype(np.float32))
    w = {"token_embd.weight": emb, "output_norm.weight": gamma(), "output.t": emb.T.contiguous()}
    for i in range(layers):
        p = f"blk.{i}."
        w[p + "attn_norm.weight"] = gamma()
        w[p + "attn_qkv.t"] = mat(width, width + 2 * kvd)
        w[p + "attn_output.t"] = mat(width, width)
        w[p + "ffn_norm.weight"] = gamma()
        w[p + "ffn_gate_up.t"] = mat(width, 2 * ffn)
        w[p + "ffn_down.t"] = mat(ffn, width)
    calib = rng.integers(0, vocab, size=min(48, context)).tolist()
    return cfg, Llama(cfg, w), calib


def tiny_model(seed, layers, width, heads, kv_heads, ffn, vocab, context):
    from .file import build

    cfg, net, calib = tiny_float(seed, layers, width, heads, kv_heads, ffn, vocab, context)
    tensors, consts = quantize(net, cfg, calib)
    return build(cfg, tensors, consts)
