"""CA directories in OpenSSL's hashed form (``/etc/grid-security/certificates``).

OpenSSL looks up the issuer of a certificate in a ``capath`` directory by the hash of the
issuer's name: CA certificates live in ``<hash>.<n>`` and CRLs in ``<hash>.r<n>``, where
``<hash>`` is ``X509_NAME_hash`` of the CA subject (equal to the CRL issuer) and ``n`` counts
up from 0 for different names that share a hash. This module computes that hash without the
``openssl`` command (:func:`subject_hash`), writes such a directory (:func:`write_hashed_ca_dir`,
what ``openssl rehash`` does) and reports what a directory holds (:func:`inspect_ca_dir`), which
the TLS layer uses to decide and explain its CRL policy.

The hash: SHA-1 of the name's *canonical encoding*, first four bytes read little-endian, in
lower-case hex (OpenSSL >= 1.0, ``crypto/x509/x_name.c``). The canonical encoding keeps each RDN
as a DER ``SET`` (entries sorted), drops the outer ``SEQUENCE`` header, and rewrites every
text value (UTF8, Printable, Teletex, IA5, Visible, BMP and Universal strings) as a UTF8String
with ASCII whitespace trimmed and collapsed to one space and ASCII letters lower-cased; other
value types are kept as they are.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import der
from .dn import dirac_dn, iter_rdns
from .pem import write_public_file

# How ASN1_STRING_to_UTF8 reads each canonicalised string type (one-byte types are Latin-1).
_TEXT_CODECS = {
    der.UTF8_STRING: "utf-8",
    der.PRINTABLE_STRING: "latin-1",
    der.T61_STRING: "latin-1",
    der.IA5_STRING: "latin-1",
    der.VISIBLE_STRING: "latin-1",
    der.BMP_STRING: "utf-16-be",
    der.UNIVERSAL_STRING: "utf-32-be",
}

HASHED_CA_FILE = re.compile(r"^([0-9a-f]{8})\.([0-9]+)$")
HASHED_CRL_FILE = re.compile(r"^([0-9a-f]{8})\.r([0-9]+)$")


def _canonical_value(value: der.Tlv) -> bytes:
    codec = _TEXT_CODECS.get(value.tag)
    if codec is None:
        return value.encoded
    try:
        text = value.value.decode(codec).encode("utf-8")
    except UnicodeDecodeError as exc:
        raise der.DerError(f"invalid string of type 0x{value.tag:02x} in a name") from exc
    # bytes.split() splits on exactly OpenSSL's ASCII whitespace set and leaves bytes >= 0x80
    # alone, so this trims, collapses runs to one space, and lower-cases ASCII only.
    return der.encode(der.UTF8_STRING, b" ".join(text.split()).lower())


def canonical_name_encoding(name: x509.Name) -> bytes:
    """The bytes OpenSSL hashes for ``X509_NAME_hash`` (see the module docstring)."""
    out = bytearray()
    for rdn in iter_rdns(name.public_bytes()):
        entries = sorted(
            der.encode(der.SEQUENCE, der.encode_oid(oid) + _canonical_value(value))
            for oid, value in rdn
        )
        out += der.encode(der.SET, b"".join(entries))
    return bytes(out)


def names_match(first: x509.Name, second: x509.Name) -> bool:
    """Whether OpenSSL takes two names to be the same (``X509_NAME_cmp`` compares canonical
    encodings: case, whitespace runs and string types do not matter)."""
    return canonical_name_encoding(first) == canonical_name_encoding(second)


def subject_hash(name: x509.Name) -> str:
    """``X509_NAME_hash`` of ``name``: 8 lower-case hex digits, as ``openssl x509 -hash`` prints."""
    digest = hashlib.sha1(canonical_name_encoding(name), usedforsecurity=False).digest()
    return f"{int.from_bytes(digest[:4], 'little'):08x}"


def _is_hashed_entry(filename: str) -> bool:
    return bool(HASHED_CA_FILE.match(filename) or HASHED_CRL_FILE.match(filename))


def write_hashed_ca_dir(
    directory: str | os.PathLike[str],
    cas: Iterable[x509.Certificate],
    crls: Iterable[x509.CertificateRevocationList] = (),
) -> list[Path]:
    """Write ``cas`` as ``<hash>.<n>`` and ``crls`` as ``<hash>.r<n>`` PEM files in ``directory``.

    Like ``openssl rehash``, the directory afterwards holds exactly these hashed entries: hashed
    files from before are removed (other files are left alone), names sharing a hash get
    ``.1``, ``.2`` ..., and a certificate or CRL given twice is written once. Each file is
    replaced atomically. Returns the paths written.
    """
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    for stale in target.iterdir():
        if _is_hashed_entry(stale.name):
            stale.unlink()

    written: list[Path] = []
    counters: dict[str, int] = {}
    seen: set[bytes] = set()

    def put(hash_prefix: str, pem: bytes) -> None:
        if pem in seen:
            return
        seen.add(pem)
        index = counters.get(hash_prefix, 0)
        counters[hash_prefix] = index + 1
        path = target / f"{hash_prefix}{index}"
        write_public_file(path, pem)
        written.append(path)

    for ca in cas:
        put(f"{subject_hash(ca.subject)}.", ca.public_bytes(serialization.Encoding.PEM))
    for crl in crls:
        put(f"{subject_hash(crl.issuer)}.r", crl.public_bytes(serialization.Encoding.PEM))
    return written


@dataclass(frozen=True, slots=True)
class CaDirReport:
    """What a hashed CA directory holds, as far as revocation checking is concerned."""

    ca_count: int
    crl_count: int
    cas_without_crl: Sequence[str] = field(default=())
    """DNs of CAs with no ``<hash>.r<n>`` file."""
    expired_crls: Sequence[str] = field(default=())
    """Issuer DNs of CRLs whose nextUpdate has passed."""
    unreadable: Sequence[str] = field(default=())
    """Hashed files that are not PEM certificates or CRLs (OpenSSL skips them too)."""


def inspect_ca_dir(
    directory: str | os.PathLike[str], *, now: dt.datetime | None = None
) -> CaDirReport:
    """Scan the hashed entries of ``directory`` (raises ``OSError`` if it cannot be listed)."""
    now = now or dt.datetime.now(dt.UTC)
    base = Path(directory)
    ca_hashes: dict[str, list[str]] = {}
    crl_hashes: set[str] = set()
    expired: list[str] = []
    unreadable: list[str] = []
    ca_count = crl_count = 0
    for entry in sorted(os.listdir(base)):
        ca_match = HASHED_CA_FILE.match(entry)
        crl_match = HASHED_CRL_FILE.match(entry)
        if not (ca_match or crl_match):
            continue
        try:
            data = (base / entry).read_bytes()
            if ca_match:
                cert = x509.load_pem_x509_certificate(data)
                ca_hashes.setdefault(ca_match.group(1), []).append(dirac_dn(cert.subject))
                ca_count += 1
            else:
                crl = x509.load_pem_x509_crl(data)
                crl_hashes.add(entry[:8])
                crl_count += 1
                next_update = crl.next_update_utc
                if next_update is not None and next_update < now:
                    expired.append(dirac_dn(crl.issuer))
        except (OSError, ValueError):
            unreadable.append(entry)
    missing = [dn for prefix, dns in ca_hashes.items() if prefix not in crl_hashes for dn in dns]
    return CaDirReport(ca_count, crl_count, tuple(missing), tuple(expired), tuple(unreadable))
