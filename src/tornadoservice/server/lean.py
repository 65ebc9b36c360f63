"""Per-request work of Tornado's ``RequestHandler`` that a service does not need redone.

``RequestHandler.clear()`` runs for every request (and again when an error replaces the
answer): it formats the ``Date`` header from the clock each time (``email.utils`` work, a few
microseconds). :class:`LeanHandler` sets the same three headers, with the ``Date`` text made
once per second. Everything else of the handler API is Tornado's, unchanged.
"""

from __future__ import annotations

import time
from http.client import responses

import tornado
from tornado import httputil
from tornado.web import RequestHandler

__all__ = ["LeanHandler", "http_date"]

SERVER_HEADER = f"TornadoServer/{tornado.version}"
"""Tornado's own ``Server`` value (clients and tests that look at it see no change)."""

_date: tuple[int, str] = (0, "")


def http_date(now: float | None = None) -> str:
    """``now`` (default: the clock) as an HTTP date, formatted at most once per second."""
    global _date  # a one-entry cache: the tuple swap is atomic
    second = int(time.time() if now is None else now)
    cached = _date
    if cached[0] != second:
        cached = _date = (second, httputil.format_timestamp(second))
    return cached[1]


class LeanHandler(RequestHandler):
    """``RequestHandler`` with a cheaper :meth:`clear` (the cached ``Date``)."""

    def clear(self) -> None:
        """What ``RequestHandler.clear`` does: the default headers, no body, status 200."""
        self._headers = httputil.HTTPHeaders(
            {
                "Server": SERVER_HEADER,
                "Content-Type": "text/html; charset=UTF-8",
                "Date": http_date(),
            }
        )
        self.set_default_headers()
        self._write_buffer: list[bytes] = []
        self._status_code = 200
        self._reason = responses[200]
