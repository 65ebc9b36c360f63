"""One RPC over HTTPS, as DIRAC's client sends it, with HTTP errors mapped to ``S_ERROR``.

The form fields and their order are DIRAC's (``method``, ``args``, ``extraCredentials``,
``clientVO``, ``clientSetup``), so a DIRAC server sees exactly what its own client sends.

A reply is read with a bound (:func:`read_body`): what the server announces in
``Content-Length`` and what the body holds once decompressed may not exceed the client's
``max_reply_size``. A redirect is an error naming its target, never followed: following it
would present the caller's proxy to, and send the call again to, whatever host it names.
"""

from __future__ import annotations

import errno
import ssl
from typing import Any

import requests
import urllib3

from tornadoservice.core.returnvalues import S_ERROR
from tornadoservice.wire.jencode import JEncodeError, decode, encode

DReturn = dict[str, Any]

DEFAULT_MAX_REPLY_SIZE = 256 * 1024 * 1024
"""The largest RPC reply a client reads, decompressed, in bytes (``max_reply_size``)."""

READ_SIZE = 64 * 1024
"""Bytes decoded per read of a reply: a gzip bomb inflates at most this much past the bound."""


class ReplyTooLargeError(Exception):
    """The server announced or sent a reply larger than ``max_reply_size``."""


class RPCConnectionError(Exception):
    """The exchange with the server failed below HTTP (refused, TLS failure, timeout, reset).

    ``request_sent`` is False when the request certainly never reached the server (no
    connection, or the TLS handshake failed): only then may it be sent to another server.
    """

    def __init__(self, message: str, *, request_sent: bool = True) -> None:
        super().__init__(message)
        self.request_sent = request_sent


# Raised before a single byte of the request is written.
_BEFORE_SENDING: tuple[type[BaseException], ...] = (
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ConnectTimeoutError,
    urllib3.exceptions.NameResolutionError,
    requests.exceptions.ConnectTimeout,
)
# A TLS connection that just ends could have ended after the server read the request.
_AMBIGUOUS_TLS: tuple[type[ssl.SSLError], ...] = (
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
    ssl.SSLSyscallError,
)


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps: requests and urllib3 nest them in ``reason``/``args[0]``."""
    chain = [exc]
    for _ in range(16):
        seen = chain[-1]
        inner = getattr(seen, "reason", None)
        if not isinstance(inner, BaseException):
            inner = seen.__cause__
        if inner is None and seen.args and isinstance(seen.args[0], BaseException):
            inner = seen.args[0]
        if inner is None or inner in chain:
            break
        chain.append(inner)
    return chain


def never_sent(exc: BaseException) -> bool:
    """True when ``exc`` (from requests) proves that the server never executed the request.

    Yes for: connection refused, name not resolved, connect timeout, and a TLS handshake that
    failed on a certificate or an alert (the server refused the connection, so it executed
    nothing). No for: a read timeout, a reset or a closed connection after the request went
    out, and a TLS connection that simply ended (EOF): the server may have run the call, so it
    must not be sent again elsewhere.
    """
    chain = _causes(exc)
    if any(
        isinstance(e, urllib3.exceptions.ReadTimeoutError | requests.ReadTimeout) for e in chain
    ):
        return False
    tls = [e for e in chain if isinstance(e, ssl.SSLError)]
    if tls:
        return not isinstance(tls[-1], _AMBIGUOUS_TLS)
    return any(isinstance(e, _BEFORE_SENDING) for e in chain)


def short_reason(exc: BaseException) -> str:
    """The innermost reason of a requests error (its text nests "Max retries exceeded ...")."""
    cause: BaseException = exc
    for _ in range(16):
        inner = cause.__cause__
        if inner is None and cause.args and isinstance(cause.args[0], BaseException):
            inner = cause.args[0]
        if inner is None:
            break
        cause = inner
    text = str(cause) or str(exc)
    return text if len(text) < 300 else text[:300] + "..."


def form_fields(
    method: str,
    args: list[Any] | tuple[Any, ...],
    *,
    extra_credentials: Any = None,
    client_vo: str = "unknown",
) -> list[tuple[str, str]]:
    fields = [("method", method), ("args", encode(list(args)))]
    if extra_credentials is not None:
        fields.append(("extraCredentials", encode(extra_credentials)))
    fields += [("clientVO", client_vo), ("clientSetup", "None")]
    return fields


def read_body(response: requests.Response, url: str, limit: int) -> bytes:
    """The whole (decoded) body of a ``stream=True`` response, or :class:`ReplyTooLargeError`.

    Reads :data:`READ_SIZE` decoded bytes at a time (urllib3 bounds what one read inflates), so
    neither a lying ``Content-Length`` nor a gzip bomb makes the client hold more than
    ``limit + READ_SIZE`` bytes.
    """
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ReplyTooLargeError(
            f"{url} announced a reply of {int(declared)} bytes, more than the client accepts "
            f"(max_reply_size={limit})"
        )
    parts: list[bytes] = []
    total = 0
    for chunk in response.iter_content(READ_SIZE):
        total += len(chunk)
        if total > limit:
            encoded = response.headers.get("Content-Encoding")
            how = f" once decompressed ({printable(encoded)})" if encoded else ""
            raise ReplyTooLargeError(
                f"the reply of {url} is larger{how} than the client accepts "
                f"(max_reply_size={limit})"
            )
        parts.append(chunk)
    return b"".join(parts)


def printable(text: str, limit: int = 300) -> str:
    """A server-given value (a header) fit for a message: escaped and cut to ``limit``."""
    shown = text.encode("unicode_escape", "backslashreplace").decode("ascii")
    return shown if len(shown) <= limit else shown[:limit] + "..."


def error_from_response(response: requests.Response, body: bytes, url: str, method: str) -> DReturn:
    """Map a non-200 answer (our JSON bodies or DIRAC's HTML pages) to DIRAC's ``S_ERROR``.

    ``body`` is the response's body, read by :func:`read_body`.
    """
    status = response.status_code
    if 300 <= status < 400:
        location = response.headers.get("Location")
        target = f"to {printable(location)}" if location else "without a Location"
        return S_ERROR(
            f"{status} Redirect: {response.reason} for url: {url}: the server redirects "
            f"{target}; the client never follows a redirect"
        )
    if status in (401, 403):
        result = S_ERROR(errno.EACCES, f"No access to {url}")
    elif status == 501:
        result = S_ERROR(errno.ENOSYS, f"{method} is not implemented")
    else:
        detail = body.decode(response.encoding or "utf-8", "replace")
        if response.headers.get("Content-Type", "").startswith("application/json"):
            try:
                answer, _ = decode(body)
            except JEncodeError:
                answer = None
            if isinstance(answer, dict) and answer.get("OK") is False and "Message" in answer:
                detail = str(answer["Message"])
        suffix = f"{url} is not found" if status == 404 else detail
        # requests' raise_for_status() wording, which DIRAC's client puts in its messages.
        kind = "Client Error" if status < 500 else "Server Error"
        result = S_ERROR(f"{status} {kind}: {response.reason} for url: {url}: {suffix}")
    return result


def decode_result(content: bytes, url: str) -> DReturn:
    """The DIRAC result in a 200 JSON body, or an ``S_ERROR`` saying it is none."""
    try:
        result, _ = decode(content)
    except JEncodeError as exc:
        return S_ERROR(errno.EPROTO, f"{url} answered something that is not a DIRAC result: {exc}")
    if not isinstance(result, dict) or "OK" not in result:
        return S_ERROR(errno.EPROTO, f"{url} answered something that is not a DIRAC result")
    return result
