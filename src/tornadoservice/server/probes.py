"""``GET /health/live`` and ``GET /health/ready`` on every HTTPS port, without authentication.

A load balancer or an orchestrator has no grid certificate: these two paths answer whoever
connects (the TLS handshake still happens; a client certificate is optional). They say nothing
a caller could use: service names, and a short reason when not ready.

* ``/health/live``: 200 ``{"status": "ok"}`` while the process answers at all.
* ``/health/ready``: 200 ``{"status": "ok"}`` once every service's ``initializeHandler`` has
  succeeded and while the server is not draining; else 503
  ``{"status": "unavailable", "reason": ...}`` (``draining``, or the services not initialized
  and why).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tornado.web import RequestHandler

from tornadoservice.server.initialization import not_ready_reason

if TYPE_CHECKING:
    from tornadoservice.server.handler import TornadoService
    from tornadoservice.server.service import ServiceRuntime

LIVE_PATH = "/health/live"
READY_PATH = "/health/ready"


@dataclass(slots=True)
class Health:
    """What the probes report: the server's services and whether it is draining."""

    services: list[tuple[ServiceRuntime, type[TornadoService]]] = field(default_factory=list)
    """Each served service's runtime and the class that serves it."""
    draining: bool = False

    def not_ready(self) -> str | None:
        """Why the server is not ready, or ``None`` when it is."""
        if self.draining:
            return "draining"
        waiting = [
            f"{runtime.name}: {not_ready_reason(runtime)}"
            for runtime, _ in self.services
            if not runtime.initialized
        ]
        return "; ".join(waiting) if waiting else None


class ProbeHandler(RequestHandler):
    """Answers one probe path; ``kind`` is ``live`` or ``ready``."""

    SUPPORTED_METHODS = ("GET",)

    def initialize(self, health: Health, kind: str) -> None:
        self.health = health
        self.kind = kind

    def get(self) -> None:
        reason = self.health.not_ready() if self.kind == "ready" else None
        body: dict[str, Any] = {"status": "ok"}
        if reason is not None:
            self.set_status(503)
            body = {"status": "unavailable", "reason": reason}
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"status": "error", "reason": self._reason}))


def probe_routes(health: Health) -> list[Any]:
    """The two routes, for :func:`~tornadoservice.server.app.build_application`."""
    return [
        (LIVE_PATH, ProbeHandler, {"health": health, "kind": "live"}),
        (READY_PATH, ProbeHandler, {"health": health, "kind": "ready"}),
    ]
