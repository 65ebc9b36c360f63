"""``tornadoservice proxy-info``: what a proxy file holds, like ``dirac-proxy-info``.

Exit codes (the CLI's scheme): 0 for a proxy that is still valid; 1 when it expired (the facts
are printed first), or when the file (or the --vomsdir) is missing or unreadable or is not a
proxy file.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import click
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tornadoservice.cli.errors import CLIError
from tornadoservice.identity.dn import dirac_dn
from tornadoservice.identity.pem import PemError, load_pem_chain
from tornadoservice.identity.voms import VomsError, VomsTrust
from tornadoservice.identity.x509 import IdentityError, identity_from_chain, voms_from_chain


def _time_left(until: dt.datetime, now: dt.datetime) -> str:
    seconds = max(0, int((until - now).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def _strength(chain_key: object) -> str:
    if isinstance(chain_key, rsa.RSAPublicKey):
        return f"{chain_key.key_size} bits (RSA)"
    if isinstance(chain_key, ec.EllipticCurvePublicKey):
        return f"{chain_key.curve.name} (ECDSA)"
    return type(chain_key).__name__


@click.command("proxy-info")
@click.argument(
    "proxy_file",
    metavar="[FILE]",
    required=False,
    type=click.Path(dir_okay=False, path_type=Path),
)
@click.option(
    "--vomsdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Check the VOMS attributes against this VOMSDir (<dir>/<vo>/*.pem).",
)
def proxy_info(proxy_file: Path | None, vomsdir: Path | None) -> None:
    """Show a proxy: DN, identity, group, VOMS attributes, time left.

    FILE defaults to $X509_USER_PROXY, else /tmp/x509up_u<uid>. Exit 1 if it expired.
    """
    path = proxy_file or Path(os.environ.get("X509_USER_PROXY") or f"/tmp/x509up_u{os.getuid()}")
    try:
        chain, key = load_pem_chain(path)
    except OSError as exc:
        raise CLIError(f"{path}: {exc.strerror}") from exc
    except PemError as exc:
        raise CLIError(str(exc)) from exc
    trust = None
    if vomsdir is not None:
        try:
            trust = VomsTrust.from_vomsdir(vomsdir)
        except OSError as exc:
            raise CLIError(f"{vomsdir}: {exc.strerror}") from exc
        except VomsError as exc:
            raise CLIError(str(exc)) from exc
    now = dt.datetime.now(dt.UTC)
    try:
        identity = identity_from_chain(chain, now=now, voms_trust=trust)
        voms = voms_from_chain(chain, trust, now=now)
    except IdentityError as exc:
        raise CLIError(f"{path}: {exc}") from exc
    kind = "RFC 3820 proxy" if identity.is_proxy else "certificate (not a proxy)"
    if identity.is_limited_proxy:
        kind = "limited RFC 3820 proxy"
    rows = [
        ("subject", identity.subject),
        ("issuer", identity.issuer),
        ("identity", identity.dn),
        ("type", kind),
        ("strength", _strength(chain[0].public_key())),
        ("private key", "in the file" if key is not None else "missing"),
        ("timeleft", _time_left(identity.not_after, now)),
        ("DIRAC group", identity.group or "(none)"),
        ("path", str(path)),
    ]
    if voms is None:
        rows.append(("VOMS", "no"))
    else:
        vo = voms.vo or "(none)"
        status = "verified" if voms.verified else f"not verified: {voms.reason}"
        rows += [("VOMS", f"{vo} ({status})"), ("VOMS fqan", ", ".join(voms.fqans) or "(none)")]
    if len(chain) > 1:
        rows.append(("chain", " <- ".join(dirac_dn(cert.subject) for cert in chain[1:])))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        click.echo(f"{name.ljust(width)} : {value}")
    if identity.not_after <= now:
        expired = identity.not_after.strftime("%Y-%m-%d %H:%M:%S UTC")
        raise CLIError(f"{path}: the proxy expired at {expired}")
