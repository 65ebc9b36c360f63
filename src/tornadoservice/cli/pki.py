"""``tornadoservice pki`` (a development CA) and ``tornadoservice proxy-init`` (grid proxies)."""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import click
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tornadoservice.cli.errors import CLIError
from tornadoservice.identity.devpki import PRIVATE_DIR_MODE, DevPKI, DevPKIError, make_directory
from tornadoservice.identity.dn import dirac_dn
from tornadoservice.identity.pem import PemError, PrivateKey, load_pem_chain
from tornadoservice.identity.proxy import ProxyError, make_proxy, write_proxy_file
from tornadoservice.identity.vomsissue import VomsIssueError, default_fqan, issue_voms_extension

EXIT_USAGE = 2

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
@click.option(
    "--days",
    type=click.IntRange(1, 36500),
    default=3650,
    show_default=True,
    help="Validity of the CA certificate, in days.",
)
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
@click.option(
    "--days",
    type=click.IntRange(1, 36500),
    default=365,
    show_default=True,
    help="Validity of the certificate, in days.",
)
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
@click.option(
    "--days",
    type=click.IntRange(1, 36500),
    default=365,
    show_default=True,
    help="Validity of the certificate, in days.",
)
@click.option("--force", is_flag=True, help="Replace an existing user of that name (new key).")
def pki_user(directory: Path, dn: str, name: str | None, days: int, force: bool) -> None:
    """Issue a user certificate for DN, e.g. '/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser'."""
    try:
        issued = DevPKI(directory).issue_user(dn, name=name, days=days, overwrite=force)
    except DevPKIError as exc:
        raise CLIError(str(exc)) from exc
    click.echo(f"{issued.subject}\n  certificate: {issued.cert}\n  key: {issued.key}")


@pki.command("voms")
@PKI_DIR
@click.argument("vo")
@click.option(
    "--host",
    default="voms.localhost",
    show_default=True,
    help="The VOMS server's host name (its certificate's CN, named in every AC).",
)
@click.option(
    "--days",
    type=click.IntRange(1, 36500),
    default=365,
    show_default=True,
    help="Validity of the certificate, in days.",
)
def pki_voms(directory: Path, vo: str, host: str, days: int) -> None:
    """Make a VOMS server for the VO named VO: its certificate and its VOMSDir entry.

    Set /DIRAC/Security/VOMSDir to DIRECTORY/vomsdir on the server, and sign ACs into proxies
    with 'tornadoservice proxy-init --voms VO --voms-pki DIRECTORY'.
    """
    dev = DevPKI(directory)
    try:
        issued = dev.issue_voms(vo, host=host, days=days)
    except DevPKIError as exc:
        raise CLIError(str(exc)) from exc
    click.echo(f"VOMS server for {vo}: {issued.subject}\n  certificate: {issued.cert}")
    click.echo(f"  key: {issued.key}\n  VOMSDir (/DIRAC/Security/VOMSDir): {dev.voms_dir()}")


def _parse_validity(text: str) -> dt.timedelta:
    match = re.fullmatch(r"(\d{1,5}):([0-5]\d)", text)
    if not match:
        raise CLIError(f"--valid must be HH:MM (e.g. 24:00), not {text!r}", 2)
    lifetime = dt.timedelta(hours=int(match[1]), minutes=int(match[2]))
    if lifetime <= dt.timedelta(0):
        raise CLIError("--valid must be longer than 00:00", 2)
    return lifetime


def _passphrase(path: Path, pass_stdin: bool, pass_file: Path | None) -> bytes:
    """The passphrase of the encrypted key ``path``: from stdin, a file, or the terminal."""
    if pass_stdin:
        line: str = sys.stdin.readline()
        return line.rstrip("\r\n").encode()
    if pass_file is not None:
        try:
            lines = pass_file.read_text().splitlines()
        except OSError as exc:
            raise CLIError(f"{pass_file}: {exc.strerror}") from exc
        except UnicodeDecodeError:
            raise CLIError(f"{pass_file}: not a text file") from None
        return (lines[0] if lines else "").encode()
    if not sys.stdin.isatty():
        # getpass would read the terminal anyway, or warn and echo: ask for an explicit source.
        raise CLIError(
            f"{path} is encrypted and there is no terminal to ask for its passphrase: "
            "give --pass-stdin or --pass-file FILE",
            EXIT_USAGE,
        )
    return str(click.prompt(f"Passphrase for {path}", hide_input=True, err=True)).encode()


def _load_key(path: Path, pass_stdin: bool, pass_file: Path | None) -> PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CLIError(f"{path}: {exc.strerror}") from exc
    password: bytes | None = None
    if b"ENCRYPTED" in data:
        password = _passphrase(path, pass_stdin, pass_file)
    try:
        key = load_pem_private_key(data, password=password)
    except (ValueError, TypeError) as exc:
        reason = "wrong passphrase?" if password is not None else "not a PEM private key"
        raise CLIError(f"{path}: cannot read the private key ({reason})") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CLIError(f"{path}: only RSA and ECDSA keys can sign proxies")
    return key


def _voms_signer(
    pki_dir: Path | None, vo: str, fqans: tuple[str, ...], holder: x509.Certificate
) -> Callable[[dt.datetime, dt.datetime], bytes]:
    """What signs the proxy's AC: the development VOMS server of ``vo`` in ``pki_dir``."""
    if pki_dir is None:
        raise CLIError("--voms needs --voms-pki DIRECTORY (made by 'tornadoservice pki voms')", 2)
    server_cert, server_key = DevPKI(pki_dir).load_voms(vo)

    def sign(start: dt.datetime, end: dt.datetime) -> bytes:
        return issue_voms_extension(
            server_cert, server_key, holder, vo, fqans, not_before=start, not_after=end
        )

    now = dt.datetime.now(dt.UTC)
    try:
        # Signed once now, so that a bad VO or --fqan is an error before any key is generated.
        sign(now, now + dt.timedelta(minutes=1))
    except VomsIssueError as exc:
        raise CLIError(str(exc), EXIT_USAGE) from exc
    return sign


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
    help="Proxy file (default $X509_USER_PROXY or /tmp/x509up_u<uid>); a missing folder is "
    "made 0700, and said so.",
)
@click.option(
    "--pass-stdin", is_flag=True, help="Read the key's passphrase from the first line of stdin."
)
@click.option(
    "--pass-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the key's passphrase from the first line of this file.",
)
@click.option("--voms", "vo", help="Embed a VOMS attribute certificate for this VO (dev PKI).")
@click.option(
    "--voms-pki",
    type=click.Path(file_okay=False, path_type=Path),
    help="The PKI directory holding the VO's VOMS server ('tornadoservice pki voms').",
)
@click.option(
    "--fqan",
    "fqans",
    multiple=True,
    help="An FQAN to put in the AC (repeatable; default /VO/Role=NULL/Capability=NULL).",
)
def proxy_init(
    cert: Path | None,
    key: Path | None,
    group: str | None,
    valid: str,
    limited: bool,
    out: Path | None,
    pass_stdin: bool,
    pass_file: Path | None,
    vo: str | None,
    voms_pki: Path | None,
    fqans: tuple[str, ...],
) -> None:
    """Make an RFC 3820 proxy from a user certificate, like dirac-proxy-init.

    With --voms, the proxy carries a VOMS AC signed by a development VOMS server (made with
    'tornadoservice pki voms'), for testing vo: rules and FQANs.
    """
    if pass_stdin and pass_file is not None:
        raise CLIError("give --pass-stdin or --pass-file, not both", EXIT_USAGE)
    if vo is None and (voms_pki is not None or fqans):
        raise CLIError("--voms-pki and --fqan need --voms VO", EXIT_USAGE)
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
    try:
        signer = None if vo is None else _voms_signer(voms_pki, vo, fqans, chain[0])
    except DevPKIError as exc:
        raise CLIError(str(exc)) from exc
    user_key = _load_key(key, pass_stdin, pass_file)
    try:
        proxy_cert, proxy_key = make_proxy(
            chain[0], user_key, chain, group=group, lifetime=lifetime, limited=limited, voms=signer
        )
    except ProxyError as exc:
        raise CLIError(str(exc)) from exc
    made_folder = not out.parent.exists()
    try:
        # A missing folder for the proxy is made 0700, whatever the umask; an existing one is kept.
        make_directory(out.parent, PRIVATE_DIR_MODE, created_only=True)
        write_proxy_file(out, proxy_cert, proxy_key, chain)
    except OSError as exc:
        raise CLIError(f"{exc.filename or out}: {exc.strerror or exc}") from exc
    expires = proxy_cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S UTC")
    click.echo(f"Proxy for {dirac_dn(chain[0].subject)}{f' (group {group})' if group else ''}")
    click.echo(f"  file: {out}\n  valid until: {expires}{' (limited)' if limited else ''}")
    if made_folder:
        click.echo(f"  made the folder {out.parent} (mode 0700)")
    if vo is not None:
        click.echo(f"  VOMS: {vo} {', '.join(fqans) or default_fqan(vo)}")
