"""Reading a request body's form, with a clear 4xx for every body a client got wrong.

Tornado's parser raises ``HTTPInputError`` for a body it cannot read; left alone, that is a 500
and an ``Uncaught exception`` traceback. Here each case becomes a :class:`RequestError`:

* a ``Content-Encoding`` other than gzip (gzip is inflated before the body reaches the
  service), or any for a streamed upload: 415;
* a ``multipart/...`` type other than ``multipart/form-data``: 415;
* more than :data:`MAX_FORM_FIELDS` fields in a urlencoded body: 413;
* a form Tornado cannot parse (no multipart boundary, a broken part, too many parts): 400.

Other content types are not forms and are ignored, as DIRAC does (the request then usually lacks
its ``method``: 400).
"""

from __future__ import annotations

from tornado import httputil

from tornadoservice.core.log import escape_control
from tornadoservice.server.errors import RequestError

__all__ = ["MAX_FORM_FIELDS", "encoding_error", "parse_form"]

MAX_FORM_FIELDS = 1000
"""Fields a urlencoded body may have (Tornado's own limit, reported here as a 413)."""

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


def encoding_error(headers: httputil.HTTPHeaders, *, streamed: bool) -> RequestError | None:
    """The 415 for a body in an encoding the server cannot read, else ``None``.

    A gzip body was already inflated (and its ``Content-Encoding`` removed) when this runs; a
    streamed upload (``streamed``) is taken as it is sent, never compressed.
    """
    encoding = headers.get("Content-Encoding")
    if encoding is None and streamed:
        encoding = headers.get("X-Consumed-Content-Encoding")
    if encoding is None:
        return None
    if streamed:
        return RequestError(
            415, f"A streamed body cannot be sent with Content-Encoding {encoding!r}"
        )
    return RequestError(
        415,
        f"Unsupported Content-Encoding {encoding!r}: send the body as it is or in gzip",
    )


def parse_form(
    content_type: str,
    body: bytes,
    arguments: dict[str, list[bytes]],
    files: dict[str, list[httputil.HTTPFile]],
    headers: httputil.HTTPHeaders,
) -> None:
    """Add the fields of ``body`` to ``arguments`` (and ``files``), or raise a 4xx."""
    base = content_type.split(";", 1)[0].strip().lower()
    if base.startswith("multipart/") and base != MULTIPART:
        raise RequestError(
            415,
            f"Unsupported Content-Type {escape_control(base)!r}: use {FORM} or {MULTIPART}",
        )
    if base == FORM and body.count(b"&") >= MAX_FORM_FIELDS:
        raise RequestError(413, f"The form has more than {MAX_FORM_FIELDS} fields")
    try:
        httputil.parse_body_arguments(content_type, body, arguments, files, headers)
    except httputil.HTTPInputError as exc:
        raise RequestError(400, f"Malformed request body: {exc}") from exc
