"""The JSON-RPC client a forked chain reads its remote with: batches, retries, checked answers.

Only read methods are ever sent (a fork never writes to the remote). A remote that is down,
slow, rate-limiting (HTTP 429) or answering garbage is retried with exponential backoff; when
the retries run out the request that needed the data fails with `RemoteUnavailable`, and
nothing from the failed exchange is kept.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any

from ..errors import ChainError

log = logging.getLogger("imochain.fork")

READ_METHODS = frozenset({
    "eth_chainId", "eth_blockNumber", "eth_getBlockByNumber", "eth_getBlockByHash",
    "eth_getBalance", "eth_getTransactionCount", "eth_getCode", "eth_getStorageAt",
    "eth_getTransactionByHash", "eth_getTransactionReceipt", "eth_getBlockReceipts",
    "eth_getBlockTransactionCountByNumber", "eth_getBlockTransactionCountByHash",
    "eth_getTransactionByBlockNumberAndIndex", "eth_getTransactionByBlockHashAndIndex",
    "eth_call", "eth_getLogs", "eth_getProof", "eth_config",
})
MAX_RESPONSE = 64 * 1024 * 1024  # bytes; a larger answer is garbage for our purposes


class RemoteUnavailable(ChainError):
    """The fork's remote could not answer (down, timeout, 429, garbage) after every retry."""


class RemoteError(ChainError):
    """The remote answered with a JSON-RPC error (not retried: asking again would not help)."""


class RemoteClient:
    def __init__(self, url: str, retries: int = 3, timeout: float = 10.0, backoff: float = 0.25):
        if not url.startswith(("http://", "https://")):
            raise ChainError(f"fork url {url!r} must start with http:// or https://")
        self.url = url
        self.retries = retries
        self.timeout = timeout
        self.backoff = backoff
        self.round_trips = 0  # batches sent (whatever their size), for tests and the banner
        self.batches = True  # until the remote answers a batch with one error (some providers)

    def call(self, method: str, params: list, parse=None) -> Any:
        return self.batch([(method, params)], lambda results: results[0] if parse is None else parse(results[0]))

    def batch(self, calls: list[tuple[str, list]], parse=None) -> Any:
        """Results in order, or what `parse` makes of them; one HTTP round trip (a JSON-RPC
        batch when there are several). A `parse` that finds garbage (`GarbageAnswer`) counts
        as a failed attempt, like an unreadable answer."""
        for method, _ in calls:
            if method not in READ_METHODS:  # a guard: the fork never changes the remote
                raise ChainError(f"{method} is not a read method; the fork never sends it to the remote")
        if len(calls) > 1 and not self.batches:
            results = [self.call(m, p) for m, p in calls]
            return parse(results) if parse is not None else results
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        body = json.dumps(payload if len(payload) > 1 else payload[0]).encode()
        last = "no attempt made"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                answers = self._post(body)
                if len(calls) > 1 and isinstance(answers, dict) and "error" in answers:
                    log.debug("fork: the remote refuses batches (%s); one call at a time", answers["error"])
                    self.batches = False
                    return self.batch(calls, parse)
                results = self._results(answers, len(calls))
                return parse(results) if parse is not None else results
            except (_Retry, GarbageAnswer) as exc:
                last = str(exc)
                log.debug("fork: %s (attempt %d of %d)", last, attempt + 1, self.retries + 1)
        raise RemoteUnavailable(f"fork remote {self.url} failed after {self.retries + 1} attempts: {last}")

    def _post(self, body: bytes) -> Any:
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        self.round_trips += 1
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read(MAX_RESPONSE + 1)
        except urllib.error.HTTPError as exc:
            if exc.code == 429:
                raise _Retry("rate limited (HTTP 429)") from None
            raise _Retry(f"HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:  # refused, reset, timeout
            reason = getattr(exc, "reason", exc)
            raise _Retry(f"unreachable ({reason})") from None
        log.debug("fork: round trip of %d bytes in %.1f ms", len(body), (time.monotonic() - started) * 1e3)
        if len(raw) > MAX_RESPONSE:
            raise _Retry("answer larger than 64 MiB")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise _Retry(f"garbage answer ({raw[:40]!r})") from None

    @staticmethod
    def _results(answers: Any, count: int) -> list[Any]:
        if isinstance(answers, dict):
            answers = [answers]
        if not isinstance(answers, list) or len(answers) != count:
            raise _Retry("malformed JSON-RPC answer")
        by_id = {}
        for answer in answers:
            if not isinstance(answer, dict) or not isinstance(answer.get("id"), int):
                raise _Retry("malformed JSON-RPC answer")
            by_id[answer["id"]] = answer
        out = []
        for i in range(count):
            answer = by_id.get(i)
            if answer is None:
                raise _Retry("malformed JSON-RPC answer (missing id)")
            if "error" in answer:
                error = answer["error"] if isinstance(answer["error"], dict) else {}
                if error.get("code") == 429 or "rate" in str(error.get("message", "")).lower():
                    raise _Retry(f"rate limited ({error.get('message')})")
                raise RemoteError(f"fork remote: {error.get('message', 'error')}")
            if "result" not in answer:
                raise _Retry("malformed JSON-RPC answer (no result)")
            out.append(answer["result"])
        return out


class _Retry(Exception):
    """A failure worth another attempt."""


class GarbageAnswer(RemoteUnavailable):
    """A result that is not what the method returns (checked before anything is cached)."""


def quantity(value: Any, what: str) -> int:
    """A hex quantity from the remote, checked: garbage must never become a cached value."""
    if isinstance(value, str) and value.startswith("0x") and 2 < len(value) <= 66:
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise GarbageAnswer(f"garbage for {what}: {str(value)[:40]!r}")


def data(value: Any, what: str, size: int | None = None) -> bytes:
    if isinstance(value, str) and value.startswith("0x") and len(value) % 2 == 0:
        try:
            out = bytes.fromhex(value[2:])
        except ValueError:
            out = None
        if out is not None and (size is None or len(out) == size):
            return out
    raise GarbageAnswer(f"garbage for {what}: {str(value)[:40]!r}")
