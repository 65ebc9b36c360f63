"""``tornadoservice call``: one RPC from the command line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from tornadoservice.cli.errors import CLIError
from tornadoservice.client.rpc import RPCConnectionError, call_rpc
from tornadoservice.client.transport import make_session
from tornadoservice.identity.tls import TLSConfigError
from tornadoservice.wire.jencode import encode

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_CONNECTION = 0, 1, 2, 3


def default_proxy() -> Path | None:
    """``$X509_USER_PROXY``, else ``/tmp/x509up_u<uid>`` if it exists, as DIRAC's tools do."""
    env = os.environ.get("X509_USER_PROXY")
    if env:
        return Path(env)
    candidate = Path(f"/tmp/x509up_u{os.getuid()}")
    return candidate if candidate.exists() else None


def default_ca_dir() -> Path | None:
    env = os.environ.get("X509_CERT_DIR")
    if env:
        return Path(env)
    grid = Path("/etc/grid-security/certificates")
    return grid if grid.is_dir() else None


def run_call(
    target: str,
    method: str,
    args: list[Any],
    *,
    proxy: Path | None,
    cert: Path | None,
    key: Path | None,
    ca_dir: Path | None,
    timeout: float,
    as_json: bool,
) -> int:
    if "://" not in target:
        raise CLIError(
            f"{target!r} is not a URL: give https://host:port/System/Service", EXIT_USAGE
        )
    if not target.startswith("https://"):
        raise CLIError(f"{target!r}: only https:// URLs are supported", EXIT_USAGE)
    if (cert is None) != (key is None):
        raise CLIError("--cert and --key go together", EXIT_USAGE)
    if cert is None and proxy is None:
        proxy = default_proxy()
    ca_dir = ca_dir or default_ca_dir()
    if ca_dir is None:
        raise CLIError("no CA directory: give --ca-dir or set X509_CERT_DIR", EXIT_USAGE)
    try:
        session = make_session(ca_dir, cert or proxy, key)
    except TLSConfigError as exc:
        raise CLIError(str(exc), EXIT_USAGE) from exc
    try:
        result = call_rpc(session, target, method, args, timeout=timeout)
    except RPCConnectionError as exc:
        raise CLIError(f"cannot reach {target}: {_short(exc)}", EXIT_CONNECTION) from exc
    finally:
        session.close()
    printable = {k: v for k, v in result.items() if k not in ("CallStack", "ExecInfo")}
    if as_json:
        click.echo(encode(printable))
    elif result["OK"]:
        click.echo(encode(result["Value"]))
    if not result["OK"]:
        if not as_json:
            click.echo(f"tornadoservice: S_ERROR: {result['Message']}", err=True)
        return EXIT_FAILURE
    return EXIT_OK


def _short(exc: Exception) -> str:
    # requests nests the real reason deep inside "Max retries exceeded ..." text. Its own
    # exceptions hold urllib3's in args[0] rather than __cause__, so follow both, within a bound.
    cause: BaseException = exc
    for _ in range(16):
        inner = cause.__cause__
        if inner is None and cause.args and isinstance(cause.args[0], BaseException):
            inner = cause.args[0]
        if inner is None:
            break
        cause = inner
    text = str(cause) or str(exc)
    return text if len(text) < 300 else text[:300] + "..."
