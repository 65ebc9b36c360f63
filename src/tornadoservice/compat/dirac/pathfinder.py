"""DIRAC's ``PathFinder``: where a system's services, agents, databases and URLs are configured.

The layout is DIRAC 9's, without setups or instances: ``/Systems/<System>/Services/<Service>``,
``/Systems/<System>/URLs/<Service>`` ... Imported as a module it stands for
``DIRAC.ConfigurationSystem.Client.PathFinder`` (``PathFinder.getServiceSection(...)``).
Trailing arguments that DIRAC kept for setups (``serviceTuple``, ``setup``) are accepted and
ignored.
"""

from __future__ import annotations

import random
from urllib.parse import urlsplit, urlunsplit

from tornadoservice.compat.dirac.config import current_config
from tornadoservice.config.tree import split_list

__all__ = [
    "checkServiceURL",
    "divideFullName",
    "getAgentSection",
    "getComponentSection",
    "getDatabaseSection",
    "getExecutorSection",
    "getGatewayURLs",
    "getServiceSection",
    "getServiceURL",
    "getServiceURLs",
    "getSystemSection",
    "getSystemURLSection",
    "getSystemURLs",
]


def divideFullName(entityName: str, componentName: str | None = None) -> tuple[str, str]:
    """``"System/Component"`` (or ``"System"``, ``"Component"``) as a pair; ``RuntimeError``
    for anything else, as in DIRAC."""
    entityName = entityName.strip("/")
    if entityName and "/" not in entityName and componentName:
        return entityName, componentName
    parts = [part.strip() for part in entityName.split("/") if part.strip()]
    if len(parts) != 2:
        raise RuntimeError(f"Service ({entityName}) name must be with the form system/service")
    return parts[0], parts[1]


def getSystemSection(system: str, *legacy: object) -> str:
    """``/Systems/<System>``; ``system`` may be ``System`` or ``System/Component``."""
    name = system.strip("/").split("/", 1)[0].strip()
    return f"/Systems/{name}"


def getComponentSection(
    componentName: str,
    componentTuple: tuple[str, str] | bool = False,
    setup: object = False,
    componentCategory: str = "Services",
) -> str:
    system, component = (
        componentTuple if isinstance(componentTuple, tuple) else divideFullName(componentName)
    )
    return f"{getSystemSection(system)}/{componentCategory}/{component}"


def getServiceSection(serviceName: str, *legacy: object) -> str:
    """``/Systems/<System>/Services/<Service>`` for ``"System/Service"``."""
    return getComponentSection(serviceName, componentCategory="Services")


def getAgentSection(agentName: str, *legacy: object) -> str:
    return getComponentSection(agentName, componentCategory="Agents")


def getExecutorSection(executorName: str, *legacy: object) -> str:
    return getComponentSection(executorName, componentCategory="Executors")


def getDatabaseSection(dbName: str, *legacy: object) -> str:
    """``/Systems/<System>/Databases/<DB>`` for ``"System/DB"``."""
    return getComponentSection(dbName, componentCategory="Databases")


def getSystemURLSection(system: str, *legacy: object) -> str:
    return f"{getSystemSection(system)}/URLs"


def checkServiceURL(serviceURL: str, system: str | None = None, service: str | None = None) -> str:
    """The URL with DIRAC's completions: port 443 when none is given, ``/System/Service``
    as path when it has none (``RuntimeError`` if that is needed and unknown)."""
    url = urlsplit(serviceURL)
    netloc = url.netloc
    if url.port is None:
        if url.scheme == "dips":
            raise RuntimeError(f"No port found for {system}/{service} URL!")
        netloc = f"{netloc}:{80 if url.scheme == 'http' else 443}"
    path = url.path
    if not path.strip("/"):
        if not system or not service:
            raise RuntimeError(f"No path found for {system}/{service} URL!")
        path = f"/{system}/{service}"
    return urlunsplit((url.scheme, netloc, path, url.query, url.fragment))


def getServiceURLs(
    system: str,
    service: str | None = None,
    setup: object = False,
    randomize: bool = False,
    failover: bool = False,
) -> list[str]:
    """The URLs of ``/Systems/<System>/URLs/<Service>`` (then ``FailoverURLs`` with
    ``failover``), completed by :func:`checkServiceURL`, without duplicates."""
    system, service = divideFullName(system, service)
    config = current_config()
    result: list[str] = []
    for kind in ("URLs", "FailoverURLs") if failover else ("URLs",):
        urls: list[str] = []
        for url in split_list(config.get(f"/Systems/{system}/{kind}/{service}") or ""):
            checked = checkServiceURL(url, system, service)
            if checked not in urls:
                urls.append(checked)
        if randomize:
            random.shuffle(urls)
        result.extend(urls)
    return result


def getServiceURL(
    serviceName: str,
    serviceTuple: tuple[str, str] | bool = False,
    setup: object = False,
    service: str | None = None,
    randomize: bool = False,
) -> str:
    """The service's URLs joined by commas (DIRAC's form), ``""`` when none is configured."""
    system, name = (
        serviceTuple if isinstance(serviceTuple, tuple) else divideFullName(serviceName, service)
    )
    return ",".join(getServiceURLs(system, name, randomize=randomize))


def getSystemURLs(system: str, *legacy: object) -> dict[str, list[str]]:
    """Every service URL list of a system, by service name."""
    section = getSystemURLSection(system)
    name = getSystemSection(system).rsplit("/", 1)[1]
    return {svc: getServiceURLs(name, svc) for svc in current_config().options(section)}


def getGatewayURLs(serviceName: str = "") -> bool:
    """DIRAC's DIPS gateways do not exist over HTTPS: always ``False`` (DIRAC's "none")."""
    return False
