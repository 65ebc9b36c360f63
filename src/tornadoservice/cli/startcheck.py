"""``tornadoservice serve --config FILE --check``: load everything ``serve`` would, serve nothing.

For systemd's ``ExecStartPre`` (and a container's health of its configuration): the
configuration, the host certificate, key and CA directory, every handler class and method
table, and, with ``--initialize`` or ``/Systems/Tornado/InitializeAtStart = yes``, every
``initializeHandler``. No port is bound (the running instance may hold it). Each problem is one
line; the exit code is 0 when there is none, 1 otherwise.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from cryptography import x509

from tornadoservice.cli.errors import CLIError
from tornadoservice.config.active import clear_active
from tornadoservice.config.tree import ConfigError, ConfigTree
from tornadoservice.identity.tls import TLSConfigError, server_ssl_context
from tornadoservice.server.app import build_application
from tornadoservice.server.initialization import InitializationError, initialize_now
from tornadoservice.server.server import ServerStartError, TornadoServer
from tornadoservice.server.service import ServiceDefinitionError

_LOAD_ERRORS = (ConfigError, ServiceDefinitionError, ServerStartError)


def _certificate_line(cert: Path) -> str:
    try:
        loaded = x509.load_pem_x509_certificate(cert.read_bytes())
    except (OSError, ValueError):
        return f"host certificate {cert}"  # the TLS check above has said what is wrong
    left = loaded.not_valid_after_utc - dt.datetime.now(dt.UTC)
    return f"host certificate {cert} ({loaded.subject.rfc4514_string()}, {left.days} days left)"


def check_server(
    configs: tuple[Path, ...], *, port: int | None, host: str | None, initialize: bool
) -> None:
    """Print what was loaded, or raise :class:`CLIError` listing every problem found."""
    if not configs:
        raise CLIError("--check needs --config (the demo has nothing to check)")
    try:
        config = ConfigTree.load(*configs)
    except ConfigError as exc:
        raise CLIError(f"check failed: {exc}") from exc
    try:
        server = TornadoServer(config, port=port, host=host, config_files=configs)
    except _LOAD_ERRORS as exc:
        raise CLIError(f"check failed: {exc}") from exc
    except OSError as exc:
        raise CLIError(f"check failed: {exc.filename}: {exc.strerror}") from exc
    problems: list[str] = []
    lines: list[str] = []
    try:
        cert, key, ca_dir = server.tls_files()
        try:
            server_ssl_context(cert, key, ca_dir)
            lines.append(_certificate_line(cert))
        except TLSConfigError as exc:
            problems.append(str(exc))
        for configured, specs in server._by_port().items():
            try:
                build_application(
                    specs,
                    server.state,
                    url_host=server._url_host(),
                    port=configured,
                    health=server.health,
                )
            except ServiceDefinitionError as exc:
                problems.append(str(exc))
        if not problems and (initialize or server.initialize_at_start):
            try:
                initialize_now(server.health.services)
            except InitializationError as exc:
                problems.append(str(exc))
    finally:
        clear_active(server)
        for runtime, _ in server.health.services:
            runtime.pool.shutdown(wait=False, cancel_futures=True)
        server.state.executor.shutdown(wait=False, cancel_futures=True)
    if problems:
        raise CLIError("check failed:\n  " + "\n  ".join(problems))
    initialized = initialize or server.initialize_at_start
    for runtime, _ in server.health.services:
        what = "initialized" if initialized else "loaded"
        lines.append(f"{runtime.name}: {len(runtime.methods)} method(s), {what}")
    click.echo("\n".join(["ok: " + ", ".join(map(str, configs)), *lines]))
