"""What the client learned about the servers it talks to: does a URL stream uploads?

``sendFile`` has two wire forms. Our server takes the file as a streamed request body (the
arguments in the query string), in constant memory. DIRAC 9.1's server reads the arguments of a
call from the form body only, so it needs DIRAC's own form: one normal RPC whose last argument
is the whole file (base64 in JEncode). Our server marks every answer with
``X-Tornadoservice-Version``; the client notes, per URL, whether an answer carried it. Before the
first upload to a URL it has never heard from, the client asks that URL ``ping`` (harmless, and
built into both servers) to learn it: the upload itself is never sent twice.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import requests

VERSION_HEADER = "X-Tornadoservice-Version"
"""Must equal ``tornadoservice.server.handler.VERSION_HEADER`` (a test checks it)."""


@dataclass
class ServerKinds:
    """URL -> True (one of ours: streams uploads) or False (another server: DIRAC's form)."""

    _ours: dict[str, bool] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, url: str, response: requests.Response) -> None:
        ours = VERSION_HEADER in response.headers
        with self._lock:
            self._ours[url] = ours

    def streams_uploads(self, url: str) -> bool | None:
        """``None`` when no answer from ``url`` was seen yet."""
        with self._lock:
            return self._ours.get(url)

    def clear(self) -> None:
        with self._lock:
            self._ours.clear()
