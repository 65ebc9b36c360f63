"""VOMS attributes carried by a proxy: the VO and its FQANs (groups and roles).

A VOMS server signs an RFC 5755 attribute certificate (AC) that ``voms-proxy-init`` embeds in
the proxy as extension 1.3.6.1.4.1.8005.100.100.5, encoded (OGF GFD.182) as a SEQUENCE of
SEQUENCEs of ACs. Inside the AC, attribute 1.3.6.1.4.1.8005.100.100.4 is an ``IetfAttrSyntax``
whose policyAuthority URI is ``<vo>://<host>:<port>`` and whose values are the FQANs
(``/lhcb/Role=production/Capability=NULL``).

This module reads those facts and the AC's validity. It does **not** verify the AC's signature
against the VOMS server certificates (``vomsdir``), nor its holder binding: like DIRAC's own
parser, it reports claims. Authorization must not trust VO or FQANs for anything sensitive until
that verification exists. Only the first AC is read (GFD.182 requires accepting at least one).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509

from . import der
from .dn import dirac_dn_from_der

VOMS_AC_OID = "1.3.6.1.4.1.8005.100.100.5"
VOMS_FQAN_ATTRIBUTE_OID = "1.3.6.1.4.1.8005.100.100.4"

_DIRECTORY_NAME = der.context_tag(4, constructed=True)
_URI = der.context_tag(6, constructed=False)
_POLICY_AUTHORITY = der.context_tag(0, constructed=True)
_V2_FORM = der.context_tag(0, constructed=True)


class VomsError(ValueError):
    """The VOMS extension is present but malformed."""


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
