"""``tornadoservice pki`` (a development CA) and ``tornadoservice proxy-init`` (grid proxies)."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import click
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tornadoservice.cli.errors import CLIError
from tornadoservice.identity.devpki import PRIVATE_DIR_MODE, DevPKI, DevPKIError, make_directory
from tornadoservice.identity.dn import dirac_dn
from tornadoservice.identity.pem import PemError, PrivateKey, load_pem_chain
from tornadoservice.identity.proxy import ProxyError, make_proxy, write_proxy_file

PKI_DIR = click.argument("directory", type=click.Path(file_okay=False, path_type=Path))


@click.group()
def pki() -> None:
    """A development PKI: a CA with a CRL in a hashed CA directory, host and user certificates.

    For tests and development only; production sites use their grid CAs.
    """


@pki.command("init")
@PKI_DIR
@click.option(
    "--cn", default="tornadoservice development CA", show_default=True, help="CA common name."
)
@click.option("--days", type=click.IntRange(1, 36500), default=3650, show_default=True)
def pki_init(directory: Path, cn: str, days: int) -> None:
    """Make a CA in DIRECTORY (CA directory for CALocation: DIRECTORY/certificates)."""
    dev = DevPKI(directory)
    try:
        dev.create(cn, days=days)
    except DevPKIError as exc:
        raise CLIError(str(exc)) from exc
    click.echo(f"CA made; hashed CA directory (CALocation / --ca-dir): {dev.ca_dir}")


@pki.command("host")
@PKI_DIR
@click.argument("hostname")
@click.option("--dns", "dns_names", multiple=True, help="Extra DNS subjectAltName (repeatable).")
@click.option("--ip", "ips", multiple=True, help="IP subjectAltName (repeatable).")
@click.option("--days", type=click.IntRange(1, 36500), default=365, show_default=True)
def pki_host(
    directory: Path, hostname: str, dns_names: tuple[str, ...], ips: tuple[str, ...], days: int
) -> None:
    """Issue a host certificate (serverAuth + clientAuth) for HOSTNAME."""
    try:
        issued = DevPKI(directory).issue_host(
            hostname, dns_names=[hostname, *dns_names], ip_addresses=list(ips), days=days
        )
    except DevPKIError as exc:
        raise CLIError(str(exc)) from exc
    click.echo(f"{issued.subject}\n  certificate: {issued.cert}\n  key: {issued.key}")


@pki.command("user")
@PKI_DIR
@click.argument("dn")
@click.option("--name", help="File name for the user (default: the DN's last CN).")
@click.option("--days", type=click.IntRange(1, 36500), default=365, show_default=True)
def pki_user(directory: Path, dn: str, name: str | None, days: int) -> None:
    """Issue a user certificate for DN, e.g. '/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser'."""
    try:
        issued = DevPKI(directory).issue_user(dn, name=name, days=days)
    except DevPKIError as exc:
        raise CLIError(str(exc)) from exc
    click.echo(f"{issued.subject}\n  certificate: {issued.cert}\n  key: {issued.key}")


def _parse_validity(text: str) -> dt.timedelta:
    match = re.fullmatch(r"(\d{1,5}):([0-5]\d)", text)
    if not match:
        raise CLIError(f"--valid must be HH:MM (e.g. 24:00), not {text!r}", 2)
    lifetime = dt.timedelta(hours=int(match[1]), minutes=int(match[2]))
    if lifetime <= dt.timedelta(0):
        raise CLIError("--valid must be longer than 00:00", 2)
    return lifetime


def _load_key(path: Path) -> PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CLIError(f"{path}: {exc.strerror}") from exc
    password: bytes | None = None
    if b"ENCRYPTED" in data:
        password = click.prompt(f"Passphrase for {path}", hide_input=True, err=True).encode()
    try:
        key = load_pem_private_key(data, password=password)
    except (ValueError, TypeError) as exc:
        raise CLIError(f"{path}: cannot read the private key (wrong passphrase?)") from exc
    return key  # type: ignore[return-value]


@click.command("proxy-init")
@click.option(
    "--cert",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="User certificate (default ~/.globus/usercert.pem).",
)
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="User key (default ~/.globus/userkey.pem).",
)
@click.option("--group", "-g", help="DIRAC group to put in the proxy (extension 1.2.42.42).")
@click.option("--valid", "-v", default="24:00", show_default=True, help="Lifetime as HH:MM.")
@click.option("--limited", is_flag=True, help="Make a limited proxy.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Proxy file (default $X509_USER_PROXY or /tmp/x509up_u<uid>).",
)
def proxy_init(
    cert: Path | None,
    key: Path | None,
    group: str | None,
    valid: str,
    limited: bool,
    out: Path | None,
) -> None:
    """Make an RFC 3820 proxy from a user certificate, like dirac-proxy-init."""
    globus = Path.home() / ".globus"
    cert = cert or globus / "usercert.pem"
    key = key or globus / "userkey.pem"
    out = out or Path(os.environ.get("X509_USER_PROXY") or f"/tmp/x509up_u{os.getuid()}")
    lifetime = _parse_validity(valid)
    try:
        chain, _ = load_pem_chain(cert)
    except (OSError, PemError) as exc:
        raise CLIError(f"{cert}: {getattr(exc, 'strerror', None) or exc}") from exc
    if not chain:
        raise CLIError(f"{cert}: no certificate in the file")
    user_key = _load_key(key)
    try:
        proxy_cert, proxy_key = make_proxy(
            chain[0], user_key, chain, group=group, lifetime=lifetime, limited=limited
        )
    except ProxyError as exc:
        raise CLIError(str(exc)) from exc
    try:
        # A missing folder for the proxy is made 0700, whatever the umask; an existing one is kept.
        make_directory(out.parent, PRIVATE_DIR_MODE, created_only=True)
        write_proxy_file(out, proxy_cert, proxy_key, chain)
    except OSError as exc:
        raise CLIError(f"{exc.filename or out}: {exc.strerror or exc}") from exc
    expires = proxy_cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S UTC")
    click.echo(f"Proxy for {dirac_dn(chain[0].subject)}{f' (group {group})' if group else ''}")
    click.echo(f"  file: {out}\n  valid until: {expires}{' (limited)' if limited else ''}")
