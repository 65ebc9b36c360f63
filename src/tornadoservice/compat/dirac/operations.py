"""DIRAC's ``Operations`` helper: ``/Operations`` options with per-VO overrides.

``Operations(vo=..., group=...)`` reads the merge of ``/Operations/Defaults``, then
``/Operations/<vo>``, then ``/Operations/<vo>/Defaults`` (later ones override, DIRAC 9's order
without setups). The VO is the one given, else the group's (``getVOForGroup``), else the
installation's (``/DIRAC/VirtualOrganization``); DIRAC's last resort, the VO of the caller's
proxy, does not exist inside a server and is not provided. Values convert as for ``gConfig``.
"""

from __future__ import annotations

from typing import Any

from tornadoservice.compat.dirac.config import current_config, getVO
from tornadoservice.compat.dirac.registry import getVOForGroup
from tornadoservice.config.tree import ConfigTree
from tornadoservice.core.returnvalues import S_ERROR, DReturnType

__all__ = ["Operations"]


def _as_dict(config: ConfigTree, path: str) -> dict[str, Any]:
    result: dict[str, Any] = dict(config.options(path))
    for name in config.sections(path):
        result[name] = _as_dict(config, f"{path}/{name}")
    return result


class Operations:
    """The ``/Operations`` view of one VO (see the module docstring)."""

    _basePath = "/Operations"

    def __init__(self, vo: str | None = None, group: str | None = None, setup: Any = None) -> None:
        self._vo = (getVOForGroup(group) if group else "") or vo or getVO()
        self._group = group
        base = self._basePath
        self._paths = [f"{base}/Defaults"]
        if self._vo:
            self._paths += [f"{base}/{self._vo}", f"{base}/{self._vo}/Defaults"]
        self._source: ConfigTree | None = None
        self._merged = ConfigTree()

    def _tree(self) -> ConfigTree:
        # Rebuilt when the server's configuration changed (a reload), else reused.
        config = current_config()
        if config is not self._source:
            merged = ConfigTree()
            for path in self._paths:
                if config.has_section(path):
                    merged.merge(ConfigTree.from_dict(_as_dict(config, path)))
            self._source, self._merged = config, merged
        return self._merged

    def getValue(self, optionPath: str, defaultValue: Any = None) -> Any:
        return self._tree().getValue(optionPath, defaultValue)

    def getSections(self, sectionPath: str, listOrdered: bool = False) -> DReturnType:
        return self._section(sectionPath) or self._tree().getSections(sectionPath)

    def getOptions(self, sectionPath: str, listOrdered: bool = False) -> DReturnType:
        return self._section(sectionPath) or self._tree().getOptions(sectionPath)

    def getOptionsDict(self, sectionPath: str) -> DReturnType:
        return self._section(sectionPath) or self._tree().getOptionsDict(sectionPath)

    def _section(self, sectionPath: str) -> DReturnType | None:
        """``S_ERROR`` in DIRAC's words when there is no such section, else ``None``."""
        tree = self._tree()
        if tree.has_section(sectionPath):
            return None
        if tree.has_option(sectionPath):
            return S_ERROR(f"{sectionPath} in Operations is not a section")
        return S_ERROR(f"{sectionPath} in Operations does not exist")

    def getOptionPath(self, option: str) -> str:
        """The full path of the option that gives ``option``'s value, ``""`` if none."""
        config = current_config()
        found = [f"{p}/{option.strip('/')}" for p in self._paths]
        return next((path for path in reversed(found) if config.has_option(path)), "")

    def getSectionPath(self, section: str) -> str:
        config = current_config()
        found = [f"{p}/{section.strip('/')}" for p in self._paths]
        return next((path for path in reversed(found) if config.has_section(path)), "")

    def getPath(self, instance: str) -> str:
        return self.getOptionPath(instance) or self.getSectionPath(instance)

    def __repr__(self) -> str:
        return f"Operations(vo={self._vo!r})"
