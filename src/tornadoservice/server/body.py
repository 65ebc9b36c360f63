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

A urlencoded body is split here rather than by Tornado (:func:`parse_urlencoded`, same result):
Tornado turns the whole body into text, splits it, unquotes each field and turns it back into
bytes, five to six copies of a large ``args`` field alive at once; here each field is unquoted
from slices of the body. :func:`argument_text` reads a field as ``get_body_argument`` does,
with the control characters replaced on the bytes in one pass.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from tornado import httputil

from tornadoservice.core.log import escape_control
from tornadoservice.server.errors import RequestError

__all__ = [
    "MAX_FORM_FIELDS",
    "argument_text",
    "encoding_error",
    "parse_form",
    "parse_urlencoded",
]

MAX_FORM_FIELDS = 1000
"""Fields a urlencoded body may have (Tornado's own limit, reported here as a 413)."""

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


def encoding_error(headers: httputil.HTTPHeaders, *, streamed: bool) -> RequestError | None:
    """The 415 for a body in an encoding the server cannot read, else ``None``.

    A gzip body was already inflated (and its ``Content-Encoding`` removed) when this runs; a
    streamed upload (``streamed``) is taken as it is sent, never compressed.
    """
    # Looked up with `in` first: a missing name costs HTTPHeaders.get a KeyError.
    if "Content-Encoding" in headers:
        encoding = headers["Content-Encoding"]
    elif streamed and "X-Consumed-Content-Encoding" in headers:
        encoding = headers["X-Consumed-Content-Encoding"]
    else:
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
    if content_type.startswith(FORM):  # Tornado's own test, case and all
        parse_urlencoded(body, arguments)
        return
    try:
        httputil.parse_body_arguments(content_type, body, arguments, files, headers)
    except httputil.HTTPInputError as exc:
        raise RequestError(400, f"Malformed request body: {exc}") from exc


_HEX = {f"{n:02x}".encode(): bytes([n]) for n in range(256)}
_HEX.update({key.upper(): value for key, value in _HEX.items()})
_HEX.update({key[:1].upper() + key[1:]: value for key, value in _HEX.items()})
_HEX.update({key[:1] + key[1:].upper(): value for key, value in _HEX.items()})


def _plus_as_space(piece: bytes) -> bytes:
    return piece.replace(b"+", b" ") if b"+" in piece else piece


def _unquoted(body: bytes, start: int, stop: int) -> bytes:
    """``body[start:stop]`` with ``+`` read as a space and ``%XX`` decoded (``unquote_plus`` to
    bytes: a ``%`` not followed by two hex digits stays), built from slices of ``body``."""
    escape = body.find(b"%", start, stop)
    if escape < 0:
        return _plus_as_space(body[start:stop])
    parts: list[bytes] = []
    position = start
    while escape >= 0:
        parts.append(_plus_as_space(body[position:escape]))
        byte = _HEX.get(body[escape + 1 : min(escape + 3, stop)])
        if byte is None:
            parts.append(b"%")
            position = escape + 1
        else:
            parts.append(byte)
            position = escape + 3
        escape = body.find(b"%", position, stop)
    parts.append(_plus_as_space(body[position:stop]))
    return b"".join(parts)


SMALL_FORM = 64 * 1024
"""A urlencoded body below this size is split with ``bytes`` methods and ``unquote_to_bytes``
(about twice as fast); a larger one is decoded from slices of itself, holding less at once."""


def parse_urlencoded(body: bytes, arguments: dict[str, list[bytes]]) -> None:
    """Add the fields of a urlencoded ``body`` to ``arguments`` as Tornado does (names as
    latin-1 text, values as bytes, blank values and empty names kept, empty fields skipped)."""
    if len(body) < SMALL_FORM:
        for field in body.split(b"&"):
            if not field:
                continue
            name, _, value = field.partition(b"=")
            if b"+" in field:
                name, value = name.replace(b"+", b" "), value.replace(b"+", b" ")
            if b"%" in name:
                name = unquote_to_bytes(name)
            if b"%" in value:
                value = unquote_to_bytes(value)
            arguments.setdefault(name.decode("latin1"), []).append(value)
        return
    end = len(body)
    start = 0
    while start < end:
        stop = body.find(b"&", start)
        if stop < 0:
            stop = end
        if stop > start:
            equals = body.find(b"=", start, stop)
            if equals < 0:
                name, value = _unquoted(body, start, stop), b""
            else:
                name, value = _unquoted(body, start, equals), _unquoted(body, equals + 1, stop)
            arguments.setdefault(name.decode("latin1"), []).append(value)
        start = stop + 1


_CONTROL_AS_SPACE = bytes(
    32 if byte <= 0x08 or 0x0E <= byte <= 0x1F else byte for byte in range(256)
)
"""Tornado's ``_remove_control_chars_regex`` as a byte table: these bytes never occur inside a
UTF-8 sequence, so replacing them before decoding is replacing them after."""


def argument_text(values: list[bytes], decode: Callable[[bytes], str]) -> str | None:
    """The last of ``values`` as ``get_body_argument`` gives it (``decode``: the handler's
    ``decode_argument``, control characters as spaces, stripped), or ``None`` if none; every
    value is decoded (a bad one is a 400, as there) and ``values`` is emptied."""
    text: str | None = None
    while values:
        # Popped, so the raw value is freed once translated (``values`` is the only holder).
        clean = values.pop(0).translate(_CONTROL_AS_SPACE)
        text = decode(clean).strip()
    return text
