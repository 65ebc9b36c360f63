"""The ``tornadoservice`` command: serve, init, check, call, get-file, put-file, pki, proxy-init,
proxy-info.

Errors are :class:`CLIError` exceptions carrying an exit code; :func:`main` prints them as one line
(``tornadoservice: error: ...``) and never shows a traceback. One exit-code scheme for every
subcommand (README, "Calling it"): 0 success; 1 failure (an ``S_ERROR`` answer, a server or
configuration that cannot start, a file that cannot be read or written, a PKI refusal, an
expired proxy, a service that cannot load); 2 usage (a bad option or argument, options that
exclude each other, no credential found, an unusable credential for a call); 3 connection (no
server reached, TLS refused, no answer in time); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from tornadoservice.cli.call import call
from tornadoservice.cli.check import check
from tornadoservice.cli.describe import describe
from tornadoservice.cli.errors import CLIError
from tornadoservice.cli.init import init
from tornadoservice.cli.pki import pki, proxy_init
from tornadoservice.cli.proxyinfo import proxy_info
from tornadoservice.cli.transfer import get_file, put_file
from tornadoservice.core.log import configure_logging

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_CONNECTION = 0, 1, 2, 3


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "tornadoservice"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tornadoservice")
def cli() -> None:
    """Secure RPC services over HTTPS, wire-compatible with DIRAC.

    Exit codes: 0 success, 1 failure (S_ERROR, server cannot start, unreadable file, expired
    proxy), 2 usage (bad option or argument, no credential), 3 connection (server unreachable,
    TLS refused).
    """


@cli.command()
@click.option(
    "--config",
    "configs",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Configuration file (.cfg or .yaml); repeat to merge several, later ones win.",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), help="Port (default: /Systems/Tornado/Port or 8443)."
)
@click.option("--host", help="Address to listen on (demo default 127.0.0.1; config default: all).")
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    help="Where the demo keeps its PKI and configuration (default $XDG_STATE_HOME/tornadoservice).",
)
@click.option(
    "--processes",
    type=click.IntRange(0, 256),
    default=1,
    show_default=True,
    help="Worker processes sharing the port (0: one per CPU core).",
)
@click.option(
    "--drain-timeout",
    type=click.FloatRange(min=0, max=86400),
    help="Seconds SIGTERM waits for in-flight calls (default /Systems/Tornado/DrainTimeout, 30).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    help="Least severe log level written to stderr (access lines are info).",
)
@click.option(
    "--log-format",
    default="text",
    show_default=True,
    type=click.Choice(["text", "json"], case_sensitive=False),
    help="text: one line per record (UTC time, level, logger[pid]); json: one JSON object "
    "per line (access lines with peer, DN, group, service, method, status, duration, bytes, "
    "request id).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Load the configuration, certificates and handlers, then exit 0 or 1 (ExecStartPre).",
)
@click.option(
    "--initialize",
    is_flag=True,
    help="With --check: run every initializeHandler too (as InitializeAtStart = yes does).",
)
def serve(
    configs: tuple[Path, ...],
    port: int | None,
    host: str | None,
    state_dir: Path | None,
    processes: int,
    drain_timeout: float | None,
    log_level: str,
    log_format: str,
    check: bool,
    initialize: bool,
) -> None:
    """Serve the HTTPS services of a configuration, or the demo service when none is given."""
    from tornadoservice.cli.serve import run_server

    configure_logging(log_level, log_format=log_format.lower())
    if initialize and not check:
        raise click.UsageError("--initialize goes with --check")
    if check:
        from tornadoservice.cli.startcheck import check_server

        check_server(configs, port=port, host=host, initialize=initialize)
        return
    run_server(
        configs,
        port=port,
        host=host,
        state_dir=state_dir or default_state_dir(),
        processes=processes,
        drain_timeout=drain_timeout,
    )


cli.add_command(call)
cli.add_command(check)
cli.add_command(describe)
cli.add_command(get_file)
cli.add_command(put_file)
cli.add_command(pki)
cli.add_command(proxy_init)
cli.add_command(proxy_info)
cli.add_command(init)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning every error into a one-line message and an exit code."""
    try:
        cli.main(args=argv, prog_name="tornadoservice", standalone_mode=False)
    except CLIError as exc:
        click.echo(f"tornadoservice: error: {exc}", err=True)
        return exc.exit_code
    except click.UsageError as exc:
        hint = f"\nTry '{exc.ctx.command_path} --help' for help." if exc.ctx else ""
        click.echo(f"tornadoservice: usage error: {exc.format_message()}{hint}", err=True)
        return EXIT_USAGE
    except click.ClickException as exc:
        click.echo(f"tornadoservice: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except click.Abort:
        click.echo("tornadoservice: aborted", err=True)
        return EXIT_FAILURE
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
