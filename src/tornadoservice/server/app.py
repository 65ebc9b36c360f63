"""Turning a configuration into Tornado applications: one per listening port.

Every ``Protocol = https`` service under ``/Systems/<System>/Services/<Service>`` is served on
``/Systems/Tornado/Port`` (default 8443) unless its section sets its own ``Port``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tornado.web import Application, RequestHandler

from tornadoservice.config.tree import ConfigTree
from tornadoservice.core.log import DiracLogger, escape_control, level_number
from tornadoservice.core.returnvalues import S_ERROR, strip_result_for_wire
from tornadoservice.server.errors import STATUS_ERRNO, RequestError
from tornadoservice.server.handler import TornadoService, access_log
from tornadoservice.server.lean import ServiceApplication
from tornadoservice.server.loader import extension_packages, find_tornado_handler, load_handler
from tornadoservice.server.probes import Health, ProbeHandler, probe_routes
from tornadoservice.server.service import (
    ServerState,
    ServiceDefinitionError,
    ServiceRuntime,
    build_method_table,
)
from tornadoservice.wire.jencode import encode

DEFAULT_PORT = 8443


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A service to serve: its name, port and handler class."""

    name: str
    port: int
    handler: type[TornadoService]


class NotFoundHandler(RequestHandler):
    """JSON 404 for every path that is not a service, whatever the HTTP method."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")

    def prepare(self) -> None:
        raise RequestError(404, f"{self.request.path} is not found")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = exc.client_message if isinstance(exc, RequestError) else self._reason
        self.set_header("Content-Type", "application/json")
        self.finish(
            encode(strip_result_for_wire(S_ERROR(STATUS_ERRNO.get(status_code, 0), message)))
        )

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        # A 404 is not worth a warning; the access log records it.
        if not isinstance(value, RequestError):
            super().log_exception(typ, value, tb)


def _log_request(handler: RequestHandler) -> None:
    # TornadoService writes its own, richer line in on_finish.
    if isinstance(handler, TornadoService) or not access_log.isEnabledFor(logging.INFO):
        return
    if isinstance(handler, ProbeHandler) and handler.get_status() == 200:
        return  # balancers probe every few seconds: only a probe that is not ok is worth a line
    request = handler.request
    access_log.info(
        "%s - - %s %s %d %.2fms",
        request.remote_ip,
        escape_control(str(request.method)),
        escape_control(request.path),
        handler.get_status(),
        1000.0 * request.request_time(),
    )


def _port(value: str | None, where: str) -> int:
    if value is None:
        return DEFAULT_PORT
    try:
        port = int(value)
    except ValueError:
        raise ServiceDefinitionError(f"{where}: Port must be a number, not {value!r}") from None
    if not 0 <= port <= 65535:
        raise ServiceDefinitionError(f"{where}: Port {port} is out of range")
    return port


def _check_log_level(config: ConfigTree, section: str) -> str | None:
    """The service's ``LogLevel`` option (a DIRAC level name), if set."""
    level = config.get(f"{section}/LogLevel")
    if level and level_number(level) is None:
        raise ServiceDefinitionError(
            f"{section}/LogLevel: unknown level {level!r} "
            "(DEBUG, VERBOSE, INFO, NOTICE, WARN, ERROR, ALWAYS or FATAL)"
        )
    return level


def _configured_handler(config: ConfigTree, name: str, section: str) -> type[TornadoService]:
    """The handler class of ``section``: its ``HandlerPath``, else DIRAC's default location."""
    handler_path = config.get(f"{section}/HandlerPath")
    if handler_path:
        origin = config.origin(f"{section}/HandlerPath")
        return load_handler(handler_path, name, origin.parent if origin else None)
    extensions = config.get("/DIRAC/Extensions")
    handler = find_tornado_handler(name, extensions)
    if handler is None:
        system, service = name.split("/", 1)
        searched = ", ".join(extension_packages(extensions))
        raise ServiceDefinitionError(
            f"{name}: no HandlerPath in {section}, and no module "
            f"<package>.{system}System.Service.Tornado{service}Handler in {searched}"
        )
    return handler


def services_from_config(
    config: ConfigTree, registered: Mapping[str, type[TornadoService]] | None = None
) -> list[ServiceSpec]:
    """The HTTPS services of ``config``, each with its port and handler class.

    ``registered`` maps ``System/Service`` to a handler class given in code; it wins over
    ``HandlerPath``, and also adds services the configuration does not mention.
    """
    registered = dict(registered or {})
    default_port = _port(config.get("/Systems/Tornado/Port"), "/Systems/Tornado/Port")
    specs: list[ServiceSpec] = []
    for system in config.sections("/Systems"):
        services_path = f"/Systems/{system}/Services"
        if not config.has_section(services_path):
            continue
        for service in config.sections(services_path):
            section = f"{services_path}/{service}"
            name = f"{system}/{service}"
            protocol = (config.get(f"{section}/Protocol") or "").lower()
            if protocol != "https" and name not in registered:
                continue
            handler = registered.pop(name, None)
            if handler is None:
                handler = _configured_handler(config, name, section)
            _check_log_level(config, section)
            own_port = config.get(f"{section}/Port")
            port = _port(own_port, f"{section}/Port") if own_port else default_port
            specs.append(ServiceSpec(name, port, handler))
    specs.extend(ServiceSpec(name, default_port, handler) for name, handler in registered.items())
    return specs


def bind_runtime(handler: type[TornadoService], runtime: ServiceRuntime) -> type[TornadoService]:
    """Attach ``runtime`` to the class that will serve it.

    The first service a class serves uses the class itself, so what ``initializeHandler`` sets
    on ``cls`` is visible as ``Handler.attribute``, as in DIRAC. A class already serving a
    service (a second service with the same handler, or a second server in one process) gets a
    subclass, so the two never share state. The service's ``LogLevel`` option, if set, is the
    level of its ``log``.
    """
    log = DiracLogger(f"tornadoservice.service.{runtime.name.replace('/', '.')}")
    level = _check_log_level(runtime.state.config, runtime.section)
    if level:
        log.setLevel(level)
    if "_runtime" not in handler.__dict__:
        handler._runtime = runtime
        handler.log = log
        return handler
    return type(
        handler.__name__,
        (handler,),
        {"_runtime": runtime, "log": log, "__module__": handler.__module__},
    )


def build_application(
    specs: list[ServiceSpec],
    state: ServerState,
    *,
    url_host: str,
    port: int,
    runtimes: list[tuple[ServiceRuntime, type[TornadoService]]] | None = None,
    health: Health | None = None,
) -> Application:
    """One Tornado application serving ``specs`` (all on ``port``).

    Each service's runtime and handler class are appended to ``runtimes`` when given, so a
    configuration reload can recompute their method tables. With ``health``, the application
    also answers the probes (``/health/live``, ``/health/ready``) and the services are
    registered there with the classes that serve them.
    """
    health = health if health is not None else Health()
    routes: list[Any] = probe_routes(health)
    for spec in specs:
        if spec.name.count("/") != 1 or not all(spec.name.split("/")):
            raise ServiceDefinitionError(f"service name {spec.name!r} is not System/Service")
        section = "/Systems/{}/Services/{}".format(*spec.name.split("/"))
        methods = build_method_table(
            spec.handler, state.config.options(f"{section}/Authorization"), state.registry
        )
        runtime = ServiceRuntime(
            name=spec.name,
            section=section,
            url=f"https://{url_host}:{port}/{spec.name}",
            state=state,
            methods=methods,
        )
        bound = bind_runtime(spec.handler, runtime)
        routes.append((f"/{spec.name}", bound))
        health.services.append((runtime, bound))
        if runtimes is not None:
            runtimes.append((runtime, spec.handler))
    return ServiceApplication(
        routes,
        default_handler_class=NotFoundHandler,
        compress_response=True,
        log_function=_log_request,
    )
