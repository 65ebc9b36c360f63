"""Where the security files are, read from ``/DIRAC/Security`` in DIRAC's order.

Shared by the server (its certificate and CA directory) and the client (the CA directory it
trusts, the host certificate of ``useCertificates``), so both read a ``dirac.cfg`` alike.

* CA directory: ``<Grid-Security>/certificates`` when that directory exists, else
  ``CALocation``, else ``$X509_CERT_DIR``, else ``/etc/grid-security/certificates`` when it
  exists. Many real ``dirac.cfg`` files set only ``Grid-Security``.
* Host certificate and key, each on its own: ``CertFile``/``KeyFile``, else the first of
  ``server``, ``host``, ``dirac``, ``service`` + ``cert.pem``/``key.pem`` that exists in
  ``Grid-Security``, else ``/etc/grid-security/host{cert,key}.pem``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .tree import ConfigTree

SECURITY = "/DIRAC/Security"
SYSTEM_GRID_SECURITY = Path("/etc/grid-security")
HOST_FILE_PREFIXES = ("server", "host", "dirac", "service")


def _option(config: ConfigTree | None, name: str) -> Path | None:
    value = config.get(f"{SECURITY}/{name}") if config is not None else None
    return Path(value).expanduser() if value else None


def grid_security(config: ConfigTree | None) -> Path | None:
    """``/DIRAC/Security/Grid-Security``, or ``None`` when it is not set."""
    return _option(config, "Grid-Security")


def ca_location(config: ConfigTree | None) -> Path | None:
    """The hashed CA directory to trust, or ``None`` when nothing names one."""
    base = grid_security(config)
    if base is not None and (base / "certificates").is_dir():
        return base / "certificates"
    configured = _option(config, "CALocation")
    if configured is not None:
        return configured
    env = os.environ.get("X509_CERT_DIR")
    if env:
        return Path(env)
    system = SYSTEM_GRID_SECURITY / "certificates"
    return system if system.is_dir() else None


def _host_file(config: ConfigTree | None, kind: str) -> Path:
    configured = _option(config, f"{kind.capitalize()}File")
    if configured is not None:
        return configured
    base = grid_security(config)
    if base is not None:
        for prefix in HOST_FILE_PREFIXES:
            candidate = base / f"{prefix}{kind}.pem"
            if candidate.is_file():
                return candidate
    return SYSTEM_GRID_SECURITY / f"host{kind}.pem"


def host_cert_and_key(config: ConfigTree | None) -> tuple[Path, Path]:
    """The host certificate and key files (they may not exist: the caller reports it)."""
    return _host_file(config, "cert"), _host_file(config, "key")
