"""``tornadoservice call``: one RPC from the command line, through :class:`TornadoClient`.

The options shared with ``get-file``/``put-file`` (target, credentials, timeout) are defined once
here (:func:`client_options`) and turned into a client by :func:`build_client`. Exit codes: 0
``S_OK``, 1 ``S_ERROR``, 2 usage (bad option, unusable credentials, unknown service name), 3
connection (no server reached, TLS refused, no answer in time).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from tornadoservice.cli.errors import CLIError

if TYPE_CHECKING:
    from tornadoservice.client.tornadoclient import TornadoClient

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_CONNECTION = 0, 1, 2, 3
DEFAULT_MAX_REPLY_SIZE = 256 * 1024 * 1024
"""``tornadoservice.client.rpc.DEFAULT_MAX_REPLY_SIZE``, repeated so that ``--help`` does not
import the client (a test checks they are equal)."""

_F = TypeVar("_F", bound=Callable[..., Any])


def client_options(command: _F) -> _F:
    """The options every command that talks to a service takes."""
    options = [
        click.option(
            "--config",
            "configs",
            multiple=True,
            type=click.Path(path_type=Path),
            help="Configuration (.cfg or .yaml) resolving System/Service targets and naming "
            "the CA directory; repeat to merge several, later ones win.",
        ),
        click.option(
            "--proxy",
            type=click.Path(path_type=Path),
            help="Proxy file (default $X509_USER_PROXY or /tmp/x509up_u<uid>).",
        ),
        click.option("--cert", type=click.Path(path_type=Path), help="Certificate (with --key)."),
        click.option("--key", type=click.Path(path_type=Path), help="Private key (with --cert)."),
        click.option(
            "--ca-dir",
            type=click.Path(path_type=Path),
            help="Hashed CA directory (default: the configuration's CALocation, $X509_CERT_DIR).",
        ),
        click.option("--token", help="Bearer token sent as 'Authorization: Bearer'."),
        click.option(
            "--token-file", type=click.Path(path_type=Path), help="File holding a bearer token."
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0, min_open=True),
            default=600.0,
            show_default=True,
            help="Seconds for the whole call; for get-file/put-file, the longest wait for the "
            "next bytes of the transfer.",
        ),
        click.option(
            "--max-reply-size",
            type=click.IntRange(min=1),
            default=DEFAULT_MAX_REPLY_SIZE,
            show_default=True,
            help="Largest answer read, in bytes once decompressed (a downloaded file has no "
            "bound).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def build_client(
    target: str,
    *,
    configs: tuple[Path, ...] = (),
    proxy: Path | None = None,
    cert: Path | None = None,
    key: Path | None = None,
    ca_dir: Path | None = None,
    token: str | None = None,
    token_file: Path | None = None,
    timeout: float = 600.0,
    max_reply_size: int = DEFAULT_MAX_REPLY_SIZE,
) -> TornadoClient:
    """A client for ``target`` (URL or System/Service) from the command-line options."""
    from tornadoservice.client.credentials import find_ca_dir, find_proxy
    from tornadoservice.client.tornadoclient import TornadoClient
    from tornadoservice.client.urls import URLResolutionError, resolve_urls
    from tornadoservice.config.tree import ConfigError, ConfigTree

    if (cert is None) != (key is None):
        raise CLIError("--cert and --key go together", EXIT_USAGE)
    if token is not None and token_file is not None:
        raise CLIError("--token and --token-file exclude each other", EXIT_USAGE)
    try:
        config = ConfigTree.load(*configs) if configs else ConfigTree()
    except (ConfigError, OSError) as exc:
        raise CLIError(f"cannot load the configuration: {exc}", EXIT_USAGE) from exc
    # --ca-dir goes to the client as ca_dir: it must win over a configured Grid-Security too.
    if ca_dir is None and find_ca_dir(config) is None:
        raise CLIError("no CA directory: give --ca-dir or set X509_CERT_DIR", EXIT_USAGE)
    if "://" not in target and not configs:
        raise CLIError(
            f"{target!r} is not a URL: give https://host:port/System/Service, "
            "or --config FILE to resolve System/Service names",
            EXIT_USAGE,
        )
    try:
        resolve_urls(target, config)  # fail early, as a usage error
    except URLResolutionError as exc:
        raise CLIError(str(exc), EXIT_USAGE) from exc
    explicit = cert is not None or token is not None or token_file is not None
    as_host = bool(config.getValue("/DIRAC/Security/UseServerCertificate", False))
    found = find_proxy(proxy)
    if not explicit and not as_host and (found is None or not found.exists()):
        # Without this, the call would go out anonymously and come back a puzzling 401.
        missing = (
            f"the proxy file {found} does not exist"
            if found is not None
            else f"no proxy at $X509_USER_PROXY or /tmp/x509up_u{os.getuid()}"
        )
        raise CLIError(
            f"no credential: {missing}; make one with 'tornadoservice proxy-init', "
            "or give --proxy, --cert/--key or --token",
            EXIT_USAGE,
        )
    kwargs: dict[str, Any] = {
        "timeout": timeout,
        "config": config,
        "max_reply_size": max_reply_size,
    }
    if ca_dir is not None:
        kwargs["ca_dir"] = str(ca_dir)
    if cert is not None:
        kwargs.update(cert_file=str(cert), key_file=str(key))
    elif proxy is not None:
        kwargs["proxyLocation"] = str(proxy)
    if token is not None:
        kwargs["token"] = token
    if token_file is not None:
        kwargs["token_file"] = str(token_file)
    return TornadoClient(target, **kwargs)


@contextmanager
def client_errors(target: str) -> Iterator[None]:
    """Turn the client's exceptions into one-line CLI errors with the right exit code."""
    from tornadoservice.client.credentials import CredentialError
    from tornadoservice.client.rpc import RPCConnectionError
    from tornadoservice.identity.tls import TLSConfigError

    try:
        yield
    except RPCConnectionError as exc:
        text = str(exc) if exc.request_sent else f"cannot reach {exc}"
        raise CLIError(text, EXIT_CONNECTION) from exc
    except (TLSConfigError, CredentialError) as exc:
        raise CLIError(str(exc), EXIT_USAGE) from exc


def parse_args(args: tuple[str, ...]) -> list[Any]:
    parsed: list[Any] = []
    for index, arg in enumerate(args, 1):
        try:
            parsed.append(json.loads(arg))
        except json.JSONDecodeError as exc:
            raise CLIError(
                f"argument {index} is not JSON ({exc.msg}): {arg!r}; quote strings as '\"{arg}\"'",
                EXIT_USAGE,
            ) from None
    return parsed


def plain(value: Any) -> Any:
    """``value`` with what JSON cannot show made readable: dates in ISO 8601, bytes in base64."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"base64:{base64.b64encode(value).decode()}"
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def pretty(value: Any) -> str:
    """A value for people: JSON (so strings stay quoted and scripts can parse it), indented
    when it is a container."""
    indent = 2 if isinstance(value, dict | list | tuple) and value else None
    return json.dumps(plain(value), indent=indent, ensure_ascii=False, default=repr)


def run_call(
    client: TornadoClient, target: str, method: str, args: list[Any], as_json: bool
) -> int:
    from tornadoservice.wire.jencode import encode

    try:
        with client_errors(target):
            result = client.execute_rpc(method, *args)
    finally:
        client.close()
    printable = {k: v for k, v in result.items() if k not in ("CallStack", "ExecInfo")}
    if as_json:
        click.echo(encode(printable))
    elif result["OK"]:
        click.echo(pretty(result["Value"]))
    if not result["OK"]:
        if not as_json:
            click.echo(f"tornadoservice: S_ERROR: {result['Message']}", err=True)
        return EXIT_FAILURE
    return EXIT_OK


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("target")
@click.argument("method")
@click.argument("args", nargs=-1)
@client_options
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the whole S_OK/S_ERROR structure as DIRAC JSON (dates and bytes as __dCls).",
)
def call(target: str, method: str, args: tuple[str, ...], as_json: bool, **options: Any) -> None:
    """Call METHOD of the service TARGET with JSON ARGs.

    TARGET is an https:// URL or System/Service (resolved with --config from
    /Systems/<System>/URLs/<Service>; several URLs fail over). Each ARG is JSON: numbers as
    they are, strings quoted ('"text"'), lists, objects. The value is printed readably (dates in
    ISO 8601, bytes as base64:...), or with --json the whole result. Exit codes: 0 S_OK,
    1 S_ERROR, 2 usage, 3 connection.
    """
    parsed = parse_args(args)
    client = build_client(target, **options)
    sys.exit(run_call(client, target, method, parsed, as_json))
