"""DIRAC's handler base classes and ``getServiceOption``.

``TornadoService`` (``DIRAC.Core.Tornado.Server.TornadoService``) is tornadoservice's own;
``RequestHandler`` (``DIRAC.Core.DISET.RequestHandler``), the base of DIRAC's classic DISET
handlers, is the same class: a DISET handler's ``export_``/``types_``/``auth_`` methods,
``initializeHandler`` and ``getRemoteCredentials`` are served over HTTPS as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tornadoservice.compat.dirac.config import gConfig
from tornadoservice.server.handler import TornadoService

__all__ = ["RequestHandler", "TornadoService", "getServiceOption"]

RequestHandler = TornadoService
"""DIRAC's DISET handler base class: served by the same machinery as a ``TornadoService``."""


def getServiceOption(serviceInfo: Mapping[str, Any], optionName: str, defaultValue: Any) -> Any:
    """A service option, as ``initializeHandler`` reads it from its ``serviceInfo``.

    A relative ``optionName`` is looked up in the service's sections (``csPaths``, else
    ``serviceSectionPath``) and converted like ``defaultValue``; an absolute one
    (``/DIRAC/...``) is read as it is. Missing everywhere: ``defaultValue``.
    """
    if optionName.startswith("/"):
        return gConfig.getValue(optionName, defaultValue)
    paths = serviceInfo.get("csPaths") or [serviceInfo["serviceSectionPath"]]
    for path in paths:
        result = gConfig.getOption(f"{path}/{optionName}", defaultValue)
        if result["OK"]:
            return result["Value"]
    return defaultValue
