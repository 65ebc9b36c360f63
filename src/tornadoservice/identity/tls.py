"""TLS contexts for grid services and clients, and the verified peer chain of a connection.

Exceptions::

    ValueError
     └── TLSConfigError   a context cannot be built: missing/unreadable/mismatched files, weak keys
    RuntimeError
     └── PeerChainError   a connection has no trustworthy peer chain (e.g. a resumed session)

:func:`server_ssl_context` is built from ``ssl.SSLContext(PROTOCOL_TLS_SERVER)`` with every
setting explicit. ``create_default_context()`` is deliberately not used: on Python 3.13 it adds
``VERIFY_X509_STRICT``, which rejects DIRAC's proxies (they have no Authority Key Identifier).

* TLS 1.2 or newer, no renegotiation.
* Client certificates are requested but optional (``CERT_OPTIONAL``), so that clients with a
  bearer token use the same port. A certificate that is sent must verify, or the handshake fails:
  that failure cannot be turned into an HTTP 401.
* RFC 3820 proxies are accepted (``VERIFY_ALLOW_PROXY_CERTS``). OpenSSL itself enforces proxy
  naming and path length, and refuses legacy (pre-RFC) proxies.
* CAs come from a hashed directory (``capath``), looked up lazily by OpenSSL.
* Revocation: when the directory holds CRLs (``<hash>.r<n>``), ``VERIFY_CRL_CHECK_CHAIN``
  checks every certificate of the chain. Checking the leaf only is not enough: OpenSSL never
  checks a proxy against a CRL, so with a proxy as leaf a revoked user would get through. The
  price is that checking **fails closed**: a client whose CA (or any CA above it) has no CRL in
  the directory, or only an expired one, is refused. The context logs such CAs when it is made.
  A context reads CRLs once and caches them: build a new context to pick up new CRLs.
* No session resumption. A resumed session carries no verified chain (OpenSSL by design), so
  the caller would silently lose their identity. TLS 1.3 tickets are off (``num_tickets = 0``),
  TLS 1.2 tickets are off (``OP_NO_TICKET``). Python's ``ssl`` cannot turn off OpenSSL's TLS 1.2
  session-ID cache. That cache only lets a client resume after a clean shutdown or while its
  first connection is still open. For a session resumed that way, :func:`peer_chain` raises
  :class:`PeerChainError` instead of returning an empty chain. ``minimum_version=TLSv1_3`` rules
  it out entirely.

:func:`reload_server_context` builds the next context (new CRLs, a renewed certificate) and
keeps the previous one when the files are not usable.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import ssl
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .cadir import inspect_ca_dir
from .dn import dirac_dn
from .pem import PemError, PrivateKey, load_pem_chain, load_private_key

if TYPE_CHECKING:
    import _ssl

log = logging.getLogger(__name__)

# What OpenSSL's default security level (2) accepts.
MIN_RSA_BITS = 2048
MIN_EC_BITS = 224
_ENCODING_DER: Final = 2  # _ssl.ENCODING_DER


class TLSConfigError(ValueError):
    """A TLS context cannot be built from this configuration."""


class PeerChainError(RuntimeError):
    """The connection has no verified peer chain although the peer sent a certificate."""


def _check_readable(path: str | os.PathLike[str], what: str) -> Path:
    target = Path(path)
    if not target.exists():
        raise TLSConfigError(f"{what} {target} does not exist")
    if not target.is_file():
        raise TLSConfigError(f"{what} {target} is not a file")
    if not os.access(target, os.R_OK):
        raise TLSConfigError(f"{what} {target} is not readable by this process")
    return target


def _check_key_strength(key: PrivateKey, where: Path) -> None:
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < MIN_RSA_BITS:
        raise TLSConfigError(
            f"the key in {where} is {key.key_size}-bit RSA; OpenSSL needs at least "
            f"{MIN_RSA_BITS} bits (old grid proxies were 1024-bit: make a new one)"
        )
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.key_size < MIN_EC_BITS:
        raise TLSConfigError(
            f"the key in {where} is a {key.key_size}-bit EC key; OpenSSL needs at least "
            f"{MIN_EC_BITS} bits"
        )


def _check_credentials(
    cert_file: str | os.PathLike[str], key_file: str | os.PathLike[str] | None
) -> list[x509.Certificate]:
    """Check a certificate (chain) file and its key the way OpenSSL would, with clear messages."""
    cert_path = _check_readable(cert_file, "certificate file")
    key_path = cert_path if key_file is None else _check_readable(key_file, "key file")
    try:
        certificates, key = load_pem_chain(cert_path)
        if key_file is not None:
            key = load_private_key(key_path)
    except (PemError, OSError) as exc:
        raise TLSConfigError(str(exc)) from exc
    if key is None:
        raise TLSConfigError(f"{cert_path} has no private key and no key file was given")
    if key.public_key() != certificates[0].public_key():
        raise TLSConfigError(
            f"the key in {key_path} does not belong to the certificate in {cert_path} "
            f"({dirac_dn(certificates[0].subject)})"
        )
    _check_key_strength(key, key_path)
    now = dt.datetime.now(dt.UTC)
    leaf = certificates[0]
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        log.warning(
            "certificate %s (%s) is not valid now: valid from %s to %s",
            cert_path,
            dirac_dn(leaf.subject),
            leaf.not_valid_before_utc,
            leaf.not_valid_after_utc,
        )
    return certificates


def _load_cert_chain(
    context: ssl.SSLContext,
    cert_file: str | os.PathLike[str],
    key_file: str | os.PathLike[str] | None,
) -> None:
    _check_credentials(cert_file, key_file)
    try:
        context.load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, OSError) as exc:
        raise TLSConfigError(f"OpenSSL cannot use {cert_file}: {exc}") from exc


def _check_ca_dir(ca_dir: str | os.PathLike[str]) -> Path:
    directory = Path(ca_dir)
    if not directory.is_dir():
        raise TLSConfigError(f"CA directory {directory} does not exist or is not a directory")
    if not os.access(directory, os.R_OK | os.X_OK):
        raise TLSConfigError(f"CA directory {directory} is not readable by this process")
    return directory


_HASHED_ENTRY = re.compile(r"[0-9a-f]{8}\.r?\d+")


def _load_ca_dir_now(context: ssl.SSLContext, directory: Path, *, skip: set[str]) -> None:
    """Load every CA certificate and CRL of ``directory`` into ``context`` right away.

    With ``capath`` alone OpenSSL reads a CA's files the first time a client of that CA
    connects, from whatever the directory holds *then*: a context would not be the snapshot a
    reload promises, and a CRL half-written by fetch-crl could lock out a CA's users. Loaded
    here, each context keeps the set it was built from (``capath`` stays as a fallback).
    """
    for entry in sorted(os.listdir(directory)):
        if entry in skip or not _HASHED_ENTRY.fullmatch(entry):
            continue
        try:
            context.load_verify_locations(cafile=os.fspath(directory / entry))
        except (ssl.SSLError, OSError) as exc:
            log.warning("%s in %s could not be loaded: %s", entry, directory, exc)


def server_ssl_context(
    cert_file: str | os.PathLike[str],
    key_file: str | os.PathLike[str] | None,
    ca_dir: str | os.PathLike[str],
    *,
    crl_check: bool = True,
    minimum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
) -> ssl.SSLContext:
    """The server context of a grid service (see the module docstring for every choice).

    ``key_file`` may be ``None`` when ``cert_file`` holds the key. With ``crl_check`` (the
    default) revocation is checked for the whole chain as soon as ``ca_dir`` holds a CRL;
    without CRLs in the directory nothing can be checked and a warning is logged.
    Raises :class:`TLSConfigError` with the reason when a file is missing, unreadable, of the
    wrong kind, or the key does not match or is too small.
    """
    directory = _check_ca_dir(ca_dir)
    try:
        report = inspect_ca_dir(directory)
    except OSError as exc:
        raise TLSConfigError(f"CA directory {directory} cannot be read: {exc}") from exc
    if report.ca_count == 0:
        raise TLSConfigError(
            f"CA directory {directory} holds no CA certificate named <hash>.0 "
            "(write it with write_hashed_ca_dir or 'openssl rehash')"
        )

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = minimum_version
    context.options |= ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_TICKET
    context.num_tickets = 0
    _load_cert_chain(context, cert_file, key_file)
    context.load_verify_locations(capath=os.fspath(directory))
    _load_ca_dir_now(context, directory, skip=set(report.unreadable))
    context.verify_mode = ssl.CERT_OPTIONAL

    flags = ssl.VERIFY_X509_TRUSTED_FIRST | ssl.VERIFY_ALLOW_PROXY_CERTS
    if crl_check and report.crl_count:
        flags |= ssl.VERIFY_CRL_CHECK_CHAIN
        for dn in report.cas_without_crl:
            log.warning("CA %s has no CRL in %s: its users will be refused", dn, directory)
        for dn in report.expired_crls:
            log.warning("the CRL of %s in %s has expired: its users will be refused", dn, directory)
    elif crl_check:
        log.warning("CA directory %s holds no CRL: revoked certificates are accepted", directory)
    context.verify_flags = flags
    for name in report.unreadable:
        log.warning("%s in %s is neither a PEM certificate nor a PEM CRL", name, directory)
    return context


def reload_server_context(
    previous: ssl.SSLContext,
    cert_file: str | os.PathLike[str],
    key_file: str | os.PathLike[str] | None,
    ca_dir: str | os.PathLike[str],
    *,
    crl_check: bool = True,
    minimum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
) -> tuple[ssl.SSLContext, str | None]:
    """A *new* server context from the files as they are now, for new connections, or
    ``previous`` and the reason when one cannot be built.

    What a timer or SIGHUP calls after fetch-crl or a certificate renewal. A new context is
    the only way to see an updated CRL: a context caches the CRLs it has read and ignores the
    files from then on. Keeping ``previous`` on failure means a half-written directory or a bad
    renewal never takes the service down; the caller logs the reason and tries again later.
    Stricter than :func:`server_ssl_context`, which only logs them: a hashed file that is not a
    PEM certificate or CRL (a truncated CRL download) keeps ``previous``, because the new
    context would refuse every user of that CA (CRL checking fails closed). The previous
    context is no perfect shelter either: OpenSSL reads a CA's CRL the first time a client of
    that CA connects, so it only keeps the CRLs it has already used.
    Connections already open keep the context they were made with.
    """
    try:
        context = server_ssl_context(
            cert_file, key_file, ca_dir, crl_check=crl_check, minimum_version=minimum_version
        )
        # server_ssl_context has just listed the directory; a failure here is a new problem.
        broken = inspect_ca_dir(ca_dir).unreadable
    except (TLSConfigError, OSError) as exc:
        return previous, str(exc)
    if broken:
        return previous, (
            f"CA directory {os.fspath(ca_dir)} holds files that are neither a PEM certificate "
            f"nor a PEM CRL: {', '.join(broken)}"
        )
    return context, None


def client_ssl_context(
    ca_dir: str | os.PathLike[str] | None = None,
    cert_file: str | os.PathLike[str] | None = None,
    key_file: str | os.PathLike[str] | None = None,
    *,
    minimum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
) -> ssl.SSLContext:
    """A client context that verifies the server against ``ca_dir`` (default: the system CAs)
    and its host name, presenting ``cert_file``/``key_file`` if given.

    ``cert_file`` may be a proxy file (proxy certificate, key, then the chain: everything is
    sent) or a certificate with a separate ``key_file``.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = minimum_version
    context.options |= ssl.OP_NO_RENEGOTIATION
    if ca_dir is None:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        context.load_verify_locations(capath=os.fspath(_check_ca_dir(ca_dir)))
    if cert_file is not None:
        _load_cert_chain(context, cert_file, key_file)
    elif key_file is not None:
        raise TLSConfigError("a key file was given without a certificate file")
    return context


class _NativeConnection(Protocol):
    """The private ``_ssl._SSLSocket`` behind ``SSLSocket``/``SSLObject`` on Python < 3.13."""

    def get_verified_chain(self) -> list[_ssl.Certificate] | None: ...


def _verified_chain_der(connection: ssl.SSLObject | ssl.SSLSocket) -> list[bytes]:
    if sys.version_info >= (3, 13):  # pragma: no cover - the tests run on 3.11
        return list(connection.get_verified_chain())
    # Python 3.10-3.12 only have the private method (public from 3.13, cpython#109113).
    native: _NativeConnection = getattr(connection, "_sslobj")  # noqa: B009 - not in the stubs
    chain = native.get_verified_chain()
    return [] if chain is None else [cert.public_bytes(_ENCODING_DER) for cert in chain]


def peer_chain(connection: ssl.SSLObject | ssl.SSLSocket) -> list[x509.Certificate]:
    """The peer's *verified* certificate chain, leaf first, or ``[]`` if it sent no certificate.

    The verified chain is what OpenSSL built and checked against the CA directory (it ends with
    the trusted CA), never merely what the client sent. Tornado's ``IOStream.socket`` is the
    ``ssl.SSLSocket`` to pass here; the httptools transport's connection gives its
    ``ssl.SSLObject`` under the same name. Call it once per connection: the chain cannot change.

    Raises :class:`PeerChainError` when the context does not verify peers, the connection is
    closed or has not completed its handshake, or the peer sent a certificate but no verified
    chain exists (a resumed TLS 1.2 session): failing is better than treating a known caller
    as anonymous.
    """
    if connection.context.verify_mode == ssl.CERT_NONE:
        raise PeerChainError("this TLS context does not verify peer certificates")
    # An SSLSocket drops its native object once closed or unwrapped.
    if getattr(connection, "_sslobj", None) is None:
        raise PeerChainError("the TLS connection is closed")
    try:
        leaf = connection.getpeercert(binary_form=True)
    except (ValueError, OSError) as exc:
        raise PeerChainError(f"no completed TLS handshake: {exc}") from exc
    if leaf is None:
        return []
    chain = _verified_chain_der(connection)
    if not chain:
        reason = " (resumed TLS session)" if connection.session_reused else ""
        raise PeerChainError(f"the peer sent a certificate but there is no verified chain{reason}")
    if chain[0] != leaf:
        raise PeerChainError("the verified chain does not start with the peer's certificate")
    return [x509.load_der_x509_certificate(der) for der in chain]
