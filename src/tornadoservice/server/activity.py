"""One activity record per request, for DIRAC's ``activityMonitoringReporter`` and the metrics.

A service that sets ``activityMonitoringReporter`` (an object with ``addRecord(dict)``, as
DIRAC's ``MonitoringReporter``) gets, when each of its requests finishes, a record with DIRAC's
keys (``timestamp`` in epoch milliseconds, ``Host``, ``ServiceName`` as ``System_Service``,
``Location``, ``ResponseTime`` in seconds, ``MethodName``, ``Protocol``, ``Status`` ``OK`` or
``ERROR``) and ours (``StatusCode``, ``User``, ``Group``, ``BytesIn``, ``BytesOut``). Committing
the records is done as DIRAC's server does it, about once a minute: a reporter with a
``commit()`` method has it called in a worker thread (:data:`COMMIT_INTERVAL` seconds after the
previous one, when the next record arrives; a quiet service commits at its next request).

When metrics are on, the default reporter (:class:`~tornadoservice.server.metrics.
MetricsReporter`) receives the same records and feeds the Prometheus metrics. With no reporter
at all, nothing is built: the cost of a request is one attribute check.

A reporter that raises is logged (once per reporter class) and never fails the request.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from tornadoservice.server.service import ServiceRuntime

log = logging.getLogger("tornadoservice.server")

UNKNOWN_METHOD = "unknown"
"""The metrics label of a method the service does not export (label values stay bounded)."""
NO_METHOD = "none"
"""The label of a request that named no method (refused before, or a probe of the path)."""


class Reporter(Protocol):
    def addRecord(self, record: dict[str, Any]) -> Any: ...


COMMIT_INTERVAL = 60.0
"""Seconds between two ``commit()`` calls of a service's reporter (DIRAC's monitoring loop)."""

_default: list[Reporter] = []
"""Reporters every service's requests go to (the metrics reporter when metrics are on)."""
_complained: set[type] = set()
_host = socket.getfqdn()
_last_commit: dict[int, float] = {}
"""``id(reporter)`` -> ``time.monotonic()`` of its last commit (or first record)."""


def add_default_reporter(reporter: Reporter) -> None:
    if not any(existing is reporter for existing in _default):
        _default.append(reporter)


def remove_default_reporter(reporter: Reporter) -> None:
    _default[:] = [existing for existing in _default if existing is not reporter]


def method_label(runtime: ServiceRuntime, method: str | None) -> str:
    """The method as a label: an exported one by name, anything else as one of two values."""
    if method is None:
        return NO_METHOD
    return method if method in runtime.methods else UNKNOWN_METHOD


def wanted(own: Reporter | None) -> bool:
    return own is not None or bool(_default)


def _commit_later(reporter: Reporter, runtime: ServiceRuntime) -> None:
    commit = getattr(reporter, "commit", None)
    if commit is None:
        return
    now = time.monotonic()
    last = _last_commit.setdefault(id(reporter), now)
    if now - last < COMMIT_INTERVAL:
        return
    _last_commit[id(reporter)] = now

    def run() -> None:
        try:
            commit()
        except Exception:
            log.exception("activity reporter %s: commit failed", type(reporter).__name__)

    with contextlib.suppress(RuntimeError):  # the server is shutting its pool down
        runtime.state.executor.submit(run)


def report(
    own: Reporter | None,
    runtime: ServiceRuntime,
    *,
    method: str | None,
    status: int,
    seconds: float,
    user: str | None,
    group: str | None,
    bytes_in: int,
    bytes_out: int,
) -> None:
    """Give the record of one finished request to the service's reporter and the defaults."""
    record: dict[str, Any] = {
        "timestamp": int(time.time() * 1000),
        "Host": _host,
        "ServiceName": runtime.name.replace("/", "_"),
        "Location": runtime.url,
        "ResponseTime": seconds,
        "MethodName": method_label(runtime, method),
        "Protocol": "https",
        "Status": "OK" if status < 400 else "ERROR",
        "StatusCode": status,
        "User": user,
        "Group": group,
        "BytesIn": bytes_in,
        "BytesOut": bytes_out,
        "Service": runtime.name,
    }
    reporters: list[Reporter] = [own] if own is not None else []
    if own is not None:
        _commit_later(own, runtime)
    for reporter in (*reporters, *_default):
        try:
            reporter.addRecord(record)
        except Exception:
            kind = type(reporter)
            if kind not in _complained:
                _complained.add(kind)
                log.exception("activity reporter %s failed (logged once)", kind.__name__)
