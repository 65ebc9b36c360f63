"""What a client presents and trusts, found the way DIRAC's tools find it.

* Certificate: ``useCertificates=True`` -> the host certificate and key of the configuration
  (``/DIRAC/Security/CertFile``/``KeyFile``, else ``<Grid-Security>/hostcert.pem`` and the
  like, else ``/etc/grid-security/host{cert,key}.pem``: see
  :mod:`tornadoservice.config.locations`); else ``proxyLocation``, ``$X509_USER_PROXY``, or
  ``/tmp/x509up_u<uid>`` when it exists.
* Trusted CAs: ``ca_dir=`` given to the client, else ``<Grid-Security>/certificates``,
  ``/DIRAC/Security/CALocation``, ``$X509_CERT_DIR``, ``/etc/grid-security/certificates``
  (DIRAC's order: the configuration wins over the environment).
* Proxy in memory: DIRAC's ``proxyString`` (PEM) or ``proxyChain`` (an ``X509Chain``-like
  object with ``dumpAllToString()``) is written to a private temporary file only while the
  TLS context loads it, then deleted.
* Bearer token: given directly, from a file, or with ``useAccessToken=True`` by the WLCG bearer
  token discovery (``$BEARER_TOKEN``, ``$BEARER_TOKEN_FILE``, ``$XDG_RUNTIME_DIR/bt_u<uid>``,
  ``/tmp/bt_u<uid>``). Tokens are secrets: they are never logged nor put in an ``rpcStub``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tornadoservice.config.locations import ca_location, host_cert_and_key
from tornadoservice.config.tree import ConfigTree


class CredentialError(ValueError):
    """No usable credential or CA directory could be found."""


@dataclass(frozen=True)
class ClientCredentials:
    """The files of one client; ``token`` is kept out of ``repr`` so it never reaches a log."""

    ca_dir: Path | None
    cert_file: Path | None = None
    key_file: Path | None = None
    token: str | None = field(default=None, repr=False)
    verify_server: bool = True


def find_ca_dir(config: ConfigTree | None) -> Path | None:
    return ca_location(config)


def find_proxy(proxy_location: str | os.PathLike[str] | None) -> Path | None:
    if proxy_location:
        return Path(proxy_location)
    env = os.environ.get("X509_USER_PROXY")
    if env:
        return Path(env)
    candidate = Path(f"/tmp/x509up_u{os.getuid()}")
    return candidate if candidate.exists() else None


def host_certificate(config: ConfigTree | None) -> tuple[Path, Path]:
    return host_cert_and_key(config)


def read_token_file(path: str | os.PathLike[str]) -> str:
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CredentialError(f"cannot read the token file {path}: {exc.strerror}") from exc
    if not token:
        raise CredentialError(f"the token file {path} is empty")
    return token


def discover_token() -> str:
    """WLCG bearer token discovery."""
    env = os.environ.get("BEARER_TOKEN", "").strip()
    if env:
        return env
    if os.environ.get("BEARER_TOKEN_FILE"):
        return read_token_file(os.environ["BEARER_TOKEN_FILE"])
    uid = os.getuid()
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    candidates = [Path(runtime) / f"bt_u{uid}"] if runtime else []
    candidates.append(Path(f"/tmp/bt_u{uid}"))
    for candidate in candidates:
        if candidate.exists():
            return read_token_file(candidate)
    raise CredentialError(
        "useAccessToken: no token in $BEARER_TOKEN, $BEARER_TOKEN_FILE or "
        + ", ".join(map(str, candidates))
    )


def proxy_pem(proxy_string: Any = None, proxy_chain: Any = None) -> bytes | None:
    """The PEM of DIRAC's ``proxyChain`` (an object with ``dumpAllToString()``, or PEM text)
    or ``proxyString`` (PEM text), or ``None`` when neither is given."""
    value = proxy_chain if proxy_chain is not None else proxy_string
    name = "proxyChain" if proxy_chain is not None else "proxyString"
    if value is None:
        return None
    dump = getattr(value, "dumpAllToString", None)
    if callable(dump):
        value = dump()
        if isinstance(value, dict):  # DIRAC's S_OK/S_ERROR
            if not value.get("OK"):
                raise CredentialError(f"{name}: {value.get('Message', 'cannot be dumped')}")
            value = value.get("Value")
    if isinstance(value, str):
        value = value.encode("ascii", "replace")
    if not isinstance(value, bytes) or b"-----BEGIN" not in value:
        raise CredentialError(f"{name} is not a PEM proxy (certificates and key)")
    return value


@contextmanager
def pem_file(pem: bytes) -> Iterator[Path]:
    """``pem`` in a private (0600) temporary file, deleted when the block ends: OpenSSL loads
    certificates and keys from files only."""
    fd, name = tempfile.mkstemp(prefix="tornadoservice-proxy-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        yield Path(name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
