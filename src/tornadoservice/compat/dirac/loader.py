"""DIRAC's ``ObjectLoader``: a class (or any object) found by module path in the extensions.

``ObjectLoader().loadObject("WorkloadManagementSystem.DB.JobDB", "JobDB")`` looks for the
module under each installed extension, in DIRAC's priority order: the packages named by
``/DIRAC/Extensions`` (``LHCb`` is tried as ``LHCb``, then ``LHCbDIRAC``), then ``DIRAC``
(the order in which the server finds handlers), then the path as an absolute module name (for
code ported out of a DIRAC package). An extension that lacks the module is skipped; a module
that exists but fails to import is an error, never silently replaced by another extension's.
"""

from __future__ import annotations

import importlib
from typing import Any

from tornadoservice.compat.dirac.config import current_config
from tornadoservice.core.errors import EIMPERR
from tornadoservice.core.returnvalues import S_ERROR, S_OK, DReturnType
from tornadoservice.server.loader import extension_packages

__all__ = ["ObjectLoader"]


def _is_missing(exc: ModuleNotFoundError, module: str) -> bool:
    # Only "this module (or a package above it) does not exist": a module that exists and
    # imports something missing is broken, and that must be said, not skipped over.
    return exc.name is not None and (module == exc.name or module.startswith(f"{exc.name}."))


class ObjectLoader:
    """Loads objects from the configured extensions (stateless: make one wherever needed)."""

    def extension_packages(self) -> list[str]:
        """The packages searched, in order (without the final absolute lookup)."""
        return extension_packages(current_config().get("/DIRAC/Extensions"))

    def loadModule(self, importString: str) -> DReturnType:
        """``S_OK(module)`` for ``"System.Sub.Module"`` in the first extension that has it."""
        candidates = [f"{package}.{importString}" for package in self.extension_packages()]
        candidates.append(importString)
        for name in candidates:
            try:
                return S_OK(importlib.import_module(name))
            except ModuleNotFoundError as exc:
                if _is_missing(exc, name):
                    continue
                return S_ERROR(EIMPERR, f"{name}: {exc}")
            except Exception as exc:  # a broken module: reported, not skipped
                return S_ERROR(EIMPERR, f"{name}: {exc!r}")
        return S_ERROR(EIMPERR, f"No module {importString} in {', '.join(candidates)}")

    def loadObject(
        self, importString: str, objName: str | None = None, reFilter: Any = None
    ) -> DReturnType:
        """``S_OK(obj)``: ``objName`` (default: the module's own last name) in that module."""
        name = objName or importString.rsplit(".", 1)[-1]
        result = self.loadModule(importString)
        if not result["OK"]:
            return result
        module = result["Value"]
        try:
            return S_OK(getattr(module, name))
        except AttributeError:
            return S_ERROR(EIMPERR, f"{module.__name__} has no {name}")
