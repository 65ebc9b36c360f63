"""``sendFile`` on the wire: streamed to our servers, DIRAC's form to the others.

Which server a URL is, is learned as :mod:`.peers` explains (one ``ping`` before the first
upload to a URL never heard from). :class:`Upload` sends one try of an upload to one URL; the
client's failover decides which URLs it tries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any

import requests

from .peers import ServerKinds
from .rpc import form_fields
from .transfer import Progress, ProgressReader


@dataclass(frozen=True)
class Upload:
    """``streamFromClient(file_id, token, size, <the bytes>)`` of ``size`` bytes of ``stream``
    from position ``start``, with the caller's credentials fields and headers."""

    session: requests.Session
    stream: IO[bytes]
    start: int
    size: int
    file_id: Any
    token: str
    extra_credentials: Any
    client_vo: str
    headers: dict[str, str]
    timeout: float
    progress: Progress | None = None

    def send(self, url: str, kinds: ServerKinds) -> requests.Response:
        """One try at ``url``: the answer to the upload (or to the ``ping``, if redirected)."""
        # After a refused connection nothing was read, but rewind anyway: cheap and sure.
        self.stream.seek(self.start)
        kind = self._kind(url, kinds)
        if isinstance(kind, requests.Response):
            return kind  # the ping was redirected: the upload would be, and is not sent
        return self._streamed(url) if kind else self._dirac_form(url)

    def _post(self, url: str, **kwargs: Any) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.session.post(
            url,
            headers=headers,
            timeout=self.timeout,
            stream=True,
            allow_redirects=False,
            **kwargs,
        )

    def _fields(self, args: list[Any]) -> list[tuple[str, str]]:
        return form_fields(
            "streamFromClient",
            args,
            extra_credentials=self.extra_credentials,
            client_vo=self.client_vo,
        )

    def _kind(self, url: str, kinds: ServerKinds) -> bool | requests.Response:
        known = kinds.streams_uploads(url)
        if known is not None:
            return known
        ping = form_fields("ping", [], extra_credentials=self.extra_credentials)
        response = self._post(url, data=ping)
        kinds.note(url, response)
        if 300 <= response.status_code < 400:
            return response
        response.close()
        return bool(kinds.streams_uploads(url))

    def _streamed(self, url: str) -> requests.Response:
        """Ours: the file is the request body, the arguments are in the query string."""
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(self.size)}
        return self._post(
            url,
            params=self._fields([self.file_id, self.token, self.size]),
            data=ProgressReader(self.stream, self.size, self.progress),
            headers=headers,
        )

    def _dirac_form(self, url: str) -> requests.Response:
        """DIRAC's: one RPC whose last argument is the whole file (held in memory)."""
        content = self.stream.read(self.size)
        response = self._post(
            url, data=self._fields([self.file_id, self.token, self.size, content])
        )
        if self.progress is not None and content:
            self.progress(len(content), self.size)
        return response
