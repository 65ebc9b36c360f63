"""VOMS attributes carried by a proxy: the VO and its FQANs (groups and roles).

A VOMS server signs an RFC 5755 attribute certificate (AC) that ``voms-proxy-init`` embeds in
the proxy as extension 1.3.6.1.4.1.8005.100.100.5, encoded (OGF GFD.182) as a SEQUENCE of
SEQUENCEs of ACs. Inside the AC, attribute 1.3.6.1.4.1.8005.100.100.4 is an ``IetfAttrSyntax``
whose policyAuthority URI is ``<vo>://<host>:<port>`` and whose values are the FQANs
(``/lhcb/Role=production/Capability=NULL``). Only the first AC is read (GFD.182 requires
accepting at least one).

Two levels, because DIRAC itself only does the first:

* :func:`voms_attributes` / :func:`decode_voms_extension` report the *claims* of the AC, like
  DIRAC's parser. Anybody can put any AC in a proxy they make: never authorize on claims alone.
* :func:`verify_voms` checks them against a :class:`VomsTrust` (the VOMS server certificates
  configured per VO, what ``/etc/grid-security/vomsdir`` holds):

  - the AC's signature, with a trusted certificate of that VO whose subject is the AC issuer
    (and whose subject key identifier matches the AC's authorityKeyIdentifier, if it has one);
    the trusted certificate must be valid at the time of the check;
  - the holder: the AC names its holder by ``baseCertificateID`` (issuer name + serial) and
    must name the end-entity certificate of the chain. The serial must be the end-entity
    certificate's; the name may be its issuer (RFC 5755) or its subject (what VOMS servers
    actually write; VOMS's own validator accepts both);
  - the AC's validity period; RSA with SHA-2 or ECDSA signatures only (no SHA-1);
  - extensions: an unknown critical one is refused, and so is an AC restricted to targets
    (``targetInformation``), since this package does not know which target it is.

  VOMS servers also embed their own certificate chain in the AC (extension
  1.3.6.1.4.1.8005.100.100.10, used with ``.lsc`` files). It is parsed
  (:attr:`AttributeCertificate.embedded_certificates`) but never trusted: only the configured
  certificates vouch for a VO. ``.lsc`` trust (a DN chain verified to a CA) is not supported.

Exceptions::

    ValueError
     └── VomsError                 the VOMS extension is malformed
          └── VomsVerificationError  well formed, but not to be believed (the reason says why)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from . import der
from .cadir import names_match
from .dn import DNError, dirac_dn, dirac_dn_from_der, parse_dirac_dn
from .pem import PemError, load_pem_chain

VOMS_AC_OID = "1.3.6.1.4.1.8005.100.100.5"
VOMS_FQAN_ATTRIBUTE_OID = "1.3.6.1.4.1.8005.100.100.4"
VOMS_AC_CERTS_OID = "1.3.6.1.4.1.8005.100.100.10"
VOMS_GENERIC_ATTRIBUTES_OID = "1.3.6.1.4.1.8005.100.100.11"
NO_REV_AVAIL_OID = "2.5.29.56"
AUTHORITY_KEY_IDENTIFIER_OID = "2.5.29.35"
TARGET_INFORMATION_OID = "2.5.29.55"

# Extensions whose meaning this module knows: harmless even if marked critical.
_UNDERSTOOD_EXTENSIONS = frozenset(
    {
        NO_REV_AVAIL_OID,
        AUTHORITY_KEY_IDENTIFIER_OID,
        VOMS_AC_CERTS_OID,
        VOMS_GENERIC_ATTRIBUTES_OID,
    }
)
# Signature algorithms accepted on an AC. SHA-1 is left out on purpose: a forged AC is a forged
# VO membership.
_RSA_PKCS1: dict[str, hashes.HashAlgorithm] = {
    "1.2.840.113549.1.1.11": hashes.SHA256(),
    "1.2.840.113549.1.1.12": hashes.SHA384(),
    "1.2.840.113549.1.1.13": hashes.SHA512(),
    "1.2.840.113549.1.1.14": hashes.SHA224(),
}
_ECDSA: dict[str, hashes.HashAlgorithm] = {
    "1.2.840.10045.4.3.2": hashes.SHA256(),
    "1.2.840.10045.4.3.3": hashes.SHA384(),
    "1.2.840.10045.4.3.4": hashes.SHA512(),
}

_DIRECTORY_NAME = der.context_tag(4, constructed=True)
_URI = der.context_tag(6, constructed=False)
_POLICY_AUTHORITY = der.context_tag(0, constructed=True)
_V2_FORM = der.context_tag(0, constructed=True)
_BASE_CERTIFICATE_ID = der.context_tag(0, constructed=True)
_KEY_IDENTIFIER = der.context_tag(0, constructed=False)


class VomsError(ValueError):
    """The VOMS extension is present but malformed."""


class VomsVerificationError(VomsError):
    """The attribute certificate is well formed but must not be believed."""


@dataclass(frozen=True, slots=True)
class VomsAttributes:
    """What the first VOMS attribute certificate of a proxy says (unverified, see module doc)."""

    vo: str
    fqans: tuple[str, ...]
    issuer: str
    """DN of the VOMS server that signed the AC."""
    server_uri: str
    """The policy authority, ``<vo>://<host>:<port>``."""
    not_before: dt.datetime
    not_after: dt.datetime

    def valid_at(self, when: dt.datetime) -> bool:
        return self.not_before <= when <= self.not_after


def _directory_name(general_names: der.Tlv) -> str:
    for name in general_names.expect(der.SEQUENCE).children():
        if name.tag == _DIRECTORY_NAME:
            return dirac_dn_from_der(name.children()[0].encoded)
    raise der.DerError("no directoryName in GeneralNames")


def _fqan_attribute(attributes: der.Tlv) -> tuple[str, tuple[str, ...]]:
    for attribute in attributes.expect(der.SEQUENCE).children():
        oid, values = attribute.expect(der.SEQUENCE).children()
        if der.decode_oid(oid.value) != VOMS_FQAN_ATTRIBUTE_OID:
            continue
        # One IetfAttrSyntax: [0] policyAuthority GeneralNames, then SEQUENCE OF values.
        syntax = values.expect(der.SET).children()[0].expect(der.SEQUENCE).children()
        if syntax[0].tag != _POLICY_AUTHORITY:
            raise der.DerError("the FQAN attribute has no policy authority")
        uris = [name for name in syntax[0].children() if name.tag == _URI]
        if not uris:
            raise der.DerError("the policy authority is not a URI")
        fqans = tuple(
            value.expect(der.OCTET_STRING).value.decode("utf-8")
            for value in syntax[1].expect(der.SEQUENCE).children()
        )
        return uris[0].value.decode("ascii"), fqans
    raise der.DerError("no FQAN attribute in the attribute certificate")


def decode_voms_extension(data: bytes) -> VomsAttributes:
    """Read the first AC of a VOMS extension value; raises :class:`VomsError` if malformed."""
    try:
        containers = der.decode(data, der.SEQUENCE).children()
        certificate = containers[0].expect(der.SEQUENCE).children()[0]
        info = certificate.expect(der.SEQUENCE).children()[0].expect(der.SEQUENCE).children()
        # version, holder, issuer [0] V2Form, signature, serial, validity, attributes, ...
        if len(info) < 7:
            raise der.DerError("truncated AttributeCertificateInfo")
        issuer_form = info[2].expect(_V2_FORM).children()
        issuer = _directory_name(issuer_form[0])
        validity = info[5].expect(der.SEQUENCE).children()
        not_before, not_after = (der.decode_time(moment) for moment in validity)
        uri, fqans = _fqan_attribute(info[6])
    except (ValueError, IndexError) as exc:  # DerError, bad UTF-8, wrong element counts
        raise VomsError(f"malformed VOMS attribute certificate: {exc}") from exc
    vo = uri.partition(":")[0]
    if not vo:
        raise VomsError(f"VOMS policy authority {uri!r} names no VO")
    return VomsAttributes(vo, fqans, issuer, uri, not_before, not_after)


def voms_attributes(cert: x509.Certificate) -> VomsAttributes | None:
    """The VOMS attributes embedded in ``cert``, or ``None`` if it has no VOMS extension."""
    try:
        extension = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(VOMS_AC_OID))
    except x509.ExtensionNotFound:
        return None
    return decode_voms_extension(extension.value.public_bytes())


# --- verification ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttributeCertificate:
    """The parts of a VOMS AC that verification needs, as found in the DER."""

    attributes: VomsAttributes
    signed_info: bytes
    """The DER ``AttributeCertificateInfo``: the bytes the signature covers."""
    signature_algorithm: str
    """OID of the outer signatureAlgorithm."""
    inner_signature_algorithm: str
    """OID of the signature field inside the signed info (RFC 5755: must equal the outer)."""
    signature: bytes
    issuer_name_der: bytes
    holder: der.Tlv
    """The ``Holder`` element, decoded by :func:`check_holder`."""
    extensions: tuple[tuple[str, bool, bytes], ...] = field(default=())
    """``(oid, critical, value)`` of each AC extension."""
    embedded_certificates: tuple[x509.Certificate, ...] = field(default=())
    """The VOMS server chain the AC carries (never trusted by itself, see the module doc)."""

    def extension(self, oid: str) -> bytes | None:
        return next((value for found, _, value in self.extensions if found == oid), None)


def _decode_extensions(element: der.Tlv) -> tuple[tuple[str, bool, bytes], ...]:
    extensions = []
    for extension in element.expect(der.SEQUENCE).children():
        parts = extension.expect(der.SEQUENCE).children()
        oid = der.decode_oid(parts[0].expect(der.OBJECT_IDENTIFIER).value)
        critical = len(parts) == 3 and parts[1].expect(der.BOOLEAN).value != b"\x00"
        extensions.append((oid, critical, parts[-1].expect(der.OCTET_STRING).value))
    return tuple(extensions)


def _embedded_certificates(data: bytes | None) -> tuple[x509.Certificate, ...]:
    if data is None:
        return ()
    # ACCerts ::= SEQUENCE { certList SEQUENCE OF Certificate }
    (cert_list,) = der.decode(data, der.SEQUENCE).children()
    return tuple(
        x509.load_der_x509_certificate(cert.encoded)
        for cert in cert_list.expect(der.SEQUENCE).children()
    )


def _algorithm(element: der.Tlv) -> str:
    return der.decode_oid(
        element.expect(der.SEQUENCE).children()[0].expect(der.OBJECT_IDENTIFIER).value
    )


def parse_attribute_certificate(data: bytes) -> AttributeCertificate:
    """Read the first AC of a VOMS extension value for :func:`verify_voms`; raises
    :class:`VomsError` if malformed."""
    attributes = decode_voms_extension(data)
    try:
        containers = der.decode(data, der.SEQUENCE).children()
        certificate = containers[0].expect(der.SEQUENCE).children()[0]
        info_element, algorithm, signature = certificate.expect(der.SEQUENCE).children()
        info = info_element.children()
        signature_bits = signature.expect(der.BIT_STRING).value
        if not signature_bits or signature_bits[0] != 0:
            raise der.DerError("the signature is not a whole number of bytes")
        # After the attributes: an optional issuerUniqueID (BIT STRING), then the extensions.
        trailing = [element for element in info[7:] if element.tag == der.SEQUENCE]
        extensions = _decode_extensions(trailing[0]) if trailing else ()
        issuer_form = info[2].expect(_V2_FORM).children()[0].expect(der.SEQUENCE).children()
        issuer = next(name for name in issuer_form if name.tag == _DIRECTORY_NAME)
        embedded = _embedded_certificates(
            next((value for oid, _, value in extensions if oid == VOMS_AC_CERTS_OID), None)
        )
        return AttributeCertificate(
            attributes=attributes,
            signed_info=info_element.encoded,
            signature_algorithm=_algorithm(algorithm),
            inner_signature_algorithm=_algorithm(info[3]),
            signature=signature_bits[1:],
            issuer_name_der=issuer.children()[0].encoded,
            holder=info[1].expect(der.SEQUENCE),
            extensions=extensions,
            embedded_certificates=embedded,
        )
    except (ValueError, IndexError, StopIteration) as exc:  # DerError, bad certificates, counts
        raise VomsError(f"malformed VOMS attribute certificate: {exc}") from exc


@dataclass(frozen=True, slots=True)
class VomsTrust:
    """The VOMS server certificates trusted to vouch for each VO (``vomsdir``).

    A server trusted for one VO cannot vouch for another. Several certificates per VO are fine
    (several servers, or a server's old and new certificate during a rollover).
    """

    servers: Mapping[str, tuple[x509.Certificate, ...]]

    @classmethod
    def of(cls, servers: Mapping[str, Iterable[x509.Certificate]]) -> VomsTrust:
        return cls({vo: tuple(certs) for vo, certs in servers.items()})

    @classmethod
    def from_vomsdir(cls, directory: str | Path) -> VomsTrust:
        """Read ``<directory>/<vo>/*.pem`` (PEM certificates of that VO's servers).

        Raises :class:`OSError` if the directory cannot be read and :class:`VomsError` for a
        ``.pem`` file that holds no certificate. ``.lsc`` files are ignored (not supported).
        """
        servers: dict[str, list[x509.Certificate]] = {}
        for vo_dir in sorted(Path(directory).iterdir()):
            if not vo_dir.is_dir():
                continue
            for pem_file in sorted(vo_dir.glob("*.pem")):
                try:
                    certificates, _ = load_pem_chain(pem_file)
                except PemError as exc:
                    raise VomsError(f"{pem_file}: {exc}") from exc
                servers.setdefault(vo_dir.name, []).append(certificates[0])
        return cls.of(servers)


def _key_identifier(cert: x509.Certificate) -> bytes:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        # RFC 5280 method 1, what VOMS compares against when the certificate has no SKI.
        return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


def _authority_key_identifier(ac: AttributeCertificate) -> bytes | None:
    data = ac.extension(AUTHORITY_KEY_IDENTIFIER_OID)
    if data is None:
        return None
    for part in der.decode(data, der.SEQUENCE).children():
        if part.tag == _KEY_IDENTIFIER:
            return part.value
    return None


def _name_of(name_der: bytes) -> x509.Name | None:
    # Through DIRAC's DN form: names_match canonicalises the string types this loses anyway.
    try:
        return parse_dirac_dn(dirac_dn_from_der(name_der))
    except (der.DerError, DNError):
        return None


def _directory_name_of(general_name: der.Tlv) -> x509.Name | None:
    """The name in a ``GeneralName`` if it is a well-formed directoryName."""
    if general_name.tag != _DIRECTORY_NAME:
        return None
    try:
        (name,) = general_name.children()
    except (der.DerError, ValueError):  # ValueError: not exactly one element
        return None
    return _name_of(name.encoded)


def signature_is_valid(ac: AttributeCertificate, signer: x509.Certificate) -> bool:
    """Whether ``signer``'s key made ``ac``'s signature (SHA-2 RSA PKCS#1 v1.5 or ECDSA)."""
    key = signer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey) and ac.signature_algorithm in _RSA_PKCS1:
            digest = _RSA_PKCS1[ac.signature_algorithm]
            key.verify(ac.signature, ac.signed_info, padding.PKCS1v15(), digest)
            return True
        if isinstance(key, ec.EllipticCurvePublicKey) and ac.signature_algorithm in _ECDSA:
            key.verify(ac.signature, ac.signed_info, ec.ECDSA(_ECDSA[ac.signature_algorithm]))
            return True
    except (InvalidSignature, UnsupportedAlgorithm):
        return False
    return False


def check_holder(ac: AttributeCertificate, end_entity: x509.Certificate) -> None:
    """Raise :class:`VomsVerificationError` unless ``ac`` was issued to ``end_entity``."""
    try:
        forms = ac.holder.children()
        base = next((form for form in forms if form.tag == _BASE_CERTIFICATE_ID), None)
        if base is None:
            raise VomsVerificationError(
                "the AC does not name its holder by certificate (baseCertificateID)"
            )
        issuer_serial = base.children()
        general_names = issuer_serial[0].expect(der.SEQUENCE).children()
        serial = der.decode_integer(issuer_serial[1].expect(der.INTEGER).value)
    except (der.DerError, IndexError) as exc:
        raise VomsVerificationError(f"malformed AC holder: {exc}") from exc
    if serial != end_entity.serial_number:
        raise VomsVerificationError(
            f"the AC was issued to certificate serial {serial}, not to "
            f"{dirac_dn(end_entity.subject)} (serial {end_entity.serial_number})"
        )
    name = _directory_name_of(general_names[0]) if len(general_names) == 1 else None
    if name is None:
        raise VomsVerificationError("the AC holder is not one directory name")
    # RFC 5755 puts the holder certificate's issuer here; VOMS servers put its subject.
    if not (names_match(name, end_entity.issuer) or names_match(name, end_entity.subject)):
        raise VomsVerificationError(
            f"the AC holder {dirac_dn(name)} is not {dirac_dn(end_entity.subject)}"
        )


def _check_extensions(ac: AttributeCertificate) -> None:
    if ac.extension(TARGET_INFORMATION_OID) is not None:
        raise VomsVerificationError("the AC is restricted to targets, which is not supported")
    for oid, critical, _ in ac.extensions:
        if critical and oid not in _UNDERSTOOD_EXTENSIONS:
            raise VomsVerificationError(f"the AC has the unknown critical extension {oid}")


def _find_signer(ac: AttributeCertificate, trust: VomsTrust, now: dt.datetime) -> None:
    vo = ac.attributes.vo
    issuer = _name_of(ac.issuer_name_der)
    candidates = [
        cert
        for cert in trust.servers.get(vo, ())
        if issuer is not None and names_match(cert.subject, issuer)
    ]
    if not candidates:
        raise VomsVerificationError(
            f"no trusted VOMS server {ac.attributes.issuer} for the VO {vo!r}"
        )
    key_id = _authority_key_identifier(ac)
    if key_id is not None:
        candidates = [cert for cert in candidates if _key_identifier(cert) == key_id]
        if not candidates:
            raise VomsVerificationError(
                f"the AC was signed by a key of {ac.attributes.issuer} that is not trusted"
            )
    current = [c for c in candidates if c.not_valid_before_utc <= now <= c.not_valid_after_utc]
    if not current:
        raise VomsVerificationError(
            f"the trusted certificate of {ac.attributes.issuer} is not valid at {now}"
        )
    if not any(signature_is_valid(ac, cert) for cert in current):
        raise VomsVerificationError(
            f"the AC signature does not verify with the certificate of {ac.attributes.issuer}"
            if ac.signature_algorithm in _RSA_PKCS1 | _ECDSA
            else f"the AC signature algorithm {ac.signature_algorithm} is not accepted"
        )


def verify_voms(
    data: bytes | AttributeCertificate,
    trust: VomsTrust,
    *,
    holder: x509.Certificate,
    now: dt.datetime | None = None,
) -> VomsAttributes:
    """The attributes of a VOMS extension value (or a parsed AC), once verified.

    ``holder`` is the end-entity certificate of the chain carrying the AC; ``now`` defaults to
    the real time. Raises :class:`VomsVerificationError` with the reason if any check of the
    module doc fails, :class:`VomsError` if the AC is malformed.
    """
    ac = data if isinstance(data, AttributeCertificate) else parse_attribute_certificate(data)
    now = now or dt.datetime.now(dt.UTC)
    attributes = ac.attributes
    if not attributes.valid_at(now):
        raise VomsVerificationError(
            f"the AC is valid from {attributes.not_before} to {attributes.not_after}, not at {now}"
        )
    if ac.inner_signature_algorithm != ac.signature_algorithm:
        raise VomsVerificationError("the AC names two different signature algorithms")
    _check_extensions(ac)
    _find_signer(ac, trust, now)
    check_holder(ac, holder)
    return attributes
