"""Where a client sends its RPCs: URL resolution from the configuration, and the ban list.

``TornadoClient("DataManagement/Catalog")`` reads ``/Systems/DataManagement/URLs/Catalog``
(a comma-separated list, as in DIRAC), shuffled so that clients spread over the servers. A URL
that could not be reached is banned for a while: it is tried again only after every URL that
is not banned, so a dead server costs one failed connection, not one per call.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tornadoservice.config.tree import ConfigTree, split_list

DEFAULT_BAN_SECONDS = 300.0
"""How long a URL that refused a connection is tried last (DIRAC bans for a few minutes too)."""


class URLResolutionError(ValueError):
    """A ``System/Service`` name has no URL in the configuration, or a URL is not https."""


@dataclass(frozen=True)
class ServiceURLs:
    """The service name as the caller gave it, and the URLs it stands for (already shuffled)."""

    name: str
    urls: tuple[str, ...]


def resolve_urls(
    name: str,
    config: ConfigTree | None,
    *,
    shuffle: Callable[[list[str]], None] | None = None,
) -> ServiceURLs:
    """A URL stays itself; ``System/Service`` becomes the configured URLs, in random order."""
    if "://" in name:
        if not name.startswith("https://"):
            raise URLResolutionError(f"{name!r}: only https:// URLs are supported")
        return ServiceURLs(name, (name,))
    parts = [part for part in name.split("/") if part]
    if len(parts) != 2:
        raise URLResolutionError(f"{name!r} is neither an https:// URL nor System/Service")
    system, service = parts
    option = f"/Systems/{system}/URLs/{service}"
    if config is None:
        raise URLResolutionError(f"no configuration to resolve {name!r} ({option})")
    urls = split_list(config.get(option) or "")
    if not urls:
        raise URLResolutionError(f"no URL for {name!r}: {option} is missing or empty")
    for url in urls:
        if not url.startswith("https://"):
            raise URLResolutionError(f"{option}: {url!r} is not an https:// URL")
    (shuffle or random.shuffle)(urls)
    return ServiceURLs(name, tuple(urls))


@dataclass
class BanList:
    """URLs that failed to connect recently, each until a deadline (``time.monotonic``).

    Thread-safe: one list is shared by every thread using a client.
    """

    seconds: float = DEFAULT_BAN_SECONDS
    clock: Callable[[], float] = time.monotonic
    _until: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def ban(self, url: str) -> None:
        with self._lock:
            self._until[url] = self.clock() + self.seconds

    def lift(self, url: str) -> None:
        """A banned URL answered after all: it is good again."""
        with self._lock:
            self._until.pop(url, None)

    def clear(self) -> None:
        with self._lock:
            self._until.clear()

    def is_banned(self, url: str) -> bool:
        with self._lock:
            return self._banned_until(url) is not None

    def _banned_until(self, url: str) -> float | None:
        until = self._until.get(url)
        if until is not None and until <= self.clock():
            del self._until[url]
            return None
        return until

    def order(self, urls: Sequence[str]) -> list[str]:
        """``urls`` with the banned ones moved last, the one whose ban ends first first."""
        with self._lock:
            bans = {url: self._banned_until(url) for url in urls}
        free = [url for url in urls if bans[url] is None]
        banned = sorted((url for url in urls if bans[url] is not None), key=lambda u: bans[u] or 0)
        return free + banned
