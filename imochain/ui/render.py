"""Jinja2 templates and the filters that turn chain values (wei, hashes, tensors) into HTML."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
from eth_abi import decode as abi_decode
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from .abis import show

HERE = Path(__file__).resolve().parent
DTYPES = {1: "<i1", 2: "<i4", 3: "<f4"}  # the precompile's tensor dtype codes
MAX_TENSOR_VALUES = 1 << 16


def ether(wei) -> str:
    if isinstance(wei, str):
        wei = int(wei, 16)
    text = f"{Decimal(wei) / Decimal(10**18):,.6f}".rstrip("0").rstrip(".")
    return f"{text} ETH"


def num(value) -> str:
    if isinstance(value, str):
        value = int(value, 16)
    return f"{value:,}"


def short(value: str | bytes | None, keep: int = 10) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = "0x" + value.hex()
    return value if len(value) <= keep + 6 else f"{value[:keep]}…{value[-4:]}"


def checksummed(address) -> str:
    from eth_utils import is_hex_address, to_checksum_address
    return to_checksum_address(address) if isinstance(address, str) and is_hex_address(address) else str(address)


def tensor(raw: bytes | str | None):
    """(shape, values as a numpy array) of an encoded tensor, or None when it is not one."""
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            raw = bytes.fromhex(raw.removeprefix("0x"))
        except ValueError:
            return None
    try:
        dtype, shape, data = abi_decode(["uint8", "uint32[]", "bytes"], raw)
        values = np.frombuffer(data, dtype=DTYPES[dtype])
        if values.size > MAX_TENSOR_VALUES or int(np.prod(shape)) != values.size:
            return None
        return list(shape), values
    except Exception:
        return None


def digit_svg(values, size: int = 96) -> Markup:
    """An 8×8 image (any numeric values) as a grey-scale SVG: dark ink on white."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1)[:64]
    if arr.size != 64:
        return Markup("")
    lo, hi = float(arr.min()), float(arr.max())
    span = (hi - lo) or 1.0
    cells = []
    for i, v in enumerate(arr):
        shade = int(255 - 255 * (v - lo) / span)
        cells.append(f'<rect x="{i % 8}" y="{i // 8}" width="1" height="1" fill="rgb({shade},{shade},{shade})"/>')
    return Markup(f'<svg class="digit" viewBox="0 0 8 8" width="{size}" height="{size}" '
                  f'shape-rendering="crispEdges" role="img">{"".join(cells)}</svg>')


def render_tensor(raw, model_name: str | None = None) -> Markup:
    """A tensor for people: an 8×8 digit as an image, classifier scores with the class, else values."""
    found = tensor(raw)
    if found is None:
        return text_or_hex(raw)
    shape, values = found
    if values.size == 64:
        return digit_svg(values)
    if values.size == 10 and (model_name or "").endswith("classifier"):
        best = int(np.argmax(values))
        return Markup('<span class="class">class <b>{}</b></span> <span class="dim">scores {}</span>').format(
            best, list(map(int, values)))
    preview = ", ".join(str(v) for v in values[:16].tolist()) + (" …" if values.size > 16 else "")
    return Markup('<span class="dim">tensor {}</span> [{}]').format(shape, preview)


def text_or_hex(raw) -> Markup:
    if isinstance(raw, str):
        try:
            raw = bytes.fromhex(raw.removeprefix("0x"))
        except ValueError:
            return Markup("{}").format(raw)
    if raw is None:
        return Markup("")
    try:
        text = bytes(raw).decode("utf-8")
        if text.isprintable() or all(c.isprintable() or c in "\n\t" for c in text):
            return Markup('<q class="text">{}</q>').format(text)
    except UnicodeDecodeError:
        pass
    return Markup('<code class="hex">{}</code>').format(short("0x" + bytes(raw).hex(), 40))


def make_env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters.update(cs=checksummed, ether=ether, num=num, short=short, show=show, tensor=render_tensor,
                       digit=digit_svg, text_or_hex=text_or_hex, hexint=lambda v: int(v, 16) if isinstance(v, str) else v)
    env.globals["escape"] = escape
    return env
