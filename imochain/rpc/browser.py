"""What a browser may do with the node: Host allow-list, CORS origins, JSON-only POSTs.

The dev accounts are unlocked, so any web page that can reach the node can spend from them.
Three checks, as geth makes them: a POST must say `application/json` (a page can send
text/plain or an untyped Blob without a CORS preflight, but not JSON); the Host header must
name this machine (a DNS-rebinding page reaches 127.0.0.1 under its own host name); and a
request that carries an Origin must come from an allowed one (local dev servers and wallet
extensions by default; `--allow-origin` adds others, `*` allows all as anvil does).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Iterable

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = ("", "0.0.0.0", "::")
# What dApp development needs: pages served by local dev servers (Vite, Next, Hardhat's and
# Foundry's tooling, any port) and wallet extensions (MetaMask sends its extension origin).
DEFAULT_ORIGINS = ("http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*",
                   "https://localhost:*", "https://127.0.0.1:*", "https://[::1]:*",
                   "chrome-extension://*", "moz-extension://*")
JSON_TYPES = ("application/json", "application/json-rpc", "application/jsonrequest")  # geth's


def is_loopback(host: str) -> bool:
    return host.strip("[]").lower() in LOOPBACK_HOSTS or host.startswith("127.")


def origin_regex(patterns: Iterable[str]) -> str:
    """`scheme://host`, `scheme://host:port`, `scheme://host:*` (any port) or `scheme://*`
    (any host, for extension ids) → one regular expression over Origin header values."""
    parts = []
    for pattern in patterns:
        scheme, sep, rest = pattern.strip().rstrip("/").partition("://")
        if not sep or not scheme or not rest:
            raise ValueError(f"invalid origin {pattern!r}: expected scheme://host[:port], "
                             "scheme://host:* or *")
        if rest == "*":
            body = r"[^/\s]+"
        elif rest.endswith(":*"):
            body = re.escape(rest[:-2]) + r"(:\d+)?"
        else:
            body = re.escape(rest)
        parts.append(re.escape(scheme) + "://" + body)
    return "(?i:" + "|".join(parts) + ")" if parts else r"(?!)"


def _hostname(host_header: str) -> str:
    if host_header.startswith("["):  # [::1]:8545
        return host_header[1:].partition("]")[0].lower()
    return host_header.rpartition(":")[0].lower() if host_header.count(":") == 1 else host_header.lower()


@dataclass(frozen=True)
class BrowserPolicy:
    """Host and origin allow-lists; `*` in either allows everything."""
    hosts: tuple[str, ...] = LOOPBACK_HOSTS
    origins: tuple[str, ...] = DEFAULT_ORIGINS

    @classmethod
    def for_bind(cls, bind_host: str, hosts: Iterable[str] = (), origins: Iterable[str] = ()) -> "BrowserPolicy":
        """Defaults for a server bound to `bind_host`, plus what the user allowed."""
        allowed = list(LOOPBACK_HOSTS) + [h.strip().strip("[]").lower() for h in hosts if h.strip()]
        if bind_host not in WILDCARD_BINDS:
            allowed.append(bind_host.strip("[]").lower())
        extra = tuple(o.strip() for o in origins if o.strip())
        policy = cls(tuple(dict.fromkeys(allowed)), DEFAULT_ORIGINS + extra)
        policy.regex  # a malformed --allow-origin fails at start, not per request
        return policy

    @property
    def any_origin(self) -> bool:
        return "*" in self.origins

    @property
    def regex(self) -> str:
        return origin_regex(o for o in self.origins if o != "*")

    @functools.cached_property
    def origin_pattern(self) -> re.Pattern:
        return re.compile(self.regex)

    def host_allowed(self, host_header: str | None) -> bool:
        # No Host header: not a browser (browsers always send one), so nothing to rebind.
        return host_header is None or "*" in self.hosts or _hostname(host_header) in self.hosts

    def origin_allowed(self, origin: str | None, host_header: str | None) -> bool:
        if origin is None or self.any_origin:
            return True
        if host_header and origin.lower() in (f"http://{host_header}".lower(), f"https://{host_header}".lower()):
            return True  # the node's own pages
        return self.origin_pattern.fullmatch(origin) is not None


class BrowserGuard:
    """ASGI middleware in front of everything (HTTP and WebSocket)."""

    def __init__(self, app, policy: BrowserPolicy):
        self.app = app
        self.policy = policy

    def problem(self, scope) -> tuple[int, str] | None:
        """Why this request is refused (HTTP status, message), or None to let it through."""
        host = origin = media = None
        for key, value in scope["headers"]:  # ASGI header names are lower case
            if key == b"host":
                host = value.decode("latin-1")
            elif key == b"origin":
                origin = value.decode("latin-1")
            elif key == b"content-type":
                media = value.decode("latin-1")
        if not self.policy.host_allowed(host):
            return (403, f"invalid host specified: {host!r} is not in the allowed hosts "
                         "(start the node with --allow-host to add it)")
        if not self.policy.origin_allowed(origin, host):
            return (403, f"origin {origin!r} is not allowed (start the node with --allow-origin "
                         f"{origin} to allow it)")
        if scope["type"] == "http" and scope["method"] == "POST":
            media = (media or "").partition(";")[0].strip().lower()
            if media not in JSON_TYPES:
                return (415, f"invalid content type {media or 'none'!r}: only application/json is supported")
        return None

    async def refuse(self, scope, receive, send, problem: tuple[int, str]) -> None:
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008, "reason": problem[1][:120]})
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host, origin = headers.get("host"), headers.get("origin")
        body = json.dumps({"jsonrpc": "2.0", "id": None,
                           "error": {"code": -32600, "message": problem[1]}}).encode()
        out = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if origin is not None and self.policy.origin_allowed(origin, host):
            # an allowed page may read why (e.g. the 415), in its console
            out += [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
        await send({"type": "http.response.start", "status": problem[0], "headers": out})
        await send({"type": "http.response.body", "body": body})

    def cors_headers(self, scope) -> list[tuple[bytes, bytes]]:
        """What Starlette's CORSMiddleware adds to a simple (non-preflight) response, for the
        JSON-RPC path that answers without it."""
        origin = cookie = None
        for key, value in scope["headers"]:
            if key == b"origin":
                origin = value
            elif key == b"cookie":
                cookie = value
        if origin is None:
            return []
        if self.policy.any_origin and cookie is None:
            return [(b"access-control-allow-origin", b"*")]
        if self.policy.any_origin or self.policy.origin_pattern.fullmatch(origin.decode("latin-1")):
            return [(b"access-control-allow-origin", origin), (b"vary", b"Origin")]
        return []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        problem = self.problem(scope)
        if problem is None:
            await self.app(scope, receive, send)
        else:
            await self.refuse(scope, receive, send, problem)
