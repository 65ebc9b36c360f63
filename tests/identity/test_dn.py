"""DIRAC slash DNs, checked against OpenSSL's own X509_NAME_oneline."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from tests.identity.openssl_oracle import openssl_oneline
from tests.support.testdata import DIRAC_TESTDATA
from tornadoservice.identity.dn import (
    OPENSSL_SHORT_NAMES,
    DNError,
    dirac_dn,
    dirac_dn_from_der,
    parse_dirac_dn,
)


def attribute(
    oid: x509.ObjectIdentifier, value: str, kind: _ASN1Type | None = None
) -> x509.NameAttribute[str]:
    if kind is None:
        return x509.NameAttribute(oid, value)
    return x509.NameAttribute(oid, value, _type=kind)


def single(*attributes: x509.NameAttribute[str]) -> x509.Name:
    return x509.Name([x509.RelativeDistinguishedName([item]) for item in attributes])


TRICKY_NAMES = {
    "dirac": single(
        attribute(NameOID.COUNTRY_NAME, "ch"),
        attribute(NameOID.ORGANIZATION_NAME, "DIRAC"),
        attribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "DIRAC CI"),
        attribute(NameOID.COMMON_NAME, "ciuser"),
    ),
    "multi-valued and separators": x509.Name(
        [
            x509.RelativeDistinguishedName([attribute(NameOID.DOMAIN_COMPONENT, "org")]),
            x509.RelativeDistinguishedName(
                [
                    attribute(NameOID.USER_ID, "u123"),
                    attribute(NameOID.COMMON_NAME, "host/a+b=c, d"),
                ]
            ),
        ]
    ),
    "non-ascii and control characters": single(
        attribute(NameOID.COMMON_NAME, "Zoë Ünïcode\tx\\y"),
        attribute(NameOID.EMAIL_ADDRESS, "zoe@example.org"),
    ),
    "string types": single(
        attribute(NameOID.ORGANIZATION_NAME, "Printable", _ASN1Type.PrintableString),
        attribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Bmp ë", _ASN1Type.BMPString),
        attribute(NameOID.LOCALITY_NAME, "Teletex", _ASN1Type.T61String),
        attribute(NameOID.COMMON_NAME, "Universal", _ASN1Type.UniversalString),
    ),
    "unknown attribute": single(
        attribute(x509.ObjectIdentifier("1.2.3.4.5"), "x"),
        attribute(NameOID.COMMON_NAME, "y"),
    ),
    "bit string value": single(
        x509.NameAttribute(NameOID.X500_UNIQUE_IDENTIFIER, b"\x00\x01", _type=_ASN1Type.BitString),
        attribute(NameOID.COMMON_NAME, "y"),
    ),
    "every named attribute": single(
        *(
            attribute(x509.ObjectIdentifier(oid), "ch" if short in ("C", "jurisdictionC") else "v")
            for oid, short in OPENSSL_SHORT_NAMES.items()
        )
    ),
    "empty": x509.Name([]),
}


@pytest.mark.parametrize("name", TRICKY_NAMES.values(), ids=TRICKY_NAMES.keys())
def test_dirac_dn_matches_openssl_oneline(name: x509.Name) -> None:
    assert dirac_dn(name) == openssl_oneline(name.public_bytes())


def test_documented_forms() -> None:
    assert dirac_dn(TRICKY_NAMES["dirac"]) == "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser"
    assert (
        dirac_dn(TRICKY_NAMES["multi-valued and separators"])
        == "/DC=org/UID=u123+CN=host\\/a\\+b=c, d"
    )
    assert (
        dirac_dn(TRICKY_NAMES["non-ascii and control characters"])
        == "/CN=Zo\\xC3\\xAB \\xC3\\x9Cn\\xC3\\xAFcode\\x09x\\y/emailAddress=zoe@example.org"
    )
    assert dirac_dn(x509.Name([])) == ""


@pytest.mark.parametrize(
    ("path", "subject"),
    [
        ("ca/ca.cert.pem", "/O=DIRAC Computing/CN=DIRAC Computing Signing Certification Authority"),
        ("host/hostcert.pem", "/O=Dirac Computing/O=CERN/CN=VOBox"),
        ("user/usercert.pem", "/O=Dirac Computing/O=CERN/CN=MrUser"),
    ],
)
def test_dirac_testdata(path: str, subject: str) -> None:
    cert = x509.load_pem_x509_certificate((DIRAC_TESTDATA / path).read_bytes())
    assert dirac_dn(cert.subject) == subject


@pytest.mark.parametrize(
    "dn",
    [
        "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser",
        "/DC=org/UID=u123+CN=host\\/a\\+b=c, d",
        "/CN=Zo\\xC3\\xAB/emailAddress=zoe@example.org",
        "/O=Dirac Computing/O=CERN/CN=MrUser/CN=2436405021",
        "/1.2.3.4.5=x/CN=y",
    ],
)
def test_parse_round_trips(dn: str) -> None:
    assert dirac_dn(parse_dirac_dn(dn)) == dn


def test_parse_reads_values() -> None:
    name = parse_dirac_dn("/DC=org/UID=u123+CN=host\\/a\\+b=c, d")
    assert len(name.rdns) == 2
    assert {item.value for item in name.rdns[1]} == {"u123", "host/a+b=c, d"}
    assert (
        parse_dirac_dn("/CN=Zo\\xC3\\xAB")
        .rdns[0]
        .get_attributes_for_oid(NameOID.COMMON_NAME)[0]
        .value
        == "Zoë"
    )


def test_parse_keeps_unescaped_separators_of_old_dns() -> None:
    # OpenSSL 1.x printed "/" inside values as is: it only separates before a known "name=".
    name = parse_dirac_dn("/DC=ch/DC=cern/CN=host/lxbox.cern.ch/CN=a+b")
    assert [item.value for item in name] == ["ch", "cern", "host/lxbox.cern.ch", "a+b"]


def test_parse_accepts_old_email_spellings() -> None:
    for label in ("Email", "E", "emailAddress"):
        name = parse_dirac_dn(f"/CN=x/{label}=x@example.org")
        assert dirac_dn(name) == "/CN=x/emailAddress=x@example.org"


def test_parse_keeps_a_lone_backslash() -> None:
    assert next(iter(parse_dirac_dn("/CN=a\\b\\x4"))).value == "a\\b\\x4"


@pytest.mark.parametrize(
    ("dn", "message"),
    [
        ("CN=x", "starts with '/'"),
        ("/Nonsense=x", "known attribute name"),
        ("/=x", "known attribute name"),
        ("/CN=\\xFF", "not UTF-8"),
        ("/C=switzerland", "length"),
        ("/CN=a+CN=a", "duplicate"),
    ],
)
def test_parse_errors(dn: str, message: str) -> None:
    with pytest.raises(DNError, match=message):
        parse_dirac_dn(dn)


def test_dn_from_der_rejects_garbage(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        dirac_dn_from_der(b"\x30\x03\x31\x01")
    with pytest.raises(ValueError, match="empty RDN"):
        dirac_dn_from_der(b"\x30\x02\x31\x00")
    with pytest.raises(ValueError, match="SEQUENCE of type and value"):
        dirac_dn_from_der(b"\x30\x07\x31\x05\x30\x03\x06\x01\x01")
