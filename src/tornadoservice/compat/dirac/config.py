"""DIRAC's ``gConfig`` and ``CSGlobals``, reading the running server's configuration.

``gConfig`` answers from :func:`tornadoservice.config.active.active_config`: the configuration of
the :class:`~tornadoservice.server.server.TornadoServer` running in this process, reloads
included. Outside a server (a script, a unit test) it reads an empty configuration, so every
``getValue`` gives its default, until :func:`~tornadoservice.config.active.set_active` is called.
The conversions are :class:`~tornadoservice.config.tree.ConfigTree`'s, which are DIRAC's.
"""

from __future__ import annotations

import socket
from typing import Any

from tornadoservice.config.active import active_config
from tornadoservice.config.tree import ConfigTree, convert_value, split_list
from tornadoservice.core.returnvalues import S_ERROR, S_OK, DReturnType

__all__ = ["gConfig", "getCSExtensions", "getVO", "siteName"]

_EMPTY = ConfigTree()


def current_config() -> ConfigTree:
    """The active configuration, or an empty one outside a server."""
    return active_config() or _EMPTY


class _ConfigurationClient:
    """DIRAC's ``gConfig``: every call reads the configuration active at that moment."""

    __slots__ = ()

    def getValue(self, optionPath: str, defaultValue: Any = None) -> Any:
        """The option converted like ``defaultValue`` (lists split on commas), or the default."""
        return current_config().getValue(optionPath, defaultValue)

    def getOption(self, optionPath: str, typeValue: Any = None) -> DReturnType:
        """``S_OK(value)`` (converted like ``typeValue`` when given), ``S_ERROR`` if missing."""
        value = current_config().get(optionPath)
        if value is None:
            return S_ERROR(f"Path {optionPath} does not exist or it's not an option")
        return S_OK(value if typeValue is None else convert_value(value, typeValue))

    def getSections(self, sectionPath: str, listOrdered: bool = True) -> DReturnType:
        return current_config().getSections(sectionPath, listOrdered)

    def getOptions(self, sectionPath: str, listOrdered: bool = True) -> DReturnType:
        return current_config().getOptions(sectionPath, listOrdered)

    def getOptionsDict(self, sectionPath: str) -> DReturnType:
        return current_config().getOptionsDict(sectionPath)

    def getOptionsDictRecursively(self, sectionPath: str) -> DReturnType:
        """``S_OK`` of the section as nested dicts (subsections as dicts, options as strings)."""
        config = current_config()
        if not config.has_section(sectionPath):
            return S_ERROR(f"Path {sectionPath} does not exist or it's not a section")
        return S_OK(_section_dict(config, sectionPath))

    def useServerCertificate(self) -> bool:
        """``/DIRAC/Security/UseServerCertificate``: whether clients call as the host."""
        return bool(self.getValue("/DIRAC/Security/UseServerCertificate", False))

    def __repr__(self) -> str:
        return f"<gConfig of {current_config()!r}>"


def _section_dict(config: ConfigTree, path: str) -> dict[str, Any]:
    result: dict[str, Any] = dict(config.options(path))
    for name in config.sections(path):
        result[name] = _section_dict(config, f"{path}/{name}")
    return result


gConfig = _ConfigurationClient()
"""DIRAC's configuration client, over the running server's configuration."""


def getVO(defaultVO: str = "") -> str:
    """``/DIRAC/VirtualOrganization`` (the single VO of an installation), or ``defaultVO``."""
    return current_config().get("/DIRAC/VirtualOrganization") or defaultVO


def getCSExtensions() -> list[str]:
    """``/DIRAC/Extensions``, without a trailing ``DIRAC`` on each name (DIRAC's form)."""
    names = split_list(current_config().get("/DIRAC/Extensions") or "")
    return [name.removesuffix("DIRAC") or name for name in names]


def siteName() -> str:
    """``/LocalSite/Site``, else DIRAC's made-up name: ``DIRAC.Client.<last part of the host's
    domain name>`` (``DIRAC.Client.local`` for a name of two parts or fewer)."""
    configured = current_config().get("/LocalSite/Site")
    if configured:
        return configured
    parts = socket.getfqdn().split(".")
    return f"DIRAC.Client.{parts[-1] if len(parts) > 2 else 'local'}"
