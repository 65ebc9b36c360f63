"""A client certificate forwarded by a load balancer: honoured only from trusted addresses."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ObjectIdentifier
from tornado.httputil import HTTPHeaders

from tests.identity.conftest import USER_DN, Credential, KeyPool, Pki, legacy_proxy
from tornadoservice.identity.forwarded import (
    CERT_HEADER,
    VERIFY_HEADER,
    Forwarded,
    ForwardedCertError,
    forwarded_identity,
    is_trusted_proxy,
    normalize_address,
    parse_trusted_proxies,
)
from tornadoservice.identity.x509 import IdentityError

PROXY = "10.0.0.5"
TRUSTED = frozenset({PROXY})


def escaped(*certs: x509.Certificate, safe: str = "") -> str:
    """What nginx's ``$ssl_client_escaped_cert`` holds: the PEM, URL-escaped."""
    return quote(b"".join(cert.public_bytes(Encoding.PEM) for cert in certs), safe=safe)


def headers(cert: str | None = None, verify: str | None = "SUCCESS") -> HTTPHeaders:
    found = HTTPHeaders()
    if cert is not None:
        found.add(CERT_HEADER, cert)
    if verify is not None:
        found.add(VERIFY_HEADER, verify)
    return found


def refusal(found: HTTPHeaders, **kwargs: dt.datetime) -> str:
    with pytest.raises(ForwardedCertError) as caught:
        forwarded_identity(found, PROXY, TRUSTED, **kwargs)
    return str(caught.value)


# ---------------------------------------------------------------- who may forward


@pytest.mark.parametrize("peer", ["10.0.0.6", "127.0.0.1", "::1", "not-an-ip"])
def test_headers_from_an_untrusted_address_are_ignored(pki: Pki, peer: str) -> None:
    found = headers(escaped(pki.user.cert))
    assert forwarded_identity(found, peer, TRUSTED) is None


def test_without_trusted_proxies_even_broken_headers_are_ignored() -> None:
    found = headers("garbage", "FAILED:whatever")
    assert forwarded_identity(found, PROXY, frozenset()) is None


def test_a_v4_mapped_peer_address_matches_its_v4_form(pki: Pki) -> None:
    forwarded = forwarded_identity(headers(escaped(pki.user.cert)), "::ffff:10.0.0.5", TRUSTED)
    assert forwarded is not None and forwarded.identity is not None
    assert forwarded.identity.dn == USER_DN


def test_parse_trusted_proxies_normalizes_addresses() -> None:
    assert parse_trusted_proxies(" 10.0.0.5, 0:0::1 ,,::ffff:192.0.2.1") == frozenset(
        {"10.0.0.5", "::1", "192.0.2.1"}
    )
    assert parse_trusted_proxies(None) == frozenset()
    assert parse_trusted_proxies("  ") == frozenset()


@pytest.mark.parametrize("bad", ["10.0.0.0/8", "lb.example.org", "10.0.0.5 10.0.0.6"])
def test_parse_trusted_proxies_refuses_what_is_not_an_ip(bad: str) -> None:
    with pytest.raises(ValueError, match="is not an IP address"):
        parse_trusted_proxies(f"10.0.0.1,{bad}")


def test_is_trusted_proxy() -> None:
    assert is_trusted_proxy("10.0.0.5", TRUSTED)
    assert not is_trusted_proxy("10.0.0.50", TRUSTED)
    assert not is_trusted_proxy("/run/tornado.sock", TRUSTED)
    assert not is_trusted_proxy("10.0.0.5", frozenset())
    assert normalize_address(" 0::1 ") == "::1"


# ---------------------------------------------------------------- what a trusted proxy says


@pytest.mark.parametrize("safe", ["", "/+="])
def test_a_verified_certificate_gives_its_identity(pki: Pki, safe: str) -> None:
    forwarded = forwarded_identity(headers(escaped(pki.user.cert, safe=safe)), PROXY, TRUSTED)
    assert forwarded is not None and forwarded.identity is not None
    identity = forwarded.identity
    assert identity.dn == identity.subject == USER_DN
    assert identity.issuer == "/O=DIRAC CI/CN=DIRAC CI Signing Certification Authority"
    assert not identity.is_proxy
    assert identity.group is None


def test_no_certificate_is_anonymous_never_the_proxy(pki: Pki) -> None:
    assert forwarded_identity(headers(None, "NONE"), PROXY, TRUSTED) == Forwarded(None)
    assert forwarded_identity(headers(None, None), PROXY, TRUSTED) == Forwarded(None)
    # nginx sends an empty header for an empty variable in some setups: still no certificate.
    assert forwarded_identity(headers("", "NONE"), PROXY, TRUSTED) == Forwarded(None)


def test_a_failed_verification_is_refused_with_the_reason(pki: Pki) -> None:
    message = refusal(headers(escaped(pki.user.cert), "FAILED:certificate has expired"))
    assert "did not verify" in message
    assert "FAILED:certificate has expired" in message


def test_a_hostile_verify_value_is_quoted_and_cut_in_the_message() -> None:
    # Tornado itself refuses CR/LF in header values; a tab still gets through.
    message = refusal(headers(None, "FAILED:\tfake log line" + "x" * 500))
    assert "\t" not in message
    assert "\\tfake log line" in message
    assert len(message) < 300


def test_a_certificate_without_the_verify_header_is_refused(pki: Pki) -> None:
    assert "without" in refusal(headers(escaped(pki.user.cert), None))


def test_a_certificate_with_verify_none_is_refused(pki: Pki) -> None:
    assert "NONE" in refusal(headers(escaped(pki.user.cert), "NONE"))


def test_success_without_a_certificate_is_refused() -> None:
    assert "missing" in refusal(headers(None, "SUCCESS"))


@pytest.mark.parametrize(
    "bad",
    [
        "garbage",
        quote("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"),
        "%ff%fe",  # not UTF-8 once unescaped
        quote("-----BEGIN CERTIFICATE-----\nMIIé\n-----END CERTIFICATE-----\n"),  # not ASCII
    ],
)
def test_a_malformed_certificate_is_refused(bad: str) -> None:
    assert "not a URL-escaped PEM certificate" in refusal(headers(bad))


def test_a_truncated_certificate_is_refused(pki: Pki) -> None:
    pem = pki.user.cert.public_bytes(Encoding.PEM).decode()
    lines = pem.splitlines()
    cut = "\n".join([*lines[:3], *lines[-1:]]) + "\n"
    assert "not a URL-escaped PEM certificate" in refusal(headers(quote(cut, safe="")))


def test_several_certificates_are_refused(pki: Pki) -> None:
    assert "2 certificates" in refusal(headers(escaped(pki.user.cert, pki.ca)))


@pytest.mark.parametrize("name", [CERT_HEADER, VERIFY_HEADER])
def test_a_repeated_header_is_refused(pki: Pki, name: str) -> None:
    found = headers(escaped(pki.user.cert))
    found.add(name, "SUCCESS" if name == VERIFY_HEADER else escaped(pki.user.cert))
    assert "repeated" in refusal(found)


def test_an_rfc3820_proxy_is_refused(user_proxy: Credential) -> None:
    assert "is a proxy" in refusal(headers(escaped(user_proxy.cert)))


def test_a_legacy_proxy_is_refused(pki: Pki, keys: KeyPool) -> None:
    cert, _ = legacy_proxy(pki, keys, "proxy")
    assert "is a proxy" in refusal(headers(escaped(cert)))


def test_a_malformed_proxy_extension_is_refused(pki: Pki) -> None:
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(pki.user.cert.subject)
        .issuer_name(pki.ca.subject)
        .public_key(pki.user.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.5.5.7.1.14"), b"\x05\x00"),
            critical=False,
        )
        .sign(pki.ca_key, hashes.SHA256())
    )
    message = refusal(headers(escaped(cert)))
    assert message.startswith(f"forwarded certificate {USER_DN}:")


@pytest.mark.parametrize("days", [-400, 400])
def test_a_certificate_outside_its_validity_is_refused(pki: Pki, days: int) -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    assert "is not valid now" in refusal(headers(escaped(pki.user.cert)), now=when)


def test_the_refusal_is_an_identity_error() -> None:
    # The server turns IdentityError from the identity layer into a 401, never a 500.
    assert issubclass(ForwardedCertError, IdentityError)
