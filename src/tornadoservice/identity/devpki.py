"""A development PKI kept in one directory, as ``tornadoservice pki`` and the demo make it.

Layout::

    <dir>/certificates/            hashed CA directory (CA certificate and its CRL): CALocation
    <dir>/ca/ca.cert.pem           the CA certificate
    <dir>/ca/ca.key.pem            its private key (0600)
    <dir>/hosts/<name>/hostcert.pem, hostkey.pem
    <dir>/users/<name>/usercert.pem, userkey.pem
    <dir>/voms/<vo>/vomscert.pem, vomskey.pem   a VOMS server of the VO <vo> (signs ACs)
    <dir>/vomsdir/<vo>/<host>.pem, <host>.lsc   its VOMSDir entry: /DIRAC/Security/VOMSDir

Modes do not depend on the umask: whoever can write to ``certificates/`` can plant a CA or a
CRL, so every directory is given its mode explicitly (``mkdir``'s own is masked by the umask).
Directories holding a private key (``ca/``, ``hosts/<name>/``, ``users/<name>/``,
``voms/<vo>/``) are 0700,
the others 0755; keys are 0600, certificates 0644.

For development and tests only: a production grid site uses its CAs' real certificates.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
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
    write_public_file,
)
from tornadoservice.identity.pki import make_ca, make_crl, make_host_cert, make_user_cert
from tornadoservice.identity.vomsissue import VomsIssueError, valid_vo

DEFAULT_BASE_DN = "/C=ch/O=tornadoservice/OU=dev"
PUBLIC_DIR_MODE = 0o755
PRIVATE_DIR_MODE = 0o700


class DevPKIError(ValueError):
    """The PKI directory is missing, incomplete, or a request for it is invalid."""


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    cert: Path
    key: Path
    subject: str


def make_directory(path: Path, mode: int, *, created_only: bool = False) -> Path:
    """Make ``path`` (and its missing parents) a directory of exactly ``mode``, whatever the umask.

    ``mkdir`` masks its mode with the umask, so every directory made here is ``chmod``-ed after.
    A directory that already existed gets ``mode`` too, unless ``created_only`` (for a directory
    the caller named but does not own, such as the root of a PKI); existing parents are left as
    they are. Raises ``OSError`` (e.g. a file in the way, or a directory of another user).
    """
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        directory.mkdir(mode=mode)  # FileExistsError if raced: better than a wrong mode
        os.chmod(directory, mode)
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a directory")
    if not missing and not created_only:
        os.chmod(path, mode)
    return path


def _os_error(exc: OSError) -> DevPKIError:
    where = f"{exc.filename}: " if exc.filename else ""
    return DevPKIError(f"{where}{exc.strerror or exc}")


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
        try:
            make_directory(self.directory, PUBLIC_DIR_MODE, created_only=True)
            make_directory(self.ca_key_path.parent, PRIVATE_DIR_MODE)
            make_directory(self.ca_dir, PUBLIC_DIR_MODE)
            write_private_key(self.ca_key_path, key)
            write_certificates(self.ca_cert_path, cert)
            self._write_ca_dir(cert, key)
        except OSError as exc:
            raise _os_error(exc) from exc

    def _load_ca(self) -> tuple[x509.Certificate, PrivateKey]:
        if not self.exists():
            raise DevPKIError(f"{self.directory} holds no CA: run 'tornadoservice pki init' first")
        try:
            certs, _ = load_pem_chain(self.ca_cert_path)
            key = load_private_key(self.ca_key_path)
        except PemError as exc:
            raise DevPKIError(str(exc)) from exc
        except OSError as exc:
            raise _os_error(exc) from exc
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
        self, subject: str, *, name: str | None = None, days: int = 365, overwrite: bool = True
    ) -> IssuedCredential:
        """Issue a user certificate for ``subject``, a DN in DIRAC's slash form.

        Without ``overwrite``, an existing user of that name is refused (its key would be lost).
        """
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
        name = _safe_name(name)
        existing = self.directory / "users" / name / "usercert.pem"
        if not overwrite and existing.exists():
            raise DevPKIError(
                f"{existing} already exists: choose another --name, or --force to replace it"
            )
        cert, key = make_user_cert(ca, ca_key, parsed, days=days)
        return self._store("users", name, "user", cert, key)

    def voms_dir(self) -> Path:
        """The VOMSDir of this PKI (``/DIRAC/Security/VOMSDir``): ``<dir>/vomsdir``."""
        return self.directory / "vomsdir"

    def issue_voms(
        self, vo: str, *, host: str = "voms.localhost", days: int = 365
    ) -> IssuedCredential:
        """Make the VOMS server certificate of ``vo`` and its VOMSDir entry.

        The certificate (``voms/<vo>/``) signs ACs (:meth:`load_voms`); the VOMSDir entry
        (``vomsdir/<vo>/<host>.pem`` and the ``.lsc`` that VOMS tools read) is what a server
        trusts. A VO has one server here: issuing again replaces it.
        """
        try:
            vo = valid_vo(vo)
        except VomsIssueError as exc:
            raise DevPKIError(str(exc)) from exc
        ca, ca_key = self._load_ca()
        cert, key = make_host_cert(
            ca, ca_key, _safe_name(host), base_dn=DEFAULT_BASE_DN, dns_names=[host], days=days
        )
        issued = self._store("voms", vo, "voms", cert, key)
        entry = self.voms_dir() / vo
        try:
            make_directory(self.voms_dir(), PUBLIC_DIR_MODE)
            make_directory(entry, PUBLIC_DIR_MODE)
            for old in entry.glob("*.pem"):
                old.unlink()  # one trusted server per VO: the previous one no longer signs
            write_certificates(entry / f"{host}.pem", cert)
            lsc = f"{dirac_dn(cert.subject)}\n{dirac_dn(cert.issuer)}\n"
            write_public_file(entry / f"{host}.lsc", lsc.encode())
        except OSError as exc:
            raise _os_error(exc) from exc
        return issued

    def load_voms(self, vo: str) -> tuple[x509.Certificate, PrivateKey]:
        """The VOMS server certificate and key of ``vo`` made by :meth:`issue_voms`."""
        folder = self.directory / "voms" / vo
        if not (folder / "vomscert.pem").is_file():
            raise DevPKIError(
                f"{self.directory} has no VOMS server for the VO {vo!r}: "
                f"run 'tornadoservice pki voms {self.directory} {vo}' first"
            )
        try:
            certs, _ = load_pem_chain(folder / "vomscert.pem")
            key = load_private_key(folder / "vomskey.pem")
        except PemError as exc:
            raise DevPKIError(str(exc)) from exc
        except OSError as exc:
            raise _os_error(exc) from exc
        if not certs:
            raise DevPKIError(f"{folder / 'vomscert.pem'}: no certificate in the file")
        return certs[0], key

    def _store(
        self, kind: str, name: str, prefix: str, cert: x509.Certificate, key: PrivateKey
    ) -> IssuedCredential:
        folder = self.directory / kind / name
        try:
            make_directory(folder.parent, PUBLIC_DIR_MODE)
            make_directory(folder, PRIVATE_DIR_MODE)
            key_path = write_private_key(folder / f"{prefix}key.pem", key)
            cert_path = write_certificates(folder / f"{prefix}cert.pem", cert)
        except OSError as exc:
            raise _os_error(exc) from exc
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
