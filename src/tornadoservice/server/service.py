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
from tornadoservice.server.decorators import AUTHENTICATION_ATTR, AUTHORIZATION_ATTR
from tornadoservice.server.pool import WorkerPool

if TYPE_CHECKING:
    from tornadoservice.config.registry import Registry
    from tornadoservice.config.tree import ConfigTree
    from tornadoservice.server.handler import TornadoService


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
    function: Callable[..., Any]
    is_async: bool
    min_args: int
    max_args: int | None
    """``None`` when the method takes ``*args``."""
    rule: Rule
    authentication: tuple[str, ...]

    def arity_error(self, given: int) -> str | None:
        """The 400 message for ``given`` positional arguments, or ``None`` when they fit."""
        if given >= self.min_args and (self.max_args is None or given <= self.max_args):
            return None
        if self.max_args is None:
            expected, last = f"at least {self.min_args}", self.min_args
        elif self.min_args == self.max_args:
            expected, last = str(self.min_args), self.min_args
        else:
            expected, last = f"from {self.min_args} to {self.max_args}", self.max_args
        noun = "argument" if last == 1 else "arguments"
        return f"{self.name}() takes {expected} {noun}, {given} given"


def _arity(func: Callable[..., Any], name: str) -> tuple[int, int | None]:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise ServiceDefinitionError(f"cannot read the signature of export_{name}: {exc}") from exc
    params = list(signature.parameters.values())[1:]  # drop self
    min_args = 0
    max_args: int | None = 0
    for param in params:
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            assert max_args is not None
            max_args += 1
            if param.default is param.empty:
                min_args += 1
        elif param.kind is param.VAR_POSITIONAL:
            max_args = None
        elif param.kind is param.KEYWORD_ONLY and param.default is param.empty:
            raise ServiceDefinitionError(
                f"export_{name} has a required keyword-only argument {param.name!r}: "
                "RPC arguments are positional"
            )
    return min_args, max_args


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
        code_rule: Sequence[str] | None = getattr(func, AUTHORIZATION_ATTR, None)
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
        schemes: tuple[str, ...] = getattr(func, AUTHENTICATION_ATTR, default_auth)
        min_args, max_args = _arity(func, name)
        table[name] = ExportedMethod(
            name=name,
            function=func,
            is_async=inspect.iscoroutinefunction(func),
            min_args=min_args,
            max_args=max_args,
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
        }
