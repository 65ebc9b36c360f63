"""``tornadoservice serve``: a real configuration, or the demo when none is given."""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from pathlib import Path

import click

from tornadoservice.cli.errors import CLIError
from tornadoservice.cli.hints import program
from tornadoservice.config.options import check_host
from tornadoservice.config.tree import ConfigError, ConfigTree
from tornadoservice.identity.devpki import DevPKIError
from tornadoservice.identity.tls import TLSConfigError, server_ssl_context
from tornadoservice.server import idlespin
from tornadoservice.server.demo_state import DEMO_HOST, DEMO_SERVICE, DemoFiles, ensure_demo
from tornadoservice.server.metrics import (
    ExpiryCollector,
    MetricsListener,
    check_metrics_port,
    prepare_multiprocess,
)
from tornadoservice.server.server import ServerStartError, TornadoServer
from tornadoservice.server.service import ServiceDefinitionError
from tornadoservice.server.workers import Supervisor, worker_count

_STARTUP_ERRORS = (
    ConfigError,
    TLSConfigError,
    ServiceDefinitionError,
    ServerStartError,
    DevPKIError,
)


def run_server(
    configs: tuple[Path, ...],
    *,
    port: int | None,
    host: str | None,
    state_dir: Path,
    processes: int = 1,
    drain_timeout: float | None = None,
) -> None:
    demo: DemoFiles | None = None
    if host and (problem := check_host(host)) is not None:
        raise CLIError(f"--host {host!r}: {problem}", 2)
    try:
        if configs:
            config = ConfigTree.load(*configs)
        else:
            host = host or DEMO_HOST
            demo = ensure_demo(state_dir, host)
            config = ConfigTree.load(demo.config)
        files = configs if configs else (demo.config,) if demo is not None else ()
        server = TornadoServer(
            config,
            port=port,
            host=host,
            config_files=files,
            drain_timeout=drain_timeout,
            freeze_heap=True,  # this process is the server's own
        )
    except _STARTUP_ERRORS as exc:
        raise CLIError(str(exc)) from exc
    except OSError as exc:
        raise CLIError(f"{exc.filename or 'state directory'}: {exc.strerror}") from exc
    if processes != 1:
        _serve_with_workers(server, demo, worker_count(processes))
        return
    try:
        idlespin.run(_serve(server, demo), server.idle_spin)
    except _STARTUP_ERRORS as exc:
        raise CLIError(str(exc)) from exc


def _serve_with_workers(server: TornadoServer, demo: DemoFiles | None, count: int) -> None:
    """Bind and check everything here, so that a startup error is one line from the parent."""
    try:
        server_ssl_context(*server.tls_files())
        sockets = server.bind()
    except _STARTUP_ERRORS as exc:
        raise CLIError(str(exc)) from exc

    listener: MetricsListener | None = None
    directory: Path | None = None
    if server.metrics_options.port is not None:
        # The workers write their values to files there; this process serves their sum.
        try:
            check_metrics_port(server.metrics_options)  # before forking: fail in one line
        except OSError as exc:
            raise CLIError(str(exc.strerror or exc)) from exc
        directory = Path(tempfile.mkdtemp(prefix="tornadoservice-metrics-"))
        prepare_multiprocess(directory)
        server.serve_metrics = False

    def announce() -> None:
        nonlocal listener
        if directory is not None:  # after the forks: no listener thread in the workers
            cert, _, ca_dir = server.tls_files()
            listener = MetricsListener(
                server.metrics_options, ExpiryCollector(lambda: (cert, ca_dir))
            )
        if demo is not None:
            click.echo(demo_instructions(demo, server))
        click.echo(f"{count} worker processes (pid {os.getpid()} supervises)", err=True)

    try:
        code = Supervisor(server, sockets, count).run(ready=announce)
    finally:
        if listener is not None:
            listener.close()
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
    if code:
        raise CLIError("the worker processes could not start or kept failing (see the log)")


async def _serve(server: TornadoServer, demo: DemoFiles | None) -> None:
    def announce() -> None:
        if demo is not None:
            click.echo(demo_instructions(demo, server), err=False)

    await server.serve_forever(ready=announce)


def _demo_addresses(host: str, port: int) -> tuple[str, str]:
    """What the demo listens on, and the address to reach it at (in a URL)."""
    bracketed = f"[{host}]" if ":" in host else host
    if host in ("", "0.0.0.0"):
        return f"0.0.0.0:{port} (every IPv4 address)", f"127.0.0.1:{port}"
    if host == "::":
        return f"[::]:{port} (every address)", f"[::1]:{port}"
    return f"{bracketed}:{port}", f"{bracketed}:{port}"


def demo_instructions(demo: DemoFiles, server: TornadoServer) -> str:
    port = next(iter(server.ports.values()))
    listening, reach = _demo_addresses(server.host, port)
    url = f"https://{reach}/{DEMO_SERVICE}"
    proxy, ca_dir = shlex.quote(str(demo.proxy)), shlex.quote(str(demo.ca_dir))
    curl = f"curl --cert {proxy} --capath {ca_dir}"
    command = program()
    credentials = f"--proxy {proxy} --ca-dir {ca_dir}"
    call = f"{command} call {credentials} {url}"
    lines = [
        f"tornadoservice demo: serving {DEMO_SERVICE} on {url} (listening on {listening})",
        f"  state: {demo.state_dir} (CA, host and user certificates, a proxy, demo.cfg)",
    ]
    argv = shlex.split(command)
    if len(argv) == 1 and argv[0] != "tornadoservice":
        activate = Path(argv[0]).with_name("activate")
        if activate.is_file():
            hint = f"'. {shlex.quote(str(activate))}' puts it there"
            lines.append(f"  ('tornadoservice' is not on PATH: {hint})")
    return "\n".join(
        [
            *lines,
            "Try:",
            f"  {curl} -d method=whoami {url}",
            f"  {curl} -d method=add --data-urlencode 'args=[1, 2]' {url}",
            f"  {call} hello '\"world\"'",
            f"  {call} now",
            f"  {call} adminOnly            # refused: 403, the demo user lacks the property",
            f"  {command} get-file {credentials} {url} hello.txt hello-copy.txt",
            f"  {command} put-file {credentials} {url} hello-copy.txt my-upload.txt",
            f"  {command} get-file {credentials} {url} my-upload.txt my-upload-back.txt",
            "Stop with Ctrl-C.",
        ]
    )
