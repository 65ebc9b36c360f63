"""A minimal DER reader and writer for the few ASN.1 structures the identity layer handles itself.

``cryptography`` parses certificates, but three things need the raw encoding:

* OpenSSL's one-line DN form and subject hash work on the *bytes* of each attribute value and on
  its ASN.1 string type, which ``x509.Name`` has already decoded away;
* grid extensions ``cryptography`` does not know (RFC 3820 proxyCertInfo, the DIRAC group, the
  VOMS attribute certificate) arrive as opaque DER blobs;
* writing those extensions needs their DER encoding.

Only definite-length, single-byte-tag DER is supported, which is all X.509 uses. Anything else
raises :class:`DerError`, a ``ValueError``, so callers can treat a malformed blob like any other
bad input.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

# Universal tags used in this package.
BOOLEAN = 0x01
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OBJECT_IDENTIFIER = 0x06
UTF8_STRING = 0x0C
PRINTABLE_STRING = 0x13
T61_STRING = 0x14
IA5_STRING = 0x16
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18
VISIBLE_STRING = 0x1A
UNIVERSAL_STRING = 0x1C
BMP_STRING = 0x1E
SEQUENCE = 0x30
SET = 0x31

_CONSTRUCTED = 0x20
_HIGH_TAG_NUMBER = 0x1F


def context_tag(number: int, *, constructed: bool) -> int:
    """The identifier octet of a context-specific tag ``[number]``."""
    if not 0 <= number < _HIGH_TAG_NUMBER:
        raise ValueError(f"context tag [{number}] needs the high-tag-number form")
    return 0x80 | (_CONSTRUCTED if constructed else 0) | number


class DerError(ValueError):
    """The bytes are not the DER structure the caller expected."""


@dataclass(frozen=True, slots=True)
class Tlv:
    """One decoded tag-length-value element."""

    tag: int
    value: bytes
    encoded: bytes
    """The whole element (tag, length and value), as found in the input."""

    @property
    def constructed(self) -> bool:
        return bool(self.tag & _CONSTRUCTED)

    def children(self) -> list[Tlv]:
        """The elements inside a constructed value (SEQUENCE, SET, explicit tags)."""
        if not self.constructed:
            raise DerError(f"tag 0x{self.tag:02x} is primitive, it has no children")
        return list(iter_elements(self.value))

    def expect(self, tag: int) -> Tlv:
        """Return ``self`` if it has ``tag``, raise :class:`DerError` otherwise."""
        if self.tag != tag:
            raise DerError(f"expected tag 0x{tag:02x}, found 0x{self.tag:02x}")
        return self


def _read_element(data: bytes, offset: int) -> tuple[Tlv, int]:
    start = offset
    if offset + 2 > len(data):
        raise DerError("truncated element header")
    tag = data[offset]
    if tag & _HIGH_TAG_NUMBER == _HIGH_TAG_NUMBER:
        raise DerError("high-tag-number form is not supported")
    first = data[offset + 1]
    offset += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        # 0x80 is BER's indefinite length, which DER forbids.
        if count == 0 or count > 4:
            raise DerError("unsupported length encoding")
        if offset + count > len(data):
            raise DerError("truncated length")
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    end = offset + length
    if end > len(data):
        raise DerError("element runs past the end of its container")
    return Tlv(tag, bytes(data[offset:end]), bytes(data[start:end])), end


def iter_elements(data: bytes) -> Iterator[Tlv]:
    """Decode consecutive elements filling ``data`` exactly."""
    offset = 0
    while offset < len(data):
        element, offset = _read_element(data, offset)
        yield element


def decode(data: bytes, tag: int | None = None) -> Tlv:
    """Decode exactly one element; trailing bytes are an error (DER is canonical)."""
    element, end = _read_element(data, 0)
    if end != len(data):
        raise DerError("trailing data after the element")
    return element if tag is None else element.expect(tag)


def encode(tag: int, value: bytes) -> bytes:
    """Encode one element with a definite, minimal length."""
    length = len(value)
    if length < 0x80:
        header = bytes([tag, length])
    else:
        size = (length.bit_length() + 7) // 8
        header = bytes([tag, 0x80 | size]) + length.to_bytes(size, "big")
    return header + value


def encode_oid(dotted: str) -> bytes:
    """The DER encoding (tag included) of an OBJECT IDENTIFIER."""
    arcs = [int(part) for part in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] >= 40):
        raise ValueError(f"invalid object identifier {dotted!r}")
    body = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return encode(OBJECT_IDENTIFIER, bytes(body))


def decode_oid(value: bytes) -> str:
    """The dotted form of an OBJECT IDENTIFIER's value octets."""
    if not value or value[-1] & 0x80:
        raise DerError("malformed object identifier")
    arcs: list[int] = []
    current = 0
    for byte in value:
        current = (current << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(current)
            current = 0
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(arc) for arc in head + arcs[1:])


def decode_integer(value: bytes) -> int:
    """The value of an INTEGER's content octets."""
    if not value:
        raise DerError("empty integer")
    return int.from_bytes(value, "big", signed=True)


def decode_time(element: Tlv) -> dt.datetime:
    """A UTCTime or GeneralizedTime (the ``Z`` forms DER requires) as an aware datetime."""
    formats = {GENERALIZED_TIME: "%Y%m%d%H%M%SZ", UTC_TIME: "%y%m%d%H%M%SZ"}
    if element.tag not in formats:
        raise DerError(f"tag 0x{element.tag:02x} is not a time")
    text = element.value.decode("ascii", errors="replace")
    try:
        parsed = dt.datetime.strptime(text, formats[element.tag])
    except ValueError as exc:
        raise DerError(f"malformed time {text!r}") from exc
    # RFC 5280 says two-digit years 50-99 are 19xx; strptime pivots at 69 instead.
    if element.tag == UTC_TIME:
        century = 1900 if parsed.year % 100 >= 50 else 2000
        parsed = parsed.replace(year=century + parsed.year % 100)
    return parsed.replace(tzinfo=dt.UTC)
