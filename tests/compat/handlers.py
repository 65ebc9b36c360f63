"""Handlers written as DIRAC developers write them, importing only from compat.dirac."""

from __future__ import annotations

from typing import Any, ClassVar

from tornadoservice.compat.dirac import (
    S_ERROR,
    S_OK,
    Client,
    DErrno,
    PathFinder,
    Properties,
    Registry,
    RequestHandler,
    TornadoClient,
    TornadoService,
    gConfig,
    getServiceOption,
    getUsernameForDN,
    gLogger,
)

LOG = gLogger.getSubLogger("ConfigReader")


class ConfigReaderHandler(TornadoService):
    """Reads gConfig, getServiceOption and the registry in initializeHandler and per request."""

    maxItems: ClassVar[int]
    section: ClassVar[str]

    @classmethod
    def initializeHandler(cls, serviceInfo: dict[str, Any]) -> Any:
        cls.maxItems = getServiceOption(serviceInfo, "MaxItems", 10)
        cls.section = PathFinder.getServiceSection(serviceInfo["serviceName"])
        LOG.notice("initialised with MaxItems", cls.maxItems)
        return S_OK()

    auth_describe = ["authenticated"]

    def export_describe(self) -> dict[str, Any]:
        credentials = self.getRemoteCredentials()
        user = getUsernameForDN(credentials["DN"])
        if not user["OK"]:
            return user
        group = credentials["group"]
        return S_OK(
            {
                "maxItems": self.maxItems,
                "section": self.section,
                "colours": gConfig.getValue(f"{self.section}/Colours", []),
                "user": user["Value"],
                "groups": Registry.getGroupsForUser(user["Value"])["Value"],
                "vo": Registry.getVOForGroup(group),
                "isNormalUser": Properties.NORMAL_USER in Registry.getPropertiesForGroup(group),
            }
        )

    auth_lookup = ["authenticated"]

    def export_lookup(self, dn: str) -> dict[str, Any]:
        result = Registry.getUsernameForDN(dn)
        if not result["OK"]:
            return S_ERROR(DErrno.ENOAUTH, result["Message"])
        return result


class ClassicHandler(RequestHandler):
    """A DISET-style handler: served as it is through the RequestHandler alias."""

    auth_hello = ["all"]

    def export_hello(self, name: str) -> dict[str, Any]:
        return S_OK(f"hello {name}")


class CallerHandler(TornadoService):
    """Calls another service by its System/Service name from inside a request."""

    auth_callOther = ["authenticated"]

    def export_callOther(self) -> dict[str, Any]:
        return TornadoClient("Framework/ConfigReader").whoami()

    auth_callWithClient = ["authenticated"]

    def export_callWithClient(self) -> dict[str, Any]:
        return ReaderClient().whoami()


class ReaderClient(Client):
    """A DIRAC-style system client: a Client subclass naming its service."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.setServer("Framework/ConfigReader")
