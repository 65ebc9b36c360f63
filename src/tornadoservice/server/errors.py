"""Errors that end a request with an HTTP status and a JSON ``S_ERROR`` body.

:class:`RequestError` keeps what the client sees (``client_message``) apart from what the log
says (``log_message``): a refusal can tell the log *why* without telling an attacker.
"""

from __future__ import annotations

import errno as _errno

from tornado.web import HTTPError

# The errno carried in the JSON body of each HTTP error status. 401/403 use EACCES, 501 ENOSYS,
# as DIRAC's client maps them; the others use the closest POSIX meaning.
STATUS_ERRNO: dict[int, int] = {
    400: _errno.EINVAL,
    401: _errno.EACCES,
    403: _errno.EACCES,
    404: _errno.ENOENT,
    405: _errno.EOPNOTSUPP,
    408: _errno.ETIMEDOUT,
    413: _errno.EFBIG,
    414: _errno.EMSGSIZE,
    415: _errno.EPROTONOSUPPORT,
    422: 0,
    431: _errno.EMSGSIZE,
    500: 0,
    501: _errno.ENOSYS,
    503: _errno.EAGAIN,
}


class RequestError(HTTPError):
    """End the request with ``status`` and a JSON error body saying ``client_message``."""

    def __init__(
        self,
        status: int,
        client_message: str,
        *,
        log_message: str | None = None,
        errno: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        # Tornado %-formats log_message only when given extra args; none are, so '%' is safe.
        super().__init__(status, log_message or client_message)
        self.client_message = client_message
        self.errno = STATUS_ERRNO.get(status, 0) if errno is None else errno
        self.headers = headers or {}
        """Sent with the error answer (``Retry-After`` of a 503, for example)."""
