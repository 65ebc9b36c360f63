"""A development PKI kept in one directory, as ``tornadoservice pki`` and the demo make it.

Layout::

    <dir>/certificates/            hashed CA directory (CA certificate and its CRL): CALocation
    <dir>/ca/ca.cert.pem           the CA certificate
    <dir>/ca/ca.key.pem            its private key (0600)
    <dir>/hosts/<name>/hostcert.pem, hostkey.pem
    <dir>/users/<name>/usercert.pem, userkey.pem

For development and tests only: a production grid site uses its CAs' real certificates.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from tornadoservice.identity.cadir import write_hashed_ca_dir
from tornadoservice.identity.dn import DNError, dirac_dn, parse_dirac_dn
from tornadoservice.identity.pem import (
    PemError,
    PrivateKey,
    load_pem_chain,
    load_private_key,
    write_certificates,
    write_private_key,
)
from tornadoservice.identity.pki import make_ca, make_crl, make_host_cert, make_user_cert

DEFAULT_BASE_DN = "/C=ch/O=tornadoservice/OU=dev"


class DevPKIError(ValueError):
    """The PKI directory is missing, incomplete, or a request for it is invalid."""


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    cert: Path
    key: Path
    subject: str


def _safe_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise DevPKIError(f"{name!r} is not a usable file name (letters, digits, '.', '_', '-')")
    return name


class DevPKI:
    """A CA with its key, CRL and hashed directory, able to issue host and user certificates."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.ca_dir = self.directory / "certificates"
        self.ca_cert_path = self.directory / "ca" / "ca.cert.pem"
        self.ca_key_path = self.directory / "ca" / "ca.key.pem"

    def exists(self) -> bool:
        return self.ca_cert_path.is_file() and self.ca_key_path.is_file()

    def create(
        self, common_name: str = "tornadoservice development CA", *, days: int = 3650
    ) -> None:
        """Make the CA, an empty CRL and the hashed CA directory; refuses to overwrite a CA."""
        if self.exists():
            raise DevPKIError(f"{self.directory} already holds a CA")
        cert, key = make_ca(common_name, base_dn="/O=tornadoservice", days=days)
        write_private_key(self.ca_key_path, key)
        write_certificates(self.ca_cert_path, cert)
        self._write_ca_dir(cert, key)

    def _load_ca(self) -> tuple[x509.Certificate, PrivateKey]:
        if not self.exists():
            raise DevPKIError(f"{self.directory} holds no CA: run 'tornadoservice pki init' first")
        try:
            certs, _ = load_pem_chain(self.ca_cert_path)
            key = load_private_key(self.ca_key_path)
        except PemError as exc:
            raise DevPKIError(str(exc)) from exc
        return certs[0], key

    def _write_ca_dir(self, cert: x509.Certificate, key: PrivateKey) -> None:
        crl = make_crl(cert, key, days=3650)
        write_hashed_ca_dir(self.ca_dir, [cert], [crl])

    def issue_host(
        self,
        hostname: str,
        *,
        dns_names: list[str] | None = None,
        ip_addresses: Sequence[str] = (),
        days: int = 365,
    ) -> IssuedCredential:
        ca, ca_key = self._load_ca()
        try:
            ips = [ipaddress.ip_address(ip) for ip in ip_addresses]
        except ValueError as exc:
            raise DevPKIError(str(exc)) from exc
        cert, key = make_host_cert(
            ca,
            ca_key,
            hostname,
            base_dn=DEFAULT_BASE_DN,
            dns_names=dns_names or [hostname],
            ip_addresses=ips,
            days=days,
        )
        return self._store("hosts", _safe_name(hostname), "host", cert, key)

    def issue_user(
        self, subject: str, *, name: str | None = None, days: int = 365
    ) -> IssuedCredential:
        """Issue a user certificate for ``subject``, a DN in DIRAC's slash form."""
        ca, ca_key = self._load_ca()
        try:
            parsed = parse_dirac_dn(subject)
        except DNError as exc:
            raise DevPKIError(f"bad DN {subject!r}: {exc}") from exc
        if name is None:
            common_names = parsed.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
            if not common_names:
                raise DevPKIError(f"DN {subject!r} has no CN to name the files after")
            name = str(common_names[-1].value).replace(" ", "_")
        cert, key = make_user_cert(ca, ca_key, parsed, days=days)
        return self._store("users", _safe_name(name), "user", cert, key)

    def _store(
        self, kind: str, name: str, prefix: str, cert: x509.Certificate, key: PrivateKey
    ) -> IssuedCredential:
        folder = self.directory / kind / name
        key_path = write_private_key(folder / f"{prefix}key.pem", key)
        cert_path = write_certificates(folder / f"{prefix}cert.pem", cert)
        return IssuedCredential(cert_path, key_path, dirac_dn(cert.subject))


def expires_within(cert_path: Path, margin: dt.timedelta) -> bool:
    """True when ``cert_path`` is missing, unreadable, or expires within ``margin``."""
    try:
        certs, _ = load_pem_chain(cert_path)
    except (OSError, PemError):
        return True
    if not certs:
        return True
    soonest = min(c.not_valid_after_utc for c in certs)
    return soonest - dt.datetime.now(dt.UTC) < margin
