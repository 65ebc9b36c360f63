"""VOMS attribute certificates: the DIRAC test vector and hand-built malformed ones."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509

from tests.support.testdata import DIRAC_TESTDATA
from tornadoservice.identity import der
from tornadoservice.identity.dn import parse_dirac_dn
from tornadoservice.identity.pem import load_pem_chain
from tornadoservice.identity.voms import (
    VOMS_FQAN_ATTRIBUTE_OID,
    VomsAttributes,
    VomsError,
    decode_voms_extension,
    voms_attributes,
)

SEQ, SET = der.SEQUENCE, der.SET


def test_dirac_voms_proxy() -> None:
    certs, _ = load_pem_chain(DIRAC_TESTDATA / "voms" / "proxy.pem")
    assert voms_attributes(certs[0]) == VomsAttributes(
        vo="fakevo",
        fqans=("/fakevo/Role=user/Capability=NULL",),
        issuer="/O=Dirac Computing/O=CERN/CN=VOBox",
        server_uri="fakevo://fakeserver.cern.ch:15000",
        not_before=dt.datetime(2023, 4, 28, 13, 54, 37, tzinfo=dt.UTC),
        not_after=dt.datetime(2029, 1, 9, 21, 54, 37, tzinfo=dt.UTC),
    )
    assert voms_attributes(certs[1]) is None


def general_time(moment: str) -> bytes:
    return der.encode(der.GENERALIZED_TIME, moment.encode())


def fqan_attribute(
    uri: bytes | None, fqans: list[str], *, oid: str = VOMS_FQAN_ATTRIBUTE_OID
) -> bytes:
    authority = b"" if uri is None else der.encode(0xA0, der.encode(0x86, uri))
    values = der.encode(SEQ, b"".join(der.encode(der.OCTET_STRING, f.encode()) for f in fqans))
    syntax = der.encode(SEQ, authority + values)
    return der.encode(SEQ, der.encode_oid(oid) + der.encode(SET, syntax))


def extension(
    attribute: bytes,
    *,
    issuer: bytes | None = None,
    fields: int = 7,
) -> bytes:
    if issuer is None:
        issuer = der.encode(0xA4, parse_dirac_dn("/O=VOMS/CN=voms.example.org").public_bytes())
    info_fields = [
        der.encode(der.INTEGER, b"\x01"),
        der.encode(SEQ, b""),
        der.encode(0xA0, der.encode(SEQ, issuer)),
        der.encode(SEQ, der.encode_oid("1.2.840.113549.1.1.11")),
        der.encode(der.INTEGER, b"\x05"),
        der.encode(SEQ, general_time("20240101000000Z") + general_time("20990101000000Z")),
        der.encode(SEQ, attribute),
    ][:fields]
    certificate = der.encode(
        SEQ,
        der.encode(SEQ, b"".join(info_fields))
        + der.encode(SEQ, der.encode_oid("1.2.840.113549.1.1.11"))
        + der.encode(der.BIT_STRING, b"\x00"),
    )
    return der.encode(SEQ, der.encode(SEQ, certificate))


def test_hand_built_attribute_certificate() -> None:
    other = fqan_attribute(b"x://y", ["ignored"], oid="1.2.3.4")
    data = extension(
        other + fqan_attribute(b"lhcb://voms.example.org:15003", ["/lhcb", "/lhcb/Role=pilot"])
    )
    attributes = decode_voms_extension(data)
    assert attributes.vo == "lhcb"
    assert attributes.fqans == ("/lhcb", "/lhcb/Role=pilot")
    assert attributes.issuer == "/O=VOMS/CN=voms.example.org"
    assert attributes.valid_at(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    assert not attributes.valid_at(dt.datetime(2023, 1, 1, tzinfo=dt.UTC))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x30\x00", "malformed VOMS"),
        (extension(fqan_attribute(b"x://y", ["a"]), fields=5), "truncated"),
        (extension(fqan_attribute(b"x://y", ["a"], oid="1.2.3")), "no FQAN attribute"),
        (extension(fqan_attribute(None, ["a"])), "no policy authority"),
        (extension(fqan_attribute(b"://y", ["a"])), "names no VO"),
        (
            extension(fqan_attribute(b"x://y", ["a"]), issuer=der.encode(0x86, b"uri:only")),
            "no directoryName",
        ),
    ],
)
def test_malformed(data: bytes, message: str) -> None:
    with pytest.raises(VomsError, match=message):
        decode_voms_extension(data)


def test_policy_authority_without_uri() -> None:
    name = der.encode(0xA4, x509.Name([]).public_bytes())
    syntax = der.encode(SEQ, der.encode(0xA0, name) + der.encode(SEQ, b""))
    attribute = der.encode(SEQ, der.encode_oid(VOMS_FQAN_ATTRIBUTE_OID) + der.encode(SET, syntax))
    with pytest.raises(VomsError, match="not a URI"):
        decode_voms_extension(extension(attribute))
