"""DIRAC's client base class (``DIRAC.Core.Base.Client``) and ``RPCClient``, over TornadoClient.

DIRAC's system clients (``JobMonitoringClient`` ...) subclass ``Client`` and name their service
with ``url=`` or ``self.serverURL``; every unknown attribute is a remote method::

    class CatalogClient(Client):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.setServer("DataManagement/Catalog")

    CatalogClient().size("/lhcb/a.txt")              # S_OK / S_ERROR, as DIRAC's

Each call makes a :class:`~tornadoservice.client.tornadoclient.TornadoClient` (so inside a
server it resolves names and credentials as described there), with the keyword arguments given
to ``Client(...)``; a call may pass ``rpc=``, ``url=`` or ``timeout=`` as in DIRAC.
``createClient`` is accepted and changes nothing: DIRAC uses it to write methods for the
service's exports, which attribute access already provides. ``RPCClient`` is ``TornadoClient``.
"""

from __future__ import annotations

import errno
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from tornadoservice.client.tornadoclient import DEFAULT_TIMEOUT, TornadoClient
from tornadoservice.core.returnvalues import S_ERROR, DReturnType

__all__ = ["Client", "RPCClient", "createClient"]

RPCClient = TornadoClient
"""``DIRAC.Core.DISET.RPCClient.RPCClient``: over HTTPS, DIRAC itself picks TornadoClient."""

_C = TypeVar("_C", bound=type)


def createClient(serviceName: str) -> Callable[[_C], _C]:
    """DIRAC's class decorator for clients: accepted, the class is returned unchanged."""

    def decorate(cls: _C) -> _C:
        return cls

    return decorate


class Client:
    """Forwards every unknown attribute as a remote call to ``serverURL``."""

    def __init__(self, **kwargs: Any) -> None:
        self.serverURL: str | None = kwargs.pop("url", None)
        self._client_kwargs = kwargs
        self.timeout: float = kwargs.pop("timeout", DEFAULT_TIMEOUT)

    def __getattr__(self, name: str) -> Callable[..., DReturnType]:
        if name.startswith("_"):
            raise AttributeError(name)
        return functools.partial(self.executeRPC, call=name)

    def setServer(self, url: str) -> None:
        self.serverURL = url

    def getServer(self) -> str | None:
        return self.serverURL

    def getClientKWArgs(self) -> dict[str, Any]:
        """A copy of the keyword arguments every call's client is made with."""
        return dict(self._client_kwargs)

    def executeRPC(
        self,
        *parms: Any,
        call: str,
        rpc: TornadoClient | None = None,
        url: str = "",
        timeout: float | None = None,
    ) -> DReturnType:
        """Call ``call(*parms)`` on the service (or on ``rpc``, or at ``url``)."""
        try:
            client = self._getRPC(rpc=rpc, url=url, timeout=timeout)
        except ValueError as exc:
            return S_ERROR(errno.EINVAL, str(exc))
        result: DReturnType = client.executeRPC(call, *parms)
        return result

    def _getRPC(
        self, rpc: TornadoClient | None = None, url: str = "", timeout: float | None = None
    ) -> TornadoClient:
        if rpc:
            return rpc
        target = url or self.serverURL
        if not target:
            raise ValueError(f"{type(self).__name__}: no service URL (url= or setServer)")
        return TornadoClient(
            target, timeout=self.timeout if timeout is None else timeout, **self._client_kwargs
        )
