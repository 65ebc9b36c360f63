"""The minimal DER reader/writer."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509

from tornadoservice.identity import der


@pytest.mark.parametrize(
    "oid",
    [
        "1.2.42.42",
        "1.3.6.1.5.5.7.1.14",
        "2.5.4.3",
        "0.9.2342.19200300.100.1.25",
        "2.999.3",
        "1.3.6.1.4.1.8005.100.100.5",
    ],
)
def test_oid_round_trip_and_matches_cryptography(oid: str) -> None:
    encoded = der.encode_oid(oid)
    element = der.decode(encoded, der.OBJECT_IDENTIFIER)
    assert der.decode_oid(element.value) == oid
    # The same bytes as cryptography writes for that OID in a name.
    name = x509.Name([x509.NameAttribute(x509.ObjectIdentifier(oid), "x")])
    assert encoded in name.public_bytes()


@pytest.mark.parametrize("bad", ["1", "3.1", "1.40", "x.y"])
def test_invalid_oids(bad: str) -> None:
    with pytest.raises(ValueError):
        der.encode_oid(bad)


@pytest.mark.parametrize("value", [b"", b"\x80"])
def test_malformed_oid_value(value: bytes) -> None:
    with pytest.raises(der.DerError, match="malformed object identifier"):
        der.decode_oid(value)


@pytest.mark.parametrize("size", [0, 1, 127, 128, 255, 256, 70000])
def test_lengths(size: int) -> None:
    encoded = der.encode(der.OCTET_STRING, b"x" * size)
    element = der.decode(encoded, der.OCTET_STRING)
    assert element.value == b"x" * size
    assert element.encoded == encoded
    assert not element.constructed


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x04", "truncated element header"),
        (b"\x1f\x01\x00", "high-tag-number"),
        (b"\x30\x80\x00\x00", "unsupported length"),
        (b"\x04\x85\x00\x00\x00\x00\x01\x00", "unsupported length"),
        (b"\x04\x82\x01", "truncated length"),
        (b"\x04\x05abc", "runs past the end"),
        (b"\x04\x01a\x00", "trailing data"),
    ],
)
def test_malformed_elements(data: bytes, message: str) -> None:
    with pytest.raises(der.DerError, match=message):
        der.decode(data)


def test_children_and_expect() -> None:
    sequence = der.decode(
        der.encode(der.SEQUENCE, der.encode(der.INTEGER, b"\x01") + der.encode(der.NULL, b""))
    )
    assert [child.tag for child in sequence.children()] == [der.INTEGER, der.NULL]
    with pytest.raises(der.DerError, match="primitive"):
        sequence.children()[0].children()
    with pytest.raises(der.DerError, match="expected tag 0x31"):
        sequence.expect(der.SET)


def test_integers() -> None:
    assert der.decode_integer(b"\x01\x00") == 256
    assert der.decode_integer(b"\xff") == -1
    with pytest.raises(der.DerError, match="empty integer"):
        der.decode_integer(b"")


def test_context_tags() -> None:
    assert der.context_tag(0, constructed=True) == 0xA0
    assert der.context_tag(6, constructed=False) == 0x86
    with pytest.raises(ValueError, match="high-tag-number"):
        der.context_tag(31, constructed=False)


@pytest.mark.parametrize(
    ("tag", "text", "expected"),
    [
        (
            der.GENERALIZED_TIME,
            "20290109215437Z",
            dt.datetime(2029, 1, 9, 21, 54, 37, tzinfo=dt.UTC),
        ),
        (der.UTC_TIME, "490101000000Z", dt.datetime(2049, 1, 1, tzinfo=dt.UTC)),
        (der.UTC_TIME, "500101000000Z", dt.datetime(1950, 1, 1, tzinfo=dt.UTC)),
        (der.UTC_TIME, "700101000000Z", dt.datetime(1970, 1, 1, tzinfo=dt.UTC)),
    ],
)
def test_times(tag: int, text: str, expected: dt.datetime) -> None:
    assert der.decode_time(der.decode(der.encode(tag, text.encode()))) == expected


def test_bad_times() -> None:
    with pytest.raises(der.DerError, match="malformed time"):
        der.decode_time(der.decode(der.encode(der.GENERALIZED_TIME, b"yesterday")))
    with pytest.raises(der.DerError, match="not a time"):
        der.decode_time(der.decode(der.encode(der.INTEGER, b"\x01")))
