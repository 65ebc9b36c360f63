"""A development PKI: a CA, host and user certificates and CRLs, shaped like DIRAC's test PKI.

What it makes matches what grid services expect: a host certificate has subjectAltName entries
(clients check the host name) and serverAuth + clientAuth usage (services call each other with
it); a user certificate has clientAuth and the digitalSignature key usage OpenSSL requires from
the issuer of a proxy. Subjects are DIRAC slash DNs (``/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser``) or
``x509.Name`` objects; the defaults are DIRAC CI's.

Keys are RSA 2048 by default; every function takes ``key=`` to certify an existing key (tests
reuse keys, which is much faster than generating them). ``not_before``/``not_after`` override
the validity, e.g. for expired or not-yet-valid certificates in tests. Use :mod:`.pem` to write
the results (private keys get mode 0600).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .dn import parse_dirac_dn
from .pem import PrivateKey

DEFAULT_BASE_DN = "/C=ch/O=DIRAC/OU=DIRAC CI"
DEFAULT_CA_BASE_DN = "/O=DIRAC CI"
# Certificates start a little in the past so that clocks slightly behind ours accept them.
CLOCK_SKEW = dt.timedelta(minutes=5)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def generate_key(kind: str = "rsa", *, bits: int = 2048) -> PrivateKey:
    """A new private key: ``"rsa"`` (``bits`` long) or ``"ec"`` (P-256)."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unknown key kind {kind!r}: use 'rsa' or 'ec'")


def as_name(subject: str | x509.Name) -> x509.Name:
    """A name from a DIRAC slash DN or an ``x509.Name``."""
    return subject if isinstance(subject, x509.Name) else parse_dirac_dn(subject)


def _with_common_name(base: str | x509.Name, common_name: str) -> x509.Name:
    cn = x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return x509.Name([*as_name(base).rdns, cn])


def _validity(
    days: int, not_before: dt.datetime | None, not_after: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    start = not_before or now - CLOCK_SKEW
    end = not_after or now + dt.timedelta(days=days)
    if end <= start:
        raise ValueError("a certificate must end after it starts")
    return start, end


def _sign(
    subject: x509.Name,
    subject_key: PrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: PrivateKey,
    validity: tuple[dt.datetime, dt.datetime],
    extensions: Iterable[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    issuer_name = subject if issuer is None else issuer.subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    return builder.sign(issuer_key, hashes.SHA256())


def _key_usage(
    *, digital_signature: bool = False, key_encipherment: bool = False, cert_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def make_ca(
    common_name: str,
    *,
    base_dn: str | x509.Name = DEFAULT_CA_BASE_DN,
    days: int = 3650,
    parent: tuple[x509.Certificate, PrivateKey] | None = None,
    key: PrivateKey | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> tuple[x509.Certificate, PrivateKey]:
    """A CA certificate ``<base_dn>/CN=<common_name>``: self-signed, or issued by ``parent``
    (an intermediate CA)."""
    key = key or generate_key()
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=True, path_length=None), True),
        (_key_usage(digital_signature=True, cert_sign=True), True),
    ]
    issuer, issuer_key = parent if parent else (None, key)
    cert = _sign(
        _with_common_name(base_dn, common_name),
        key,
        issuer,
        issuer_key,
        _validity(days, not_before, not_after),
        extensions,
    )
    return cert, key


def make_crl(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    revoked_serials: Iterable[int] = (),
    *,
    days: int = 30,
    last_update: dt.datetime | None = None,
    next_update: dt.datetime | None = None,
    number: int = 1,
) -> x509.CertificateRevocationList:
    """A CRL from ``ca_cert`` revoking ``revoked_serials`` (``next_update`` in the past makes
    an expired CRL)."""
    now = dt.datetime.now(dt.UTC)
    start = last_update or now - CLOCK_SKEW
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(start)
        .next_update(next_update or now + dt.timedelta(days=days))
        .add_extension(x509.CRLNumber(number), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    for serial in revoked_serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(start).build()
        )
    return builder.sign(ca_key, hashes.SHA256())


def _alternative_names(
    hostname: str, dns_names: Sequence[str] | None, ip_addresses: Sequence[str | IPAddress]
) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    ips = [ipaddress.ip_address(address) for address in ip_addresses]
    if dns_names is None:
        # The host name goes in the SAN with its proper type: a bare IP is not a DNS name.
        try:
            ips.insert(0, ipaddress.ip_address(hostname))
            dns_names = []
        except ValueError:
            dns_names = [hostname]
    names.extend(x509.DNSName(name) for name in dns_names)
    names.extend(x509.IPAddress(address) for address in dict.fromkeys(ips))
    if not names:
        raise ValueError("a host certificate needs at least one DNS name or IP address")
    return names


def make_host_cert(
    ca: x509.Certificate,
    ca_key: PrivateKey,
    hostname: str,
    *,
    base_dn: str | x509.Name = DEFAULT_BASE_DN,
    dns_names: Sequence[str] | None = None,
    ip_addresses: Sequence[str | IPAddress] = (),
    days: int = 365,
    key: PrivateKey | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> tuple[x509.Certificate, PrivateKey]:
    """A host certificate ``<base_dn>/CN=<hostname>`` for TLS servers and service clients.

    subjectAltName: ``dns_names`` (default: the host name) and ``ip_addresses``. Clients check
    the name they connect to against it, so a certificate for ``localhost`` that is also used
    as ``https://127.0.0.1`` needs ``ip_addresses=["127.0.0.1"]``.
    """
    key = key or generate_key()
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (_key_usage(digital_signature=True, key_encipherment=True), True),
        (
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            False,
        ),
        (
            x509.SubjectAlternativeName(_alternative_names(hostname, dns_names, ip_addresses)),
            False,
        ),
    ]
    cert = _sign(
        _with_common_name(base_dn, hostname),
        key,
        ca,
        ca_key,
        _validity(days, not_before, not_after),
        extensions,
    )
    return cert, key


def make_user_cert(
    ca: x509.Certificate,
    ca_key: PrivateKey,
    subject: str | x509.Name,
    *,
    days: int = 365,
    key: PrivateKey | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> tuple[x509.Certificate, PrivateKey]:
    """A user certificate for ``subject`` (e.g. ``/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser``),
    usable for client authentication and to sign proxies."""
    key = key or generate_key()
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (_key_usage(digital_signature=True, key_encipherment=True), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
    ]
    cert = _sign(
        as_name(subject), key, ca, ca_key, _validity(days, not_before, not_after), extensions
    )
    return cert, key
