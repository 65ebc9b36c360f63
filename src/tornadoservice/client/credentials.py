"""What a client presents and trusts, found the way DIRAC's tools find it.

* Certificate: ``useCertificates=True`` -> the host certificate and key of the configuration
  (``/DIRAC/Security/CertFile``/``KeyFile``, default ``/etc/grid-security/host{cert,key}.pem``);
  else ``proxyLocation``, ``$X509_USER_PROXY``, or ``/tmp/x509up_u<uid>`` when it exists.
* Trusted CAs: ``/DIRAC/Security/CALocation``, ``$X509_CERT_DIR``,
  ``/etc/grid-security/certificates`` (DIRAC's order: the configuration wins over the environment).
* Bearer token: given directly, from a file, or with ``useAccessToken=True`` by the WLCG bearer
  token discovery (``$BEARER_TOKEN``, ``$BEARER_TOKEN_FILE``, ``$XDG_RUNTIME_DIR/bt_u<uid>``,
  ``/tmp/bt_u<uid>``). Tokens are secrets: they are never logged nor put in an ``rpcStub``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tornadoservice.config.tree import ConfigTree

GRID_SECURITY = Path("/etc/grid-security")


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


def _option(config: ConfigTree | None, path: str) -> str | None:
    return config.get(path) if config is not None else None


def find_ca_dir(config: ConfigTree | None) -> Path | None:
    configured = _option(config, "/DIRAC/Security/CALocation")
    if configured:
        return Path(configured)
    env = os.environ.get("X509_CERT_DIR")
    if env:
        return Path(env)
    grid = GRID_SECURITY / "certificates"
    return grid if grid.is_dir() else None


def find_proxy(proxy_location: str | os.PathLike[str] | None) -> Path | None:
    if proxy_location:
        return Path(proxy_location)
    env = os.environ.get("X509_USER_PROXY")
    if env:
        return Path(env)
    candidate = Path(f"/tmp/x509up_u{os.getuid()}")
    return candidate if candidate.exists() else None


def host_certificate(config: ConfigTree | None) -> tuple[Path, Path]:
    cert = _option(config, "/DIRAC/Security/CertFile") or str(GRID_SECURITY / "hostcert.pem")
    key = _option(config, "/DIRAC/Security/KeyFile") or str(GRID_SECURITY / "hostkey.pem")
    return Path(cert), Path(key)


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
