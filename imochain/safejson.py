"""The one JSON parser for untrusted text: json.loads behind a nesting bound.

py_ecc raises the interpreter's recursion limit to 100 000, so json.loads of text nested tens of
thousands of levels deep overflows the C stack (a segfault) before any RecursionError. Every JSON
the node parses from outside (request bodies, state dumps, model headers and graphs, typed data)
goes through `loads`, which first counts bracket depth outside strings, without recursion.
"""

from __future__ import annotations

import json
import re

MAX_DEPTH = 256

# A string literal, or an unterminated one running to the end: every quote starts a match, so
# the scan is linear even for hostile input (possessive quantifiers: no backtracking).
_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.S)
_CHUNK = 1 << 20


class JsonTooDeep(ValueError):
    """Raised (a ValueError, like json's own errors) for text nested deeper than allowed."""


def depth_exceeds(text: bytes | str, max_depth: int = MAX_DEPTH) -> bool:
    """True when [ and { outside string literals nest deeper than ``max_depth``."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return False  # the common case, whatever the strings hold
    if b'"' in raw:
        raw = _STRING.sub(b'""', raw)
    import numpy as np
    arr = np.frombuffer(raw, dtype=np.uint8)
    depth = 0
    for start in range(0, len(arr), _CHUNK):
        chunk = arr[start:start + _CHUNK]
        step = ((chunk == 0x5B) | (chunk == 0x7B)).astype(np.int32) - ((chunk == 0x5D) | (chunk == 0x7D))
        running = np.cumsum(step) + depth
        if running.max() > max_depth:
            return True
        depth = int(running[-1])
    return False


def loads(text: bytes | str, max_depth: int = MAX_DEPTH, **kwargs):
    """json.loads, refusing text nested deeper than ``max_depth`` with JsonTooDeep."""
    if depth_exceeds(text, max_depth):
        raise JsonTooDeep(f"JSON nested deeper than {max_depth} levels")
    return json.loads(text, **kwargs)
