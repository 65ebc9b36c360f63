"""``TornadoServer``: listen on the configured ports, serve the services, stop gracefully.

Startup problems (port in use, missing certificate, bad handler path, bad configuration) raise
:class:`ServerStartError` with a one-line message; the CLI prints it and exits with code 1.
On SIGINT/SIGTERM the server stops accepting connections, waits for in-flight requests (up to
``drain_timeout`` seconds), then closes the remaining connections.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import os
import signal
import socket
import ssl
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop, PeriodicCallback
from tornado.netutil import bind_sockets

from tornadoservice.config.active import clear_active, set_active
from tornadoservice.config.locations import SYSTEM_GRID_SECURITY, ca_location, host_cert_and_key
from tornadoservice.config.options import (
    byte_size,
    check_host,
    listen_address,
    seconds,
    whole_number,
)
from tornadoservice.config.registry import Registry
from tornadoservice.config.tree import ConfigError, ConfigTree
from tornadoservice.identity.forwarded import parse_trusted_proxies
from tornadoservice.identity.tls import reload_server_context, server_ssl_context
from tornadoservice.identity.tokens import TokenConfigError, TokenVerifier
from tornadoservice.identity.voms import VomsError, VomsTrust
from tornadoservice.server import heap, idlespin, sdnotify
from tornadoservice.server.accept import add_sockets
from tornadoservice.server.app import ServiceSpec, build_application, services_from_config
from tornadoservice.server.handler import TornadoService
from tornadoservice.server.httpserver import RPCHTTPServer
from tornadoservice.server.initialization import (
    InitializationError,
    Initializer,
    RetryPolicy,
    initialize_now,
    option_flag,
    option_seconds,
)
from tornadoservice.server.limits import BufferBudget
from tornadoservice.server.metrics import MetricsOptions, ServerMetrics, count_reload
from tornadoservice.server.pool import WorkerPool
from tornadoservice.server.probes import Health
from tornadoservice.server.service import (
    DEFAULT_BUFFERED_BYTES,
    ServerState,
    ServiceDefinitionError,
    ServiceRuntime,
    build_method_table,
)
from tornadoservice.server.transport import HttptoolsServer

log = logging.getLogger("tornadoservice.server")


class ServerStartError(RuntimeError):
    """The server cannot start; the message is one line, meant for the operator."""


def _voms_trust(config: ConfigTree) -> VomsTrust | None:
    """VOMS server certificates from ``/DIRAC/Security/VOMSDir`` (``<dir>/<vo>/*.pem``).

    Without it, VOMS attributes are read but not verified, and the identity says so.
    """
    directory = config.get("/DIRAC/Security/VOMSDir")
    if not directory:
        return None
    try:
        return VomsTrust.from_vomsdir(Path(directory).expanduser())
    except (OSError, VomsError) as exc:
        raise ServerStartError(f"/DIRAC/Security/VOMSDir: {exc}") from exc


DEFAULT_DRAIN_TIMEOUT = 30.0


def _checked_drain(seconds: float) -> float:
    if not math.isfinite(seconds) or seconds < 0:
        raise ServerStartError(f"the drain timeout must be 0 or more seconds, not {seconds!r}")
    return seconds


def _drain_timeout(config: ConfigTree) -> float:
    """``/Systems/Tornado/DrainTimeout``, strictly: a typo must not silently mean 30 s."""
    value = config.get("/Systems/Tornado/DrainTimeout")
    if value is None or not value.strip():
        return DEFAULT_DRAIN_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        raise ServerStartError(
            f"/Systems/Tornado/DrainTimeout: {value!r} is not a number of seconds"
        ) from None
    try:
        return _checked_drain(seconds)
    except ServerStartError as exc:
        raise ServerStartError(f"/Systems/Tornado/DrainTimeout: {exc}") from None


@dataclass(frozen=True, slots=True)
class _Derived:
    """What the server computes from a configuration, built whole before anything is swapped."""

    registry: Registry
    trusted_proxies: frozenset[str]
    token_verifier: TokenVerifier | None
    voms_trust: VomsTrust | None


def _derive(config: ConfigTree) -> _Derived:
    try:
        # Opt-in: empty (the default) means no address may forward a client certificate.
        trusted_proxies = parse_trusted_proxies(config.get("/Systems/Tornado/TrustedProxies"))
    except ValueError as exc:
        raise ServerStartError(f"/Systems/Tornado/TrustedProxies: {exc}") from exc
    try:
        # None without /Registry/TokenIssuers: the JWT scheme then refuses every token.
        token_verifier = TokenVerifier.from_config(config)
    except TokenConfigError as exc:
        raise ServerStartError(str(exc)) from exc
    return _Derived(
        registry=Registry.from_config(config),
        trusted_proxies=trusted_proxies,
        token_verifier=token_verifier,
        voms_trust=_voms_trust(config),
    )


HTTP_IMPLEMENTATIONS = ("tornado", "httptools")


def _http_implementation(config: ConfigTree) -> str:
    """``/Systems/Tornado/HTTPImplementation``: the asyncio + httptools transport (the
    default, :mod:`tornadoservice.server.transport`) or Tornado's own (``tornado``)."""
    value = (config.get("/Systems/Tornado/HTTPImplementation") or "httptools").strip().lower()
    if value not in HTTP_IMPLEMENTATIONS:
        raise ServerStartError(
            f"/Systems/Tornado/HTTPImplementation: {value!r} is not one of "
            + ", ".join(HTTP_IMPLEMENTATIONS)
        )
    return value


def _resource_options(config: ConfigTree, threads: int) -> dict[str, Any]:
    """The ServerState options that bound memory and work (see their docstrings there)."""
    max_body = byte_size(config, "/Systems/Tornado/MaxBodySize", 100 * 1024 * 1024)
    buffered = byte_size(config, "/Systems/Tornado/MaxBufferedBytes", DEFAULT_BUFFERED_BYTES)
    return {
        "max_body_size": max_body,
        "max_anonymous_body_size": byte_size(
            config, "/Systems/Tornado/MaxAnonymousBodySize", 1024 * 1024
        ),
        "threads": threads,
        "max_queued_calls": whole_number(config, "/Systems/Tornado/MaxQueuedCalls", 256, minimum=0),
        "write_timeout": seconds(config, "/Systems/Tornado/WriteTimeout", 60.0),
        "buffers": BufferBudget(max(buffered, max_body)),
    }


TRANSPORT_TIMEOUTS = {
    "IdleConnectionTimeout": 600.0,
    "BodyTimeout": 600.0,
    "HandshakeTimeout": 60.0,
}
"""Seconds (defaults) of the transport's timeouts, ``/Systems/Tornado/<name>``."""


def _transport_timeout(config: ConfigTree, name: str) -> float:
    return seconds(config, f"/Systems/Tornado/{name}", TRANSPORT_TIMEOUTS[name])


def _ca_reload_interval(config: ConfigTree) -> float:
    """``/Systems/Tornado/CAReloadInterval``: seconds between CA/CRL re-reads, 0 for never."""
    return seconds(config, "/Systems/Tornado/CAReloadInterval", 3600.0, allow_zero=True)


class TornadoServer:
    """Serve every HTTPS service of ``config`` (and those given in ``handlers``).

    ``port`` overrides ``/Systems/Tornado/Port``; ``host`` the listening address (all interfaces by
    default, as DIRAC; ``/Systems/Tornado/ListenAddress`` in the configuration); ``drain_timeout``
    ``/Systems/Tornado/DrainTimeout`` (default 30 s).
    """

    def __init__(
        self,
        config: ConfigTree,
        *,
        handlers: Mapping[str, type[TornadoService]] | None = None,
        port: int | None = None,
        host: str | None = None,
        drain_timeout: float | None = None,
        config_files: Sequence[Path] = (),
        freeze_heap: bool = False,
    ) -> None:
        self.config = config
        self.freeze_heap = freeze_heap
        """The process is this server's own: once it listens, what it made so far is frozen
        out of the cyclic garbage collector's walks (:mod:`~tornadoservice.server.heap`)."""
        self.config_files = tuple(config_files)
        """Files that :meth:`reload_config` re-reads on SIGHUP (none if made in code)."""
        self._port_override = port
        self.runtimes: list[tuple[ServiceRuntime, type[TornadoService]]] = []
        if port is not None:
            config.set_option("/Systems/Tornado/Port", str(port))
        if host and (problem := check_host(host)) is not None:
            raise ServerStartError(f"the listening address {host!r} is {problem}")
        self.host = host.strip("[]") if host is not None else listen_address(config)
        self.drain_timeout = (
            _drain_timeout(config) if drain_timeout is None else _checked_drain(drain_timeout)
        )
        """Seconds SIGTERM waits for in-flight calls (``/Systems/Tornado/DrainTimeout``)."""
        self.idle_spin = idlespin.idle_spin(config)
        """Seconds the server's own loop polls before it sleeps (:mod:`.idlespin`)."""
        self.specs = services_from_config(config, handlers)
        if not self.specs:
            raise ServerStartError("the configuration defines no service with Protocol = https")
        threads = whole_number(
            config, "/Systems/Tornado/MaxThreads", min(32, (os.cpu_count() or 1) + 4)
        )
        for name in TRANSPORT_TIMEOUTS:  # read in listen(): checked now, before anything binds
            _transport_timeout(config, name)
        _ca_reload_interval(config)
        derived = _derive(config)
        self.state = ServerState(
            config=config,
            registry=derived.registry,
            trusted_proxies=derived.trusted_proxies,
            token_verifier=derived.token_verifier,
            voms_trust=derived.voms_trust,
            executor=WorkerPool(max_workers=threads, thread_name_prefix="tornadoservice"),
            **_resource_options(config, threads),
        )
        # What gConfig, Registry and TornadoClient("System/Service") read inside this server.
        set_active(config, derived.registry, owner=self)
        self.servers: list[HTTPServer | HttptoolsServer] = []
        self.ports: dict[int, int] = {}
        """Configured port -> bound port (they differ when 0 asked for a free port)."""
        self._stopping: asyncio.Event | None = None
        self.ssl_context: ssl.SSLContext | None = None
        self._reload_timer: PeriodicCallback | None = None
        self.health = Health()
        """What ``/health/ready`` reports: the services' initialization, and draining."""
        try:
            self.initialize_at_start = option_flag(config, "/Systems/Tornado/InitializeAtStart")
            self._initializer = Initializer(RetryPolicy.from_config(config))
            self.drain_delay = option_seconds(
                config, "/Systems/Tornado/DrainDelay", 0.0, allow_zero=True
            )
            """Seconds a stopping server still accepts, answering ``/health/ready`` with 503,
            so that balancers take it out before its port closes (default 0)."""
            self.metrics_options = MetricsOptions.from_config(config)
            self.state.security_log = option_flag(config, "/Systems/Tornado/SecurityLog")
        except ValueError as exc:
            raise ServerStartError(str(exc)) from exc
        self.serve_metrics = True
        """Whether :meth:`listen` opens the metrics port (a supervisor serves it for workers)."""
        self.metrics: ServerMetrics | None = None

    # ------------------------------------------------------------------ start
    def tls_files(self) -> tuple[Path, Path, Path]:
        """Certificate, key and CA directory, found as DIRAC does (``Grid-Security`` first)."""
        cert, key = host_cert_and_key(self.config)
        ca_dir = ca_location(self.config) or SYSTEM_GRID_SECURITY / "certificates"
        return cert, key, ca_dir

    def _by_port(self) -> dict[int, list[ServiceSpec]]:
        by_port: dict[int, list[ServiceSpec]] = defaultdict(list)
        for spec in self.specs:
            by_port[spec.port].append(spec)
        return by_port

    def bind(self) -> dict[int, list[socket.socket]]:
        """Bind the listening sockets of every configured port (before forking workers)."""
        bound: dict[int, list[socket.socket]] = {}
        for port in self._by_port():
            try:
                bound[port] = bind_sockets(port, self.host or None)
                self.ports[port] = bound[port][0].getsockname()[1]
            except OSError as exc:
                for sockets in bound.values():
                    for sock in sockets:
                        sock.close()
                if exc.errno == errno.EADDRINUSE:
                    raise ServerStartError(f"port {port} is already in use") from exc
                raise ServerStartError(f"cannot listen on port {port}: {exc.strerror}") from exc
        return bound

    def listen(self, sockets_by_port: dict[int, list[socket.socket]] | None = None) -> None:
        """Serve on the current IOLoop, on ``sockets_by_port`` (from :meth:`bind`, possibly in
        a parent process) or on sockets bound now."""
        implementation = _http_implementation(self.config)
        cert, key, ca_dir = self.tls_files()
        ssl_context = server_ssl_context(cert, key, ca_dir)
        self.ssl_context = ssl_context
        own_sockets = sockets_by_port is None
        if sockets_by_port is None:
            sockets_by_port = self.bind()
        pending: list[tuple[HTTPServer | HttptoolsServer, list[socket.socket]]] = []
        for port, specs in self._by_port().items():
            sockets = sockets_by_port[port]
            bound = sockets[0].getsockname()[1]
            self.ports[port] = bound
            url_host = self._url_host()
            app = build_application(
                specs,
                self.state,
                url_host=url_host,
                port=bound,
                runtimes=self.runtimes,
                health=self.health,
            )
            limits: dict[str, Any] = {
                # The services enforce the configured limit themselves (after decompression) and
                # answer 413; the transport's own ceiling sits above it so that it only stops
                # bodies that keep coming after the 413 was decided.
                "max_body_size": self.state.body_ceiling,
                "idle_connection_timeout": _transport_timeout(self.config, "IdleConnectionTimeout"),
                "body_timeout": _transport_timeout(self.config, "BodyTimeout"),
            }
            server: HTTPServer | HttptoolsServer
            if implementation == "httptools":
                server = HttptoolsServer(
                    app,
                    ssl_options=ssl_context,
                    handshake_timeout=_transport_timeout(self.config, "HandshakeTimeout"),
                    **limits,
                )
            else:
                server = RPCHTTPServer(
                    app, ssl_options=ssl_context, decompress_request=True, xheaders=False, **limits
                )
            for sock in sockets:
                if sock.family in (socket.AF_INET, socket.AF_INET6):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pending.append((server, sockets))
            self.servers.append(server)
        # Only now accept connections: InitializeAtStart has run every initializeHandler.
        try:
            self._initialize_services()
            self._start_metrics()
        except ServerStartError:
            if own_sockets:
                for sockets in sockets_by_port.values():
                    for sock in sockets:
                        sock.close()
            raise
        for server, sockets in pending:
            if isinstance(server, HTTPServer):
                # Tornado's accept loop spins when descriptors run out; ours pauses (.accept).
                add_sockets(server, sockets)
            else:
                server.add_sockets(sockets)
        for spec in self.specs:
            log.info(
                "serving %s on https://%s:%d/%s",
                spec.name,
                self._url_host(),
                self.ports[spec.port],
                spec.name,
            )

    def _start_metrics(self) -> None:
        if self.metrics_options.port is None or self.metrics is not None:
            return
        try:
            self.metrics = ServerMetrics(
                self.metrics_options,
                self.state,
                lambda: (runtime for runtime, _ in self.health.services),
                lambda: (self.tls_files()[0], self.tls_files()[2]),
                listen=self.serve_metrics,
            )
        except OSError as exc:
            raise ServerStartError(str(exc.strerror or exc)) from exc

    def _initialize_services(self) -> None:
        """``InitializeAtStart``: every ``initializeHandler`` now, a failure stopping the start;
        otherwise they run in the background once the loop runs (retried when they fail)."""
        if self.initialize_at_start:
            try:
                initialize_now(self.health.services)
            except InitializationError as exc:
                raise ServerStartError(str(exc)) from exc
            return
        IOLoop.current().add_callback(self._initializer.start, self.health.services)

    def _url_host(self) -> str:
        if self.host and self.host not in ("0.0.0.0", "::"):
            return f"[{self.host}]" if ":" in self.host else self.host
        return self.config.get("/DIRAC/Hostname") or socket.getfqdn()

    # ------------------------------------------------------------------ configuration reload
    def reload_config(self) -> bool:
        """Re-read the configuration files: registry, rules, token issuers, VOMS trust.

        Everything is built from the new files first; if any of it fails the running
        configuration stays as it was and the reason is logged. Services, ports and handler
        classes are fixed at start: changing them needs a restart.
        """
        if not self.config_files:
            log.info("no configuration file to re-read (configuration built in code)")
            return False
        try:
            config = ConfigTree.load(*self.config_files)
            if self._port_override is not None:
                config.set_option("/Systems/Tornado/Port", str(self._port_override))
            derived = _derive(config)
            tables = [
                (
                    runtime,
                    build_method_table(
                        handler,
                        config.options(f"{runtime.section}/Authorization"),
                        derived.registry,
                    ),
                )
                for runtime, handler in self.runtimes
            ]
        except (ConfigError, ServerStartError, ServiceDefinitionError) as exc:
            log.warning("configuration reload failed, keeping the previous one: %s", exc)
            return False
        self.config = config
        state = self.state
        state.config = config
        state.registry = derived.registry
        state.trusted_proxies = derived.trusted_proxies
        state.token_verifier = derived.token_verifier
        state.voms_trust = derived.voms_trust
        for runtime, methods in tables:
            runtime.methods = methods
        set_active(config, derived.registry, owner=self)
        if self.freeze_heap:
            heap.refreeze()
        log.info("configuration reloaded from %s", ", ".join(map(str, self.config_files)))
        return True

    def _on_sighup(self) -> None:
        sdnotify.reloading()
        if self.config_files:
            count_reload("config", self.reload_config())
        count_reload("tls", self.reload_tls())
        sdnotify.ready(self._status())

    def _status(self) -> str:
        """The line ``systemctl status`` shows."""
        ports = ", ".join(str(port) for port in sorted(set(self.ports.values())))
        return f"serving {len(self.specs)} service(s) on port(s) {ports}"

    # ------------------------------------------------------------------ CA and CRL reload
    def reload_tls(self) -> bool:
        """Re-read the host certificate, the CAs and the CRLs for new connections.

        Grid sites refresh CRLs daily (fetch-crl): a context caches what it has read, so a new
        one is built. If that fails, the previous set stays in use and the reason is logged.
        Connections already open keep the context they were made with.
        """
        if self.ssl_context is None:
            return False
        cert, key, ca_dir = self.tls_files()
        context, problem = reload_server_context(self.ssl_context, cert, key, ca_dir)
        if problem is not None:
            log.warning("CA/CRL reload failed, keeping the previous set: %s", problem)
            return False
        self.ssl_context = context
        for server in self.servers:
            # TCPServer wraps each accepted connection with its current ssl_options.
            server.ssl_options = context
        log.info("reloaded the host certificate, CAs and CRLs from %s", ca_dir)
        return True

    def _reload_tick(self) -> None:
        count_reload("tls", self.reload_tls())

    def _start_reload_timer(self) -> None:
        interval = _ca_reload_interval(self.config)
        if interval > 0:
            self._reload_timer = PeriodicCallback(self._reload_tick, interval * 1000)
            self._reload_timer.start()

    # ------------------------------------------------------------------ stop
    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish, then close every connection."""
        self.health.draining = True
        self._initializer.stop()
        if self.drain_delay:
            log.info("not ready any more; still accepting for %.3gs", self.drain_delay)
            await asyncio.sleep(self.drain_delay)
        if self._reload_timer is not None:
            self._reload_timer.stop()
        for server in self.servers:
            server.stop()
        if self.state.in_flight:
            log.info("waiting for %d in-flight request(s)", self.state.in_flight)
            self.state.drained = asyncio.Event()
            try:
                await asyncio.wait_for(self.state.drained.wait(), self.drain_timeout)
            except TimeoutError:
                log.warning(
                    "%d request(s) still running after %.0fs",
                    self.state.in_flight,
                    self.drain_timeout,
                )
        for server in self.servers:
            await server.close_all_connections()
        clear_active(self)
        if self.metrics is not None:
            self.metrics.stop()
            self.metrics = None
        self.state.executor.shutdown(wait=False, cancel_futures=True)
        for runtime, _ in self.runtimes:
            runtime.pool.shutdown(wait=False, cancel_futures=True)

    async def serve_forever(
        self,
        ready: Callable[[], None] | None = None,
        sockets_by_port: dict[int, list[socket.socket]] | None = None,
    ) -> None:
        """Listen, call ``ready``, run until SIGINT or SIGTERM, then stop gracefully."""
        self.listen(sockets_by_port)
        if self.freeze_heap:
            heap.freeze()
        self._start_reload_timer()
        sdnotify.ready(self._status())  # Type=notify: systemctl start returns now
        if ready is not None:
            ready()
        self._stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        try:
            await self._stopping.wait()
            log.info("stopping")
            sdnotify.stopping()
            await self.stop()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(signum)

    def run(self) -> None:
        """Blocking: serve until a signal asks to stop."""
        idlespin.run(self.serve_forever(), self.idle_spin)

    startTornado = run
