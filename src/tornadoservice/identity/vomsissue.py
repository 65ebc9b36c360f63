"""Signing VOMS attribute certificates, as a VOMS server does, for a development PKI.

:func:`issue_voms_extension` builds the value of the proxy extension 1.3.6.1.4.1.8005.100.100.5
(a SEQUENCE of SEQUENCEs of ACs, OGF GFD.182) holding one RFC 5755 attribute certificate that
:func:`tornadoservice.identity.voms.verify_voms` accepts: the FQANs in an ``IetfAttrSyntax``
attribute whose policyAuthority is ``<vo>://<host>:<port>``, the holder named by
``baseCertificateID`` (the holder's issuer and serial, as RFC 5755 asks), the issuer by the VOMS
server's subject, signed with SHA-256, with ``noRevAvail``, the server's key identifier and its
certificate embedded (as VOMS servers do).

For tests and development: a real VO's ACs come from its VOMS server (``voms-proxy-init``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from . import der
from .pem import PrivateKey
from .voms import (
    AUTHORITY_KEY_IDENTIFIER_OID,
    NO_REV_AVAIL_OID,
    VOMS_AC_CERTS_OID,
    VOMS_FQAN_ATTRIBUTE_OID,
)

__all__ = ["VOMS_PORT", "VomsIssueError", "default_fqan", "issue_voms_extension", "valid_vo"]

VOMS_PORT = 15000
"""The port written in the policyAuthority (nothing listens on it: it only names the server)."""

_SHA256_RSA = "1.2.840.113549.1.1.11"
_SHA256_ECDSA = "1.2.840.10045.4.3.2"
_VO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class VomsIssueError(ValueError):
    """A request for an AC that a VOMS server would not sign (bad VO name, FQAN, validity)."""


def valid_vo(vo: str) -> str:
    """``vo`` if it is a usable VO name (it becomes a directory name and a URI scheme)."""
    if not _VO_NAME.fullmatch(vo):
        raise VomsIssueError(f"{vo!r} is not a VO name (letters, digits, '.', '_', '-')")
    return vo


def default_fqan(vo: str) -> str:
    """The FQAN of plain membership: ``/<vo>/Role=NULL/Capability=NULL``."""
    return f"/{valid_vo(vo)}/Role=NULL/Capability=NULL"


def _check_fqan(vo: str, fqan: str) -> str:
    if not (fqan == f"/{vo}" or fqan.startswith(f"/{vo}/")) or any(c.isspace() for c in fqan):
        raise VomsIssueError(f"the FQAN {fqan!r} is not in the VO {vo!r} (it must start /{vo}/)")
    return fqan


def _time(moment: dt.datetime) -> bytes:
    return der.encode(der.GENERALIZED_TIME, moment.strftime("%Y%m%d%H%M%SZ").encode())


def _general_names(name: x509.Name) -> bytes:
    # GeneralNames holding one directoryName [4] (explicit, as Name is a CHOICE).
    return der.encode(der.SEQUENCE, der.encode(0xA4, name.public_bytes()))


def _extension(oid: str, value: bytes) -> bytes:
    return der.encode(der.SEQUENCE, der.encode_oid(oid) + der.encode(der.OCTET_STRING, value))


def _integer(value: int) -> bytes:
    return der.encode(der.INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def _signature(key: PrivateKey, data: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def _algorithm(oid: str) -> bytes:
    # RSA algorithm identifiers carry NULL parameters; ECDSA ones carry none.
    parameters = b"" if oid == _SHA256_ECDSA else der.encode(der.NULL, b"")
    return der.encode(der.SEQUENCE, der.encode_oid(oid) + parameters)


def issue_voms_extension(
    server_cert: x509.Certificate,
    server_key: PrivateKey,
    holder: x509.Certificate,
    vo: str,
    fqans: Sequence[str] = (),
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    host: str | None = None,
    serial: int | None = None,
) -> bytes:
    """The VOMS proxy extension value for ``holder`` (the end-entity certificate: the user's).

    ``fqans`` default to :func:`default_fqan`; each must lie in ``vo``. ``host`` names the
    server in the policyAuthority (default: the server certificate's last CN); ``serial`` is
    the AC's serial number (default: random, as VOMS servers make them).
    """
    vo = valid_vo(vo)
    fqans = [_check_fqan(vo, fqan) for fqan in fqans] or [default_fqan(vo)]
    if not_after <= not_before:
        raise VomsIssueError("the AC would end before it starts")
    if server_key.public_key() != server_cert.public_key():
        raise VomsIssueError("the VOMS server key does not belong to its certificate")
    if host is None:
        names = server_cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        host = str(names[-1].value) if names else "localhost"
    holder_field = der.encode(
        der.SEQUENCE,
        der.encode(0xA0, _general_names(holder.issuer) + _integer(holder.serial_number)),
    )
    authority = der.encode(0xA0, der.encode(0x86, f"{vo}://{host}:{VOMS_PORT}".encode()))
    values = der.encode(
        der.SEQUENCE, b"".join(der.encode(der.OCTET_STRING, f.encode()) for f in fqans)
    )
    attribute = der.encode(
        der.SEQUENCE,
        der.encode_oid(VOMS_FQAN_ATTRIBUTE_OID)
        + der.encode(der.SET, der.encode(der.SEQUENCE, authority + values)),
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(server_cert.public_key()).digest
    with contextlib.suppress(x509.ExtensionNotFound):  # else RFC 5280 method 1, as VOMS does
        ski = server_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    embedded = der.encode(
        der.SEQUENCE, der.encode(der.SEQUENCE, server_cert.public_bytes(Encoding.DER))
    )
    extensions = der.encode(
        der.SEQUENCE,
        _extension(NO_REV_AVAIL_OID, der.encode(der.NULL, b""))
        + _extension(AUTHORITY_KEY_IDENTIFIER_OID, der.encode(der.SEQUENCE, der.encode(0x80, ski)))
        + _extension(VOMS_AC_CERTS_OID, embedded),
    )
    algorithm_oid = (
        _SHA256_ECDSA if isinstance(server_key, ec.EllipticCurvePrivateKey) else _SHA256_RSA
    )
    info = der.encode(
        der.SEQUENCE,
        der.encode(der.INTEGER, b"\x01")  # v2
        + holder_field
        + der.encode(0xA0, _general_names(server_cert.subject))  # v2Form issuerName
        + _algorithm(algorithm_oid)
        + _integer(x509.random_serial_number() if serial is None else serial)
        + der.encode(der.SEQUENCE, _time(not_before) + _time(not_after))
        + der.encode(der.SEQUENCE, attribute)
        + extensions,
    )
    bits = der.encode(der.BIT_STRING, b"\x00" + _signature(server_key, info))
    ac = der.encode(der.SEQUENCE, info + _algorithm(algorithm_oid) + bits)
    return der.encode(der.SEQUENCE, der.encode(der.SEQUENCE, ac))
