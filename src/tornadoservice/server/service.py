"""Everything precomputed for one served service: its method table, rules and shared state.

A :class:`ServiceRuntime` is built once when the server starts (or a service is registered in
code). Requests then only do dictionary lookups: no configuration walks, no ``inspect`` calls, no
rule parsing on the hot path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tornadoservice.authz.rules import Rule, method_rule
from tornadoservice.server.arguments import ArgumentSpec, read_arguments
from tornadoservice.server.decorators import AUTHENTICATION_ATTR, AUTHORIZATION_ATTR
from tornadoservice.server.initialization import InitState
from tornadoservice.server.limits import BufferBudget
from tornadoservice.server.pool import WorkerPool

if TYPE_CHECKING:
    from tornadoservice.config.registry import Registry
    from tornadoservice.config.tree import ConfigTree
    from tornadoservice.server.handler import TornadoService


DEFAULT_BUFFERED_BYTES = 128 * 1024 * 1024
"""Default of ``/Systems/Tornado/MaxBufferedBytes``."""


class ServiceDefinitionError(ValueError):
    """A handler class or its configuration cannot be served (raised at start, not per request)."""


@dataclass(slots=True)
class ServerState:
    """State shared by all services of one server; replaced wholesale on a configuration reload."""

    config: ConfigTree
    registry: Registry
    executor: WorkerPool
    max_body_size: int = 100 * 1024 * 1024
    """Largest request body a service accepts (after decompression); 413 beyond it."""
    max_anonymous_body_size: int = 1024 * 1024
    """``/Systems/Tornado/MaxAnonymousBodySize``: largest body of a caller with neither a client
    certificate nor a bearer token that verifies (a visitor); 413 beyond it."""

    @property
    def body_ceiling(self) -> int:
        """Bytes Tornado reads at most before cutting a connection off (413 decided before)."""
        return 2 * self.max_body_size + 65536

    max_upload_size: int = 1 << 40
    """Largest streamed upload (``streamFromClient`` with a raw body)."""
    upload_timeout: float = 3600.0
    """Seconds a streamed upload may take from its first to its last byte."""
    token_verifier: Any = None
    """Verifies bearer tokens (``JWT`` scheme); ``None`` when no token issuer is configured."""
    voms_trust: Any = None
    """VOMS server certificates (``VomsTrust``) that may vouch for VOMS attributes, if any."""
    trusted_proxies: frozenset[str] = frozenset()
    """Addresses of load balancers allowed to pass the client certificate in headers."""
    threads: int = 8
    """``/Systems/Tornado/MaxThreads``: threads of each service's own pool for its sync methods
    (a service whose methods all block leaves the other services their threads)."""
    max_queued_calls: int = 256
    """``/Systems/Tornado/MaxQueuedCalls``: sync calls of one service that may wait for one of
    its threads; beyond that a call is answered 503 with ``Retry-After``."""
    write_timeout: float = 60.0
    """``/Systems/Tornado/WriteTimeout``: seconds an answer may wait without the client reading
    any of it; then the connection is closed and its buffers freed."""
    buffers: BufferBudget = field(default_factory=lambda: BufferBudget(DEFAULT_BUFFERED_BYTES))
    """``/Systems/Tornado/MaxBufferedBytes``: request bodies held at once by the process (after
    decompression, until their answers left); a request past it is answered 503. Never less
    than ``max_body_size``, so that one body of the largest size is always accepted alone."""
    security_log: bool = False
    """``/Systems/Tornado/SecurityLog``: also write DIRAC's security-log lines
    (``Incoming request``, ``Returning response``, ``Unauthorized access``)."""
    in_flight: int = 0
    drained: asyncio.Event | None = None

    def request_started(self) -> None:
        self.in_flight += 1

    def request_done(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0 and self.drained is not None:
            self.drained.set()


@dataclass(frozen=True, slots=True)
class ExportedMethod:
    """One ``export_<name>`` method with what is needed to call it without inspecting it again."""

    name: str
    attribute: str
    """``export_<name>``: the attribute called on the handler instance, as DIRAC does."""
    function: Callable[..., Any]
    """As the class gives it (a classmethod bound to the class, a staticmethod's function)."""
    is_async: bool
    arguments: ArgumentSpec
    """How many positional arguments it takes and what ``types_<name>`` accepts."""
    rule: Rule
    authentication: tuple[str, ...]

    def call(self, handler: object, args: list[Any]) -> Any:
        """``getattr(handler, "export_<name>")(*args)``: a classmethod export binds to the
        handler's own class, a staticmethod export gets no ``self``."""
        return getattr(handler, self.attribute)(*args)

    def argument_error(self, args: list[Any], extra: int = 0) -> str | None:
        """The 400 message for ``args`` (plus ``extra`` given by the server), or ``None``."""
        return self.arguments.arity_error(len(args) + extra) or self.arguments.type_error(args)


def build_method_table(
    handler: type[TornadoService],
    authorization_options: Mapping[str, str],
    registry: Registry,
) -> dict[str, ExportedMethod]:
    """Scan ``handler`` for exported methods and resolve each one's rules once."""
    prefix = handler.METHOD_PREFIX
    default_auth = tuple(handler.DEFAULT_AUTHENTICATION)
    table: dict[str, ExportedMethod] = {}
    for attr in dir(handler):
        if not attr.startswith(prefix) or len(attr) == len(prefix):
            continue
        func = getattr(handler, attr)
        if not callable(func):
            continue
        name = attr[len(prefix) :]
        # @authorization/@authentication may sit above @classmethod/@staticmethod: then the
        # mark is on the descriptor, not on the function the class gives.
        declared = inspect.getattr_static(handler, attr)
        code_rule: Sequence[str] | None = getattr(
            func, AUTHORIZATION_ATTR, getattr(declared, AUTHORIZATION_ATTR, None)
        )
        if code_rule is None:
            code_rule = getattr(handler, f"auth_{name}", None)
        if isinstance(code_rule, str):
            raise ServiceDefinitionError(f"auth_{name} must be a list of strings, not a string")
        try:
            rule = method_rule(
                name,
                code_rule,
                authorization_options,
                default_rule=handler.DEFAULT_AUTHORIZATION,
                registry=registry,
            )
        except ValueError as exc:
            raise ServiceDefinitionError(f"{handler.__name__}.export_{name}: {exc}") from exc
        schemes: tuple[str, ...] = getattr(
            func, AUTHENTICATION_ATTR, getattr(declared, AUTHENTICATION_ATTR, default_auth)
        )
        try:
            arguments = read_arguments(handler, attr, name)
        except ValueError as exc:
            raise ServiceDefinitionError(f"{handler.__name__}.export_{name}: {exc}") from exc
        table[name] = ExportedMethod(
            name=name,
            attribute=attr,
            function=func,
            is_async=inspect.iscoroutinefunction(func),
            arguments=arguments,
            rule=rule,
            authentication=schemes,
        )
    return table


@dataclass(slots=True)
class ServiceRuntime:
    """A served service: its name, URL, configuration section and precomputed method table."""

    name: str
    """``System/Service``."""
    section: str
    """``/Systems/<System>/Services/<Service>``."""
    url: str
    state: ServerState
    methods: dict[str, ExportedMethod]
    start_time: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    start_monotonic: float = field(default_factory=time.monotonic)
    initialized: bool = False
    init_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    init: InitState = field(default_factory=InitState)
    """Attempts of ``initializeHandler`` so far (see ``server.initialization``)."""
    pool: WorkerPool = field(init=False)
    """This service's own threads: its sync methods and ``initializeHandler`` run there."""

    def __post_init__(self) -> None:
        self.pool = WorkerPool(
            self.state.threads,
            thread_name_prefix=f"tornadoservice-{self.name.replace('/', '-')}",
            max_queued=self.state.max_queued_calls,
        )

    @property
    def service_info(self) -> dict[str, Any]:
        """What ``initializeHandler`` receives, with DIRAC's keys."""
        system = self.name.split("/", 1)[0]
        return {
            "serviceName": self.name,
            "serviceSectionPath": self.section,
            "systemSectionPath": f"/Systems/{system}",
            "URL": self.url,
            "csPaths": [self.section],
            "validNames": [self.name],
        }
