"""Forged and badly timed credentials refused by server_ssl_context in real TLS handshakes.

test_tls.py already covers expired user certificates and proxies, revoked users and proxies
of revoked users; these are the other refusals grid services must make.
"""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from tests.identity.conftest import USER_DN, Credential, KeyPool, Pki, write_credential
from tests.identity.handshake import HandshakeServer, connect, serving
from tests.identity.test_tls import accepted, client_for, refused
from tornadoservice.identity.dn import parse_dirac_dn
from tornadoservice.identity.pem import PrivateKey
from tornadoservice.identity.pki import make_user_cert
from tornadoservice.identity.proxy import (
    POLICY_INHERIT_ALL,
    PROXY_CERT_INFO_OID,
    ProxyInfo,
    encode_proxy_cert_info,
    make_proxy,
)
from tornadoservice.identity.tls import server_ssl_context


@pytest.fixture(scope="module")
def server_context(pki: Pki) -> ssl.SSLContext:
    return server_ssl_context(pki.root / "hostcert.pem", pki.root / "hostkey.pem", pki.ca_dir)


@pytest.fixture
def server(server_context: ssl.SSLContext) -> Iterator[HandshakeServer]:
    with serving(server_context) as running:
        yield running


def hand_made_proxy(
    pki: Pki,
    keys: KeyPool,
    name: str,
    *,
    subject_base: x509.Name,
    signing_key: PrivateKey,
) -> Credential:
    """An RFC 3820 proxy whose issuer field names the CI user, with ``subject_base`` + one CN
    as subject, signed by ``signing_key``: with the user's base and key it is a good proxy."""
    key = keys.next()
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name(
        [
            *subject_base.rdns,
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, "4242")]),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(pki.user.cert.subject)
        .public_key(key.public_key())
        .serial_number(4242)
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.UnrecognizedExtension(
                x509.ObjectIdentifier(PROXY_CERT_INFO_OID),
                encode_proxy_cert_info(ProxyInfo(POLICY_INHERIT_ALL)),
            ),
            critical=True,
        )
        .sign(signing_key, hashes.SHA256())
    )
    return write_credential(pki.root, name, [cert, pki.user.cert], key)


def test_control_a_hand_made_proxy_with_the_right_name_and_key_is_accepted(
    pki: Pki, server: HandshakeServer, keys: KeyPool
) -> None:
    good = hand_made_proxy(
        pki, keys, "hand-made", subject_base=pki.user.cert.subject, signing_key=pki.user.key
    )
    identity = accepted(server, connect(server, client_for(pki, good)))["identity"]
    assert isinstance(identity, dict)
    assert (identity["subject"], identity["dn"], identity["is_proxy"]) == (
        f"{USER_DN}/CN=4242",
        USER_DN,
        True,
    )


def test_proxy_signed_by_another_key_is_refused(
    pki: Pki, server: HandshakeServer, keys: KeyPool
) -> None:
    # Named as the user's proxy, but the user's key never signed it.
    forged = hand_made_proxy(
        pki, keys, "forged", subject_base=pki.user.cert.subject, signing_key=keys.next()
    )
    refused(server, connect(server, client_for(pki, forged)), "certificate signature failure")


def test_proxy_whose_subject_does_not_extend_its_issuer_is_refused(
    pki: Pki, server: HandshakeServer, keys: KeyPool
) -> None:
    # Signed by the user, but claiming to be somebody else's proxy.
    other = parse_dirac_dn("/C=ch/O=DIRAC/OU=DIRAC CI/CN=admin")
    renamed = hand_made_proxy(pki, keys, "renamed", subject_base=other, signing_key=pki.user.key)
    refused(server, connect(server, client_for(pki, renamed)), "proxy subject name violation")


def test_not_yet_valid_user_certificate_is_refused(
    pki: Pki, server: HandshakeServer, keys: KeyPool
) -> None:
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    cert, key = make_user_cert(
        pki.ca,
        pki.ca_key,
        "/C=ch/O=DIRAC/OU=DIRAC CI/CN=early",
        key=keys.next(),
        not_before=future,
        not_after=future + dt.timedelta(days=30),
    )
    early = write_credential(pki.root, "early", [cert], key)
    refused(server, connect(server, client_for(pki, early)), "certificate is not yet valid")


def test_not_yet_valid_proxy_is_refused(pki: Pki, server: HandshakeServer, keys: KeyPool) -> None:
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    cert, key = make_proxy(
        pki.user.cert,
        pki.user.key,
        key=keys.next(),
        not_before=future,
        not_after=future + dt.timedelta(hours=1),
    )
    early = write_credential(pki.root, "early-proxy", [cert, pki.user.cert], key)
    refused(server, connect(server, client_for(pki, early)), "certificate is not yet valid")
