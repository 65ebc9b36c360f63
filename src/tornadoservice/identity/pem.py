"""Reading and writing PEM files: certificates, private keys, proxy files.

Private keys (and proxy files, which contain one) are written with mode 0600 from the moment
the file exists: the data goes to a temporary file that ``mkstemp`` creates 0600 in the target
directory, which then atomically replaces the target. A reader therefore never sees a partial
file, and there is no window in which the key is readable by others, whatever the umask.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
"""The key types grid certificates use (and that sign with SHA-256)."""

SECRET_FILE_MODE = 0o600
PUBLIC_FILE_MODE = 0o644


class PemError(ValueError):
    """A file does not hold the PEM data expected."""


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        # Never leave a stray copy of a key behind, whatever interrupted us.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_secret_file(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` with mode 0600 (never readable by others, even briefly)."""
    target = Path(path)
    _write_atomically(target, data, SECRET_FILE_MODE)
    return target


def write_public_file(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` with mode 0644, atomically."""
    target = Path(path)
    _write_atomically(target, data, PUBLIC_FILE_MODE)
    return target


def private_key_pem(key: PrivateKey) -> bytes:
    """An unencrypted PKCS#8 PEM block (grid tools read keys without a passphrase)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def certificates_pem(certificates: Iterable[x509.Certificate]) -> bytes:
    """The PEM blocks of ``certificates``, in order."""
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certificates)


def write_certificates(
    path: str | os.PathLike[str], certificates: x509.Certificate | Iterable[x509.Certificate]
) -> Path:
    """Write one certificate or a chain (in the given order) as PEM, mode 0644."""
    chain = [certificates] if isinstance(certificates, x509.Certificate) else list(certificates)
    return write_public_file(path, certificates_pem(chain))


def write_private_key(path: str | os.PathLike[str], key: PrivateKey) -> Path:
    """Write ``key`` as unencrypted PEM with mode 0600."""
    return write_secret_file(path, private_key_pem(key))


def load_pem_chain(
    path: str | os.PathLike[str],
) -> tuple[list[x509.Certificate], PrivateKey | None]:
    """Read every certificate of a PEM file, in file order, and its private key if it has one.

    This reads a proxy file (proxy certificate, proxy key, then the rest of the chain), a
    certificate chain, or a certificate with its key. Raises :class:`PemError` for a file
    without certificates or with an unusable key, ``OSError`` if it cannot be read.
    """
    data = Path(path).read_bytes()
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise PemError(f"{path}: no PEM certificate could be read ({exc})") from exc
    if b"PRIVATE KEY-----" not in data:
        return certificates, None
    return certificates, _parse_private_key(data, path)


def load_private_key(path: str | os.PathLike[str]) -> PrivateKey:
    """Read the (unencrypted) private key in a PEM file; raises :class:`PemError` or ``OSError``."""
    return _parse_private_key(Path(path).read_bytes(), path)


def _parse_private_key(data: bytes, path: str | os.PathLike[str]) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:
        raise PemError(f"{path}: the private key is encrypted") from exc
    except ValueError as exc:
        raise PemError(f"{path}: no usable PEM private key ({exc})") from exc
    if not isinstance(key, PrivateKey):
        raise PemError(f"{path}: unsupported private key type {type(key).__name__}")
    return key
