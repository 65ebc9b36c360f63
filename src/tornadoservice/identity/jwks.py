"""JSON Web Key Sets (RFC 7517): the public keys an issuer signs its tokens with.

Two sources, one interface (:class:`KeySource`): :class:`FileKeySource` reads a local file once,
:class:`RemoteKeySource` fetches a URL without blocking the IOLoop (Tornado's
``AsyncHTTPClient``, with connect and request timeouts) and caches the keys:

* the cached set is used for ``max_age`` seconds, then fetched again on the next use;
* a ``kid`` the cached set does not hold (the issuer rotated its keys) triggers a re-fetch, but at
  most once every ``min_refetch`` seconds per issuer: a flood of tokens with made-up ``kid``\\ s
  cannot turn the server into a load generator against the issuer. Failed fetches count too;
* concurrent requests that need a fetch share one.

Only public signing keys are kept: symmetric (``oct``) keys and keys whose ``use`` is not ``sig``
are dropped, so a JWKS can never make an HMAC secret out of published material. A key set is
plain JSON; :class:`JWKSError` says why one cannot be used.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

__all__ = [
    "FileKeySource",
    "JWKSError",
    "KeySet",
    "KeySource",
    "RemoteKeySource",
    "check_jwks_url",
    "parse_key_set",
]

_SIGNING_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})
_MAX_JWKS_BYTES = 1024 * 1024  # a real key set is a few KiB


class JWKSError(Exception):
    """A key set cannot be read, fetched or parsed; the message is one line."""


@dataclass(frozen=True, slots=True)
class KeySet:
    """The usable public keys of one issuer, as JWK dicts by ``kid`` (``""`` for a key without)."""

    keys: Mapping[str, Mapping[str, Any]]

    def get(self, kid: str | None) -> Mapping[str, Any] | None:
        """The key with this ``kid``; without a ``kid``, the only key (``None`` if ambiguous)."""
        if kid is None:
            return next(iter(self.keys.values())) if len(self.keys) == 1 else None
        return self.keys.get(kid)


def parse_key_set(data: bytes | str, where: str) -> KeySet:
    """Parse a JWKS document, keeping the public signing keys."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise JWKSError(f"{where} is not JSON: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JWKSError(f"{where} is not a JWK set (no 'keys' list)")
    keys: dict[str, Mapping[str, Any]] = {}
    for key in document["keys"]:
        if not isinstance(key, dict) or key.get("kty") not in _SIGNING_KEY_TYPES:
            continue
        if key.get("use", "sig") != "sig":
            continue
        kid = key.get("kid", "")
        if isinstance(kid, str):
            keys.setdefault(kid, key)
    if not keys:
        raise JWKSError(f"{where} holds no public signing key")
    return KeySet(keys)


def check_jwks_url(url: str) -> None:
    """Refuse a key-set URL that could be tampered with: ``https``, or ``http`` on loopback only."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname:
        if parts.hostname == "localhost":
            return
        try:
            if ipaddress.ip_address(parts.hostname).is_loopback:
                return
        except ValueError:
            pass
    raise JWKSError(f"JWKS URL {url!r} must be https (plain http only on the loopback interface)")


class KeySource(Protocol):
    """Where the keys of one issuer come from."""

    async def key(self, kid: str | None) -> Mapping[str, Any] | None:
        """The JWK for ``kid`` (``None`` when the issuer has no such key)."""
        ...


class FileKeySource:
    """Keys from a local JWKS file, read once (at server start)."""

    def __init__(self, path: Path) -> None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise JWKSError(f"cannot read JWKS file {path}: {exc.strerror}") from exc
        self.path = path
        self.key_set = parse_key_set(data, str(path))

    async def key(self, kid: str | None) -> Mapping[str, Any] | None:
        return self.key_set.get(kid)


class RemoteKeySource:
    """Keys fetched from a URL, cached, re-fetched on an unknown ``kid`` (rate-limited)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        max_age: float = 3600.0,
        min_refetch: float = 60.0,
        clock: Any = time.monotonic,
    ) -> None:
        check_jwks_url(url)
        self.url = url
        self.timeout = timeout
        self.max_age = max_age
        self.min_refetch = min_refetch
        self.fetch_count = 0
        """Fetch attempts so far (successful or not): lets tests and metrics see the rate limit."""
        self._clock = clock
        self._key_set: KeySet | None = None
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._last_error = "never fetched"
        self._lock: asyncio.Lock | None = None

    async def key(self, kid: str | None) -> Mapping[str, Any] | None:
        now = self._clock()
        if self._key_set is None or now - self._fetched_at > self.max_age:
            await self._refresh()
        elif self._key_set.get(kid) is None:
            # Maybe the issuer rotated its keys since we fetched them.
            await self._refresh()
        if self._key_set is None:
            raise JWKSError(f"no keys from {self.url}: {self._last_error}")
        return self._key_set.get(kid)

    async def _refresh(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        started = self._clock()
        async with self._lock:
            if self._attempted_at >= started:
                return  # another request fetched while we waited for the lock
            if self._clock() - self._attempted_at < self.min_refetch:
                return  # rate limit: keep what we have
            self._attempted_at = self._clock()
            self.fetch_count += 1
            try:
                self._key_set = await self._fetch()
                self._fetched_at = self._clock()
            except JWKSError as exc:
                # Keep serving the keys we have (if any): an issuer outage must not lock
                # out callers whose tokens were signed with keys we already know.
                self._last_error = str(exc)

    async def _fetch(self) -> KeySet:
        client = AsyncHTTPClient(force_instance=True)
        request = HTTPRequest(
            self.url,
            connect_timeout=self.timeout,
            request_timeout=self.timeout,
            follow_redirects=False,
            headers={"Accept": "application/json"},
        )
        try:
            response = await client.fetch(request)
        except HTTPClientError as exc:
            raise JWKSError(f"fetching {self.url} failed: HTTP {exc.code}") from exc
        except OSError as exc:
            raise JWKSError(f"fetching {self.url} failed: {exc}") from exc
        finally:
            client.close()
        body = response.body or b""
        if len(body) > _MAX_JWKS_BYTES:
            raise JWKSError(f"{self.url} answered more than {_MAX_JWKS_BYTES} bytes")
        return parse_key_set(body, self.url)
