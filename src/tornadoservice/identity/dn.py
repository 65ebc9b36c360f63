"""Distinguished names in DIRAC's slash form: ``/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser``.

DIRAC 9 prints a DN with OpenSSL's ``X509_NAME_oneline()`` (through M2Crypto), and its Registry
stores DNs in that form, so authorization compares strings made exactly this way. The rules, as
implemented by OpenSSL 3 (``crypto/x509/x509_obj.c``, changed in openssl#12769, 3.0.0):

* attributes appear in certificate (encoding) order, each as ``<short name>=<value>``, where the
  short name is OpenSSL's (``CN``, ``emailAddress``, ``DC``, ``UID`` ...) or the dotted OID for an
  attribute OpenSSL has no name for;
* each RDN starts with ``/``; further attributes of a multi-valued RDN start with ``+``;
* the *raw bytes* of the value are printed: bytes outside printable ASCII (0x20-0x7E) become
  ``\\xHH`` (upper-case hex), so ``Zoë`` in a UTF8String is ``Zo\\xC3\\xAB``;
* ``/`` and ``+`` inside a value are escaped with a backslash; nothing else is (not ``=``, ``,``
  or ``\\``), so the form is not fully reversible for values containing a backslash.

OpenSSL 1.x printed multi-valued RDNs with ``/`` and did not escape ``/`` or ``+``. DIRAC's newer
pure-``cryptography`` code also skips those two rules. Single-valued names without ``/`` or ``+``
in values, i.e. nearly every grid DN, print the same under all of them. :func:`parse_dirac_dn`
reads all of these forms.

OpenSSL also special-cases GeneralString values that look like UCS-4; such values never occur in
certificate names and are printed here byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from cryptography import x509

from . import der

# OpenSSL's short names (OBJ_nid2sn) for the attributes found in certificate names.
OPENSSL_SHORT_NAMES: Mapping[str, str] = {
    "2.5.4.3": "CN",
    "2.5.4.4": "SN",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "street",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.12": "title",
    "2.5.4.13": "description",
    "2.5.4.15": "businessCategory",
    "2.5.4.16": "postalAddress",
    "2.5.4.17": "postalCode",
    "2.5.4.18": "postOfficeBox",
    "2.5.4.20": "telephoneNumber",
    "2.5.4.41": "name",
    "2.5.4.42": "GN",
    "2.5.4.43": "initials",
    "2.5.4.44": "generationQualifier",
    "2.5.4.45": "x500UniqueIdentifier",
    "2.5.4.46": "dnQualifier",
    "2.5.4.65": "pseudonym",
    "2.5.4.72": "role",
    "2.5.4.97": "organizationIdentifier",
    "0.9.2342.19200300.100.1.1": "UID",
    "0.9.2342.19200300.100.1.3": "mail",
    "0.9.2342.19200300.100.1.25": "DC",
    "1.2.840.113549.1.9.1": "emailAddress",
    "1.2.840.113549.1.9.2": "unstructuredName",
    "1.3.6.1.4.1.311.60.2.1.1": "jurisdictionL",
    "1.3.6.1.4.1.311.60.2.1.2": "jurisdictionST",
    "1.3.6.1.4.1.311.60.2.1.3": "jurisdictionC",
}

# Names accepted when parsing: OpenSSL's, plus spellings older tools printed for e-mail.
_OIDS_BY_NAME: Mapping[str, str] = {
    **{short: oid for oid, short in OPENSSL_SHORT_NAMES.items()},
    "Email": "1.2.840.113549.1.9.1",
    "E": "1.2.840.113549.1.9.1",
}

_PRINTABLE = range(0x20, 0x7F)
_ESCAPED = frozenset(b"/+")
# A separator only starts a new attribute when it is followed by a known ``name=``; any other
# "/" or "+" is part of the value (DNs written before OpenSSL 3 did not escape them).
_ATTRIBUTE_START = re.compile(r"([A-Za-z][A-Za-z0-9-]*|[0-2](?:\.[0-9]+)+)=")


class DNError(ValueError):
    """A string that is not a DN in DIRAC's slash form."""


def iter_rdns(name_der: bytes) -> list[list[tuple[str, der.Tlv]]]:
    """The RDNs of a DER ``Name``, in order: for each, its (OID, raw value element) pairs."""
    rdns: list[list[tuple[str, der.Tlv]]] = []
    for rdn in der.decode(name_der, der.SEQUENCE).children():
        entries = []
        for attribute in rdn.expect(der.SET).children():
            parts = attribute.expect(der.SEQUENCE).children()
            if len(parts) != 2:
                raise der.DerError("an attribute is a SEQUENCE of type and value")
            oid = der.decode_oid(parts[0].expect(der.OBJECT_IDENTIFIER).value)
            entries.append((oid, parts[1]))
        if not entries:
            raise der.DerError("empty RDN")
        rdns.append(entries)
    return rdns


def _oneline_value(raw: bytes) -> str:
    out: list[str] = []
    for byte in raw:
        if byte not in _PRINTABLE:
            out.append(f"\\x{byte:02X}")
        elif byte in _ESCAPED:
            out.append("\\" + chr(byte))
        else:
            out.append(chr(byte))
    return "".join(out)


def dirac_dn_from_der(name_der: bytes) -> str:
    """:func:`dirac_dn` of a DER-encoded ``Name`` (e.g. one inside a VOMS attribute certificate)."""
    parts: list[str] = []
    for rdn in iter_rdns(name_der):
        for index, (oid, value) in enumerate(rdn):
            short = OPENSSL_SHORT_NAMES.get(oid, oid)
            # OpenSSL keeps a BIT STRING's unused-bits octet out of its data; other non-string
            # values (practically never seen in names) print their content octets.
            raw = value.value[1:] if value.tag == der.BIT_STRING else value.value
            parts.append(f"{'+' if index else '/'}{short}={_oneline_value(raw)}")
    return "".join(parts)


def dirac_dn(name: x509.Name) -> str:
    """The DN of ``name`` exactly as DIRAC 9 (OpenSSL 3 ``X509_NAME_oneline``) prints it."""
    return dirac_dn_from_der(name.public_bytes())


def _attribute_at(dn: str, position: int) -> tuple[str, int] | None:
    """The OID of a ``name=`` starting at ``position`` and where its value starts, if known."""
    match = _ATTRIBUTE_START.match(dn, position)
    if match is None:
        return None
    label = match.group(1)
    oid = _OIDS_BY_NAME.get(label, label if label[0].isdigit() else None)
    return None if oid is None else (oid, match.end())


def _decode_value(raw: bytearray, dn: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DNError(f"DN {dn!r} has a value that is not UTF-8") from exc


def parse_dirac_dn(dn: str) -> x509.Name:
    """Parse a DN in DIRAC's slash form into a name (values become UTF8Strings, ``C`` a
    PrintableString), the inverse of :func:`dirac_dn` for every value without a backslash.

    ``\\/``, ``\\+`` and ``\\xHH`` escapes are decoded; an unescaped ``/`` or ``+`` that is not
    followed by a known attribute name is kept in the value, so DNs written for OpenSSL 1.x parse
    too. ``Email=`` and ``E=`` are read as ``emailAddress``.
    """
    if not dn.startswith("/"):
        raise DNError(f"a DN starts with '/': {dn!r}")
    first = _attribute_at(dn, 1)
    if first is None:
        raise DNError(f"DN {dn!r} does not start with a known attribute name")
    rdns: list[list[x509.NameAttribute[str]]] = []
    oid, position = first
    new_rdn = True
    value = bytearray()

    def finish() -> None:
        text = _decode_value(value, dn)
        try:
            attribute = x509.NameAttribute(x509.ObjectIdentifier(oid), text)
        except ValueError as exc:
            raise DNError(f"DN {dn!r}: {exc}") from exc
        if new_rdn:
            rdns.append([attribute])
        else:
            rdns[-1].append(attribute)

    while position < len(dn):
        char = dn[position]
        if char == "\\" and dn[position + 1 : position + 2] in ("/", "+"):
            value += dn[position + 1].encode()
            position += 2
        elif char == "\\" and re.fullmatch(r"x[0-9A-Fa-f]{2}", dn[position + 1 : position + 4]):
            value.append(int(dn[position + 2 : position + 4], 16))
            position += 4
        elif char in "/+" and (following := _attribute_at(dn, position + 1)) is not None:
            finish()
            new_rdn = char == "/"
            oid, position = following
            value = bytearray()
        else:
            value += char.encode()
            position += 1
    finish()
    try:
        return x509.Name([x509.RelativeDistinguishedName(rdn) for rdn in rdns])
    except ValueError as exc:
        raise DNError(f"DN {dn!r}: {exc}") from exc
