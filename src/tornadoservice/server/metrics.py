"""Prometheus metrics, served in text format at ``/metrics`` on a plain-HTTP listener of their own.

Off unless ``/Systems/Tornado/Metrics/Port`` is set; bound to ``/Systems/Tornado/Metrics/Host``
(default ``127.0.0.1``: the scraper runs on the host, or the site opens it on purpose). The
listener has no TLS and no authentication, and tells nothing about callers beyond the counts.

Metrics (all prefixed ``tornadoservice_``):

* ``requests_total{service,method,status}`` and ``request_duration_seconds{service,method}``
  (histogram), ``request_bytes_total{service}`` and ``response_bytes_total{service}``: fed by
  the default activity reporter (:mod:`.activity`), one record per request. ``method`` is an
  exported method's name, ``unknown`` for any other name sent, ``none`` without one: a client
  cannot create label values.
* ``requests_in_flight``, ``calls_waiting{service}`` (sync calls queued for a thread) and
  ``threads_busy{service}``: sampled every second.
* ``tls_handshake_failures_total{reason}``: ``reason`` is OpenSSL's short reason
  (``CERTIFICATE_VERIFY_FAILED``, ...), ``timeout``, or ``other``.
* ``certificate_expiry_seconds{file}`` (the host certificate) and
  ``crl_next_update_seconds{file}`` (each CRL of the CA directory): seconds left, read at each
  scrape, negative once past.
* ``reloads_total{what,outcome}``: ``config`` or ``tls``, ``ok`` or ``failed``.

With ``serve --processes N`` the supervisor serves ``/metrics`` and the workers write their
values to files (prometheus-client's multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``): one
scrape sums them all. ``prometheus_client`` is imported only when metrics are turned on, after
that directory is chosen, since it reads the variable when imported.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tornadoservice.server import activity

if TYPE_CHECKING:
    from tornadoservice.config.tree import ConfigTree
    from tornadoservice.server.service import ServerState, ServiceRuntime

log = logging.getLogger("tornadoservice.server")

DEFAULT_HOST = "127.0.0.1"
MULTIPROCESS_ENVIRONMENT = "PROMETHEUS_MULTIPROC_DIR"
SAMPLE_INTERVAL = 1.0
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_REASON = re.compile(r"^[A-Z0-9_]{1,64}$")


@dataclass(frozen=True, slots=True)
class MetricsOptions:
    port: int | None
    """``None``: metrics off."""
    host: str = DEFAULT_HOST

    @classmethod
    def from_config(cls, config: ConfigTree) -> MetricsOptions:
        """Read strictly: a typo in the port must not silently turn metrics off."""
        raw = (config.get("/Systems/Tornado/Metrics/Port") or "").strip()
        host = (config.get("/Systems/Tornado/Metrics/Host") or "").strip() or DEFAULT_HOST
        if not raw:
            return cls(None, host)
        if not raw.isdigit() or int(raw) > 65535:
            raise ValueError(f"/Systems/Tornado/Metrics/Port: {raw!r} is not a port number")
        return cls(int(raw), host)


class Metrics:
    """The metric objects of this process (one set, whatever the number of servers)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter(
            "tornadoservice_requests",
            "Requests answered, by service, method and HTTP status.",
            ["service", "method", "status"],
        )
        self.duration = Histogram(
            "tornadoservice_request_duration_seconds",
            "Time from the request's arrival to its answer, by service and method.",
            ["service", "method"],
            buckets=DURATION_BUCKETS,
        )
        self.bytes_in = Counter(
            "tornadoservice_request_bytes",
            "Request body bytes received (after decompression), by service.",
            ["service"],
        )
        self.bytes_out = Counter(
            "tornadoservice_response_bytes",
            "Response body bytes sent, by service.",
            ["service"],
        )
        self.in_flight = Gauge(
            "tornadoservice_requests_in_flight",
            "Requests received and not yet answered.",
            multiprocess_mode="livesum",
        )
        self.waiting = Gauge(
            "tornadoservice_calls_waiting",
            "Sync calls waiting for a thread of the service's pool.",
            ["service"],
            multiprocess_mode="livesum",
        )
        self.busy = Gauge(
            "tornadoservice_threads_busy",
            "Threads of the service's pool running a call.",
            ["service"],
            multiprocess_mode="livesum",
        )
        self.tls_failures = Counter(
            "tornadoservice_tls_handshake_failures",
            "TLS handshakes that failed, by OpenSSL's reason.",
            ["reason"],
        )
        self.reloads = Counter(
            "tornadoservice_reloads",
            "Reloads of the configuration or of the certificates, CAs and CRLs, by outcome.",
            ["what", "outcome"],
        )


class MetricsReporter:
    """The default activity reporter: each record becomes metric values."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any, Any]] = {}
        """The labelled children of each (service, method, status): ``labels()`` validates
        and locks on every call, a dictionary lookup does not (the keys are bounded)."""

    def _children_of(self, service: str, method: str, status: int) -> tuple[Any, Any, Any, Any]:
        key = (service, method, status)
        children = self._children.get(key)
        if children is None:
            m = self.metrics
            children = self._children[key] = (
                m.requests.labels(service, method, str(status)),
                m.duration.labels(service, method),
                m.bytes_in.labels(service),
                m.bytes_out.labels(service),
            )
        return children

    def addRecord(self, record: dict[str, Any]) -> None:
        requests, duration, bytes_in, bytes_out = self._children_of(
            record["Service"], record["MethodName"], record["StatusCode"]
        )
        requests.inc()
        duration.observe(record["ResponseTime"])
        if record["BytesIn"]:
            bytes_in.inc(record["BytesIn"])
        if record["BytesOut"]:
            bytes_out.inc(record["BytesOut"])


_lock = threading.Lock()
_metrics: Metrics | None = None


def enable() -> Metrics:
    """Create this process's metrics (once) and feed them from every request."""
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = Metrics()
            activity.add_default_reporter(MetricsReporter(_metrics))
        return _metrics


def current() -> Metrics | None:
    return _metrics


def count_tls_failure(reason: str | None) -> None:
    """A failed TLS handshake (no-op while metrics are off)."""
    if _metrics is not None:
        label = reason if reason and (reason == "timeout" or _REASON.match(reason)) else "other"
        _metrics.tls_failures.labels(label).inc()


def watch_handshake(stream: Any) -> None:
    """Count the TLS handshake of a Tornado ``SSLIOStream`` if it fails (metrics on only)."""
    if _metrics is None or not hasattr(stream, "wait_for_handshake"):
        return
    import ssl

    def done(future: Any) -> None:
        if future.cancelled() or future.exception() is None:
            return
        error = getattr(future.exception(), "real_error", None) or stream.error
        if isinstance(error, ssl.SSLError):  # a bare TCP connect-and-close is not a failure
            count_tls_failure(error.reason)

    stream.wait_for_handshake().add_done_callback(done)


def count_reload(what: str, ok: bool) -> None:
    if _metrics is not None:
        _metrics.reloads.labels(what, "ok" if ok else "failed").inc()


def sample(state: ServerState, runtimes: Iterable[ServiceRuntime]) -> None:
    """Set the sampled gauges from the server's state (on its loop, every second)."""
    if _metrics is None:
        return
    _metrics.in_flight.set(state.in_flight)
    for runtime in runtimes:
        pool = runtime.pool
        _metrics.waiting.labels(runtime.name).set(pool.queued())
        _metrics.busy.labels(runtime.name).set(pool.busy())


# ------------------------------------------------------------------ expiry, read at scrape time
def _seconds_left(moment: dt.datetime | None) -> float:
    if moment is None:
        return math.inf
    return (moment - dt.datetime.now(dt.UTC)).total_seconds()


class ExpiryCollector:
    """Seconds until the host certificate and each CRL expire, read when scraped."""

    def __init__(self, files: Callable[[], tuple[Path, Path]]) -> None:
        self.files = files
        """Returns the host certificate and the CA directory (they may change on reload)."""

    def collect(self) -> Iterator[Any]:
        from cryptography import x509
        from prometheus_client.core import GaugeMetricFamily

        cert_file, ca_dir = self.files()
        cert = GaugeMetricFamily(
            "tornadoservice_certificate_expiry_seconds",
            "Seconds until the host certificate expires (negative: expired).",
            labels=["file"],
        )
        try:
            loaded = x509.load_pem_x509_certificate(cert_file.read_bytes())
            cert.add_metric([str(cert_file)], _seconds_left(loaded.not_valid_after_utc))
        except (OSError, ValueError):
            pass  # the server could not start with it; a reload keeps the previous one
        yield cert
        crls = GaugeMetricFamily(
            "tornadoservice_crl_next_update_seconds",
            "Seconds until each CRL of the CA directory is due for renewal (negative: stale).",
            labels=["file"],
        )
        try:
            entries = sorted(ca_dir.glob("*.r[0-9]*"))
        except OSError:
            entries = []
        for entry in entries:
            try:
                crl = x509.load_pem_x509_crl(entry.read_bytes())
            except (OSError, ValueError):
                continue
            crls.add_metric([entry.name], _seconds_left(crl.next_update_utc))
        yield crls


# ------------------------------------------------------------------ the listener
class MetricsListener:
    """``/metrics`` in Prometheus text format, on plain HTTP, in a thread of its own."""

    def __init__(self, options: MetricsOptions, expiry: ExpiryCollector) -> None:
        from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

        if os.environ.get(MULTIPROCESS_ENVIRONMENT):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry = REGISTRY
        served = CollectorRegistry()
        served.register(_Forward(registry))
        served.register(expiry)
        assert options.port is not None
        try:
            self._server, self._thread = start_http_server(
                options.port, options.host, registry=served
            )
        except OSError as exc:
            raise OSError(
                exc.errno, f"metrics port {options.host}:{options.port}: {exc.strerror}"
            ) from exc
        self.port: int = self._server.server_address[1]
        self.host = options.host
        log.info("metrics on http://%s:%d/metrics", _bracketed(self.host), self.port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class _Forward:
    """Collects another registry (the process's, or the workers' files) into the served one."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Any]:
        yield from self.registry.collect()


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


# ------------------------------------------------------------------ serve --processes N
def prepare_multiprocess(directory: Path) -> None:
    """In the supervisor, before anything imports ``prometheus_client`` and before forking."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROCESS_ENVIRONMENT] = str(directory)


def worker_exited(pid: int) -> None:
    """The supervisor forgets a dead worker's live gauges (its counters stay counted)."""
    if os.environ.get(MULTIPROCESS_ENVIRONMENT):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


# ------------------------------------------------------------------ one server's part
class ServerMetrics:
    """What one :class:`~tornadoservice.server.server.TornadoServer` runs for its metrics: the
    sampler of its gauges and, unless a supervisor serves them, the listener."""

    def __init__(
        self,
        options: MetricsOptions,
        state: ServerState,
        runtimes: Callable[[], Iterable[ServiceRuntime]],
        files: Callable[[], tuple[Path, Path]],
        *,
        listen: bool,
    ) -> None:
        from tornado.ioloop import PeriodicCallback

        enable()
        self.listener = MetricsListener(options, ExpiryCollector(files)) if listen else None
        self._sampler = PeriodicCallback(lambda: sample(state, runtimes()), SAMPLE_INTERVAL * 1000)
        self._sampler.start()

    def stop(self) -> None:
        self._sampler.stop()
        if self.listener is not None:
            self.listener.close()
            self.listener = None


def check_metrics_port(options: MetricsOptions) -> None:
    """Raise ``OSError`` (with the address in its message) if the metrics port cannot be bound."""
    import socket

    assert options.port is not None
    family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((options.host, options.port))
        except OSError as exc:
            raise OSError(
                exc.errno, f"metrics port {options.host}:{options.port}: {exc.strerror}"
            ) from exc
