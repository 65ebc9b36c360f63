"""RFC 3820 proxy certificates, made and read the way DIRAC does (``dirac-proxy-init``).

A proxy is a certificate signed by the key of a user certificate (or of another proxy) that lets
its holder act for that user. What DIRAC 9 puts in one, and :func:`make_proxy` reproduces:

* subject: the issuer's subject plus one ``CN`` holding the proxy's serial number in decimal;
  the serial is 64 random bits (never 0), unique per issuer as RFC 3820 asks;
* validity: from 15 minutes ago (clock skew) for ``lifetime``; here it is also clamped to the
  issuer chain's notAfter, since a proxy is useless once any certificate above it expired;
* keyUsage (critical): digitalSignature, keyEncipherment, dataEncipherment;
* proxyCertInfo (1.3.6.1.5.5.7.1.14, critical): no path length constraint, policy language
  id-ppl-inheritAll (1.3.6.1.5.5.7.21.1), or the Globus limited policy
  (1.3.6.1.4.1.3536.1.1.1.9); id-ppl-independent (1.3.6.1.5.5.7.21.2) is supported as well;
* the DIRAC group (1.2.42.42, not critical): a DER IA5String with the group name;
* no key identifiers (DIRAC's proxies have none, and OpenSSL does not need them).

A proxy file holds the proxy certificate, its private key, then the issuer chain (user
certificate, ...): :func:`write_proxy_file`, read back by :func:`load_pem_chain`.

Legacy (pre-RFC, "Globus GT2") proxies have no proxyCertInfo; their last CN is ``proxy`` or
``limited proxy``. :func:`proxy_info` recognises them, although OpenSSL 3 refuses them in a
TLS handshake.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from . import der
from .cadir import names_match
from .pem import PrivateKey, certificates_pem, load_pem_chain, private_key_pem, write_secret_file
from .pki import generate_key
from .voms import VOMS_AC_OID

__all__ = [
    "DIRAC_GROUP_OID",
    "POLICY_INDEPENDENT",
    "POLICY_INHERIT_ALL",
    "POLICY_LIMITED",
    "PROXY_CERT_INFO_OID",
    "ProxyError",
    "ProxyInfo",
    "decode_dirac_group",
    "decode_proxy_cert_info",
    "dirac_group",
    "encode_dirac_group",
    "encode_proxy_cert_info",
    "load_pem_chain",
    "make_proxy",
    "proxy_info",
    "write_proxy_file",
]

PROXY_CERT_INFO_OID = "1.3.6.1.5.5.7.1.14"
POLICY_INHERIT_ALL = "1.3.6.1.5.5.7.21.1"
POLICY_INDEPENDENT = "1.3.6.1.5.5.7.21.2"
POLICY_LIMITED = "1.3.6.1.4.1.3536.1.1.1.9"
DIRAC_GROUP_OID = "1.2.42.42"

LEGACY_PROXY_CN = "proxy"
LEGACY_LIMITED_PROXY_CN = "limited proxy"
# DIRAC back-dates proxies by this much so that a clock slightly behind ours accepts them.
PROXY_BACKDATE = dt.timedelta(seconds=900)


class ProxyError(ValueError):
    """A proxy cannot be made from these inputs, or an extension is malformed."""


@dataclass(frozen=True, slots=True)
class ProxyInfo:
    """What makes a certificate a proxy: its policy language and where it came from."""

    policy_language: str
    """OID of the proxy policy language (for a legacy proxy: the equivalent RFC policy)."""
    path_length: int | None = None
    """Maximum number of proxies below this one, if constrained."""
    policy: bytes | None = None
    """Policy data of a custom policy language."""
    legacy: bool = False
    """A pre-RFC Globus proxy (``CN=proxy``/``CN=limited proxy``, no proxyCertInfo)."""

    @property
    def limited(self) -> bool:
        return self.policy_language == POLICY_LIMITED

    @property
    def independent(self) -> bool:
        return self.policy_language == POLICY_INDEPENDENT


def encode_proxy_cert_info(info: ProxyInfo) -> bytes:
    """DER of ``ProxyCertInfo ::= SEQUENCE { pCPathLenConstraint INTEGER OPTIONAL,
    proxyPolicy SEQUENCE { policyLanguage OBJECT IDENTIFIER, policy OCTET STRING OPTIONAL } }``."""
    policy = der.encode_oid(info.policy_language)
    if info.policy is not None:
        policy += der.encode(der.OCTET_STRING, info.policy)
    body = der.encode(der.SEQUENCE, policy)
    if info.path_length is not None:
        if info.path_length < 0:
            raise ProxyError("a path length constraint cannot be negative")
        length = info.path_length.to_bytes(info.path_length.bit_length() // 8 + 1, "big")
        body = der.encode(der.INTEGER, length) + body
    return der.encode(der.SEQUENCE, body)


def decode_proxy_cert_info(data: bytes) -> ProxyInfo:
    """The inverse of :func:`encode_proxy_cert_info`; raises :class:`ProxyError` if malformed."""
    try:
        parts = der.decode(data, der.SEQUENCE).children()
        path_length = None
        if parts and parts[0].tag == der.INTEGER:
            path_length = der.decode_integer(parts.pop(0).value)
        if len(parts) != 1:
            raise der.DerError("ProxyCertInfo holds one ProxyPolicy")
        policy_parts = parts[0].expect(der.SEQUENCE).children()
        if not 1 <= len(policy_parts) <= 2:
            raise der.DerError("ProxyPolicy is a language and an optional policy")
        language = der.decode_oid(policy_parts[0].expect(der.OBJECT_IDENTIFIER).value)
        policy = policy_parts[1].expect(der.OCTET_STRING).value if len(policy_parts) == 2 else None
    except der.DerError as exc:
        raise ProxyError(f"malformed proxyCertInfo extension: {exc}") from exc
    if path_length is not None and path_length < 0:
        raise ProxyError("malformed proxyCertInfo extension: negative path length")
    return ProxyInfo(language, path_length, policy)


def _extension_bytes(cert: x509.Certificate, oid: str) -> bytes | None:
    try:
        extension = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid))
    except x509.ExtensionNotFound:
        return None
    # The DER value, whether cryptography knows the extension type or not.
    return extension.value.public_bytes()


def proxy_info(cert: x509.Certificate) -> ProxyInfo | None:
    """The proxy facts of ``cert``, or ``None`` if it is not a proxy (RFC 3820 or legacy).

    Raises :class:`ProxyError` for a malformed proxyCertInfo extension.
    """
    data = _extension_bytes(cert, PROXY_CERT_INFO_OID)
    if data is not None:
        return decode_proxy_cert_info(data)
    rdns = cert.subject.rdns
    last = list(rdns[-1]) if rdns else []
    if len(last) != 1 or last[0].oid != NameOID.COMMON_NAME:
        return None
    legacy_policies = {LEGACY_PROXY_CN: POLICY_INHERIT_ALL, LEGACY_LIMITED_PROXY_CN: POLICY_LIMITED}
    policy = legacy_policies.get(str(last[0].value))
    if policy is None or not names_match(x509.Name(rdns[:-1]), cert.issuer):
        return None
    return ProxyInfo(policy, legacy=True)


def encode_dirac_group(group: str) -> bytes:
    """The DIRAC group extension value: a DER IA5String."""
    if not group or not group.isascii() or not group.isprintable():
        raise ProxyError(f"a DIRAC group is non-empty printable ASCII, not {group!r}")
    return der.encode(der.IA5_STRING, group.encode("ascii"))


def decode_dirac_group(data: bytes) -> str:
    """The group name in a DIRAC group extension value."""
    try:
        return der.decode(data, der.IA5_STRING).value.decode("ascii")
    except (der.DerError, UnicodeDecodeError) as exc:
        raise ProxyError(f"malformed DIRAC group extension: {exc}") from exc


def dirac_group(cert: x509.Certificate) -> str | None:
    """The DIRAC group carried by ``cert``, if any."""
    data = _extension_bytes(cert, DIRAC_GROUP_OID)
    return None if data is None else decode_dirac_group(data)


def _random_serial() -> int:
    serial = 0
    while not serial:
        serial = secrets.randbits(64)
    return serial


def make_proxy(
    issuer_cert: x509.Certificate,
    issuer_key: PrivateKey,
    issuer_chain: Sequence[x509.Certificate] = (),
    *,
    group: str | None = None,
    lifetime: dt.timedelta = dt.timedelta(hours=24),
    limited: bool = False,
    independent: bool = False,
    key_bits: int = 2048,
    key: PrivateKey | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    voms: Callable[[dt.datetime, dt.datetime], bytes] | None = None,
) -> tuple[x509.Certificate, PrivateKey]:
    """Make an RFC 3820 proxy of ``issuer_cert`` (a user certificate or a proxy).

    ``issuer_chain`` is the rest of the issuer's chain (for a proxy of a proxy: the user
    certificate ...); it only bounds the lifetime. A proxy of a limited proxy is limited too
    (the Globus rule, which DIRAC also applies). ``key`` certifies an existing key instead of
    generating an RSA key of ``key_bits``; ``not_before``/``not_after`` replace the computed
    validity exactly (for tests of expired proxies). ``voms``, given the proxy's validity,
    returns a VOMS extension value to embed (:mod:`tornadoservice.identity.vomsissue`).
    """
    if issuer_key.public_key() != issuer_cert.public_key():
        raise ProxyError("the issuer key does not belong to the issuer certificate")
    issuer_info = proxy_info(issuer_cert)
    limited = limited or (issuer_info is not None and issuer_info.limited)
    if limited and independent:
        raise ProxyError(
            "a proxy is either limited or independent, not both "
            "(a proxy of a limited proxy is always limited)"
        )

    now = dt.datetime.now(dt.UTC)
    start = not_before or max(now - PROXY_BACKDATE, issuer_cert.not_valid_before_utc)
    end = not_after or min(
        now + lifetime, *(cert.not_valid_after_utc for cert in (issuer_cert, *issuer_chain))
    )
    if end <= max(start, now) and not_after is None:
        raise ProxyError("the issuer certificate chain has expired")

    key = key or generate_key(bits=key_bits)
    serial = _random_serial()
    subject = x509.Name(
        [
            *issuer_cert.subject.rdns,
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, str(serial))]),
        ]
    )
    language = (
        POLICY_LIMITED if limited else POLICY_INDEPENDENT if independent else POLICY_INHERIT_ALL
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(end)
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
                encode_proxy_cert_info(ProxyInfo(language)),
            ),
            critical=True,
        )
    )
    if group is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(
                x509.ObjectIdentifier(DIRAC_GROUP_OID), encode_dirac_group(group)
            ),
            critical=False,
        )
    if voms is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(VOMS_AC_OID), voms(start, end)),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256()), key


def write_proxy_file(
    path: str | os.PathLike[str],
    proxy_cert: x509.Certificate,
    proxy_key: PrivateKey,
    chain: Sequence[x509.Certificate],
) -> Path:
    """Write a proxy file in DIRAC's order: proxy certificate, proxy key, then ``chain`` (the
    issuer first: user certificate, ...), with mode 0600."""
    data = certificates_pem([proxy_cert]) + private_key_pem(proxy_key) + certificates_pem(chain)
    return write_secret_file(path, data)
