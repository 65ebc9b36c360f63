"""DIRAC's accessors and the built-in methods every service has (``ping``, ``echo``, ``whoami``).

They keep DIRAC's names, since a ported handler calls them as it did under DIRAC.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import TYPE_CHECKING, Any, ClassVar, cast

from tornado.web import RequestHandler

from tornadoservice._version import __version__
from tornadoservice.core.returnvalues import S_OK
from tornadoservice.server.introspection import DEFAULT_RULE as DEFAULT_DESCRIBE_RULE
from tornadoservice.server.introspection import describe

if TYPE_CHECKING:
    from tornadoservice.server.service import ServiceRuntime

__all__ = ["BuiltinMethods", "DiracAccessors"]

_VERSION = __version__  # what ping reports


class DiracAccessors(RequestHandler):
    """What a method may ask about its caller and its service, with DIRAC's names."""

    _runtime: ClassVar[ServiceRuntime]
    _creds: dict[str, Any]

    def getRemoteCredentials(self) -> dict[str, Any]:
        return self._creds

    srv_getRemoteCredentials = getRemoteCredentials

    def getRemoteAddress(self) -> tuple[str, int]:
        connection = self.request.connection
        address = getattr(getattr(connection, "context", None), "address", None)
        if isinstance(address, tuple) and len(address) >= 2:
            return str(address[0]), int(address[1])
        return str(self.request.remote_ip), 0

    srv_getRemoteAddress = getRemoteAddress

    def getUserDN(self) -> str | None:
        return cast(str | None, self._creds.get("DN"))

    def getUserName(self) -> str | None:
        return cast(str | None, self._creds.get("username"))

    def getUserGroup(self) -> str | None:
        return cast(str | None, self._creds.get("group"))

    def getProperties(self) -> list[str]:
        return list(self._creds.get("properties", []))

    def isRegisteredUser(self) -> bool:
        return bool(
            self._creds.get("username", "anonymous") != "anonymous"
            and self._creds.get("group", "visitor") != "visitor"
        )

    @classmethod
    def srv_getCSOption(cls, optionName: str, defaultValue: Any = False) -> Any:
        """An option of the service's section (or an absolute path), converted to the type of
        ``defaultValue`` as ``gConfig.getValue`` does. A classmethod, as in DIRAC, so that
        ``initializeHandler`` can read its service's options."""
        runtime = cls._runtime
        path = optionName if optionName.startswith("/") else f"{runtime.section}/{optionName}"
        return runtime.state.config.getValue(path, defaultValue)

    getCSOption = srv_getCSOption

    def srv_getFormattedRemoteCredentials(self) -> str:
        ip, port = self.getRemoteAddress()
        creds = self._creds
        return (
            f"({ip}:{port})[{creds.get('group', 'visitor')}:{creds.get('username', 'anonymous')}]"
        )

    def srv_getServiceName(self) -> str:
        return self._runtime.name

    def srv_getURL(self) -> str:
        return self._runtime.url


class BuiltinMethods(RequestHandler):
    """``ping``, ``echo`` and ``whoami``: they never block, so they run on the IOLoop."""

    _runtime: ClassVar[ServiceRuntime]
    _creds: dict[str, Any]

    auth_ping: ClassVar[list[str]] = ["all"]
    auth_echo: ClassVar[list[str]] = ["all"]
    auth_whoami: ClassVar[list[str]] = ["authenticated"]
    auth_describeService: ClassVar[list[str]] = DEFAULT_DESCRIBE_RULE
    types_describeService: ClassVar[list[type]] = []

    async def export_ping(self) -> dict[str, Any]:
        """Liveness and a few facts about the service and its host."""
        runtime = self._runtime
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        times = os.times()
        return S_OK(
            {
                "version": _VERSION,
                "time": now,
                "host uptime": _host_uptime(),
                "service start time": runtime.start_time.replace(tzinfo=None),
                "service uptime": int(time.monotonic() - runtime.start_monotonic),
                "load": _load_average(),
                "name": runtime.name,
                "URL": runtime.url,
                "cpu times": {
                    "user time": times.user,
                    "system time": times.system,
                    "children user time": times.children_user,
                    "children system time": times.children_system,
                    "elapsed real time": times.elapsed,
                },
            }
        )

    async def export_describeService(self) -> dict[str, Any]:
        """This service's methods: effective rule, authentication, arguments, docstring."""
        return S_OK(describe(self._runtime))

    async def export_echo(self, data: Any) -> dict[str, Any]:
        """Return the argument unchanged."""
        return S_OK(data)

    async def export_whoami(self) -> dict[str, Any]:
        """Return the caller's credential dictionary."""
        return S_OK(self._creds)


def _host_uptime() -> int:
    try:
        with open("/proc/uptime", encoding="ascii") as proc:
            return int(float(proc.read().split()[0]))
    except (OSError, ValueError, IndexError):
        return 0


def _load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return ""
