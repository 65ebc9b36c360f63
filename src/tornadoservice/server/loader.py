"""Finding the handler class of a service from its configuration section.

``HandlerPath`` may be

* a ``.py`` file, absolute or relative to the configuration file that set it;
* DIRAC's form, a file path under a Python package root on ``sys.path``
  (``DIRAC/FrameworkSystem/Service/TornadoNotificationHandler.py``), imported as the module
  ``DIRAC.FrameworkSystem.Service.TornadoNotificationHandler`` when no such file lies next to
  the configuration;
* a dotted module path.

Any of them may end with ``:ClassName``. Without it the class is the one named as the module
(DIRAC's rule: ``TornadoNotificationHandler.py`` holds ``TornadoNotificationHandler``), else
``<Service>Handler``. Without ``HandlerPath`` the handler is DIRAC's
``<Extension>.<System>System.Service.Tornado<Service>Handler``, searched in the extensions of
``/DIRAC/Extensions`` in their order and then in ``DIRAC`` itself (:func:`find_tornado_handler`).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from tornadoservice.server.service import ServiceDefinitionError

if TYPE_CHECKING:
    from tornadoservice.server.handler import TornadoService


def _split_class(spec: str) -> tuple[str, str | None]:
    # "C:\\x.py" is not a concern (POSIX only), but "/a/b.py:Cls" and "pkg.mod:Cls" both split on
    # the last colon.
    if ":" in spec:
        target, _, class_name = spec.rpartition(":")
        return target, class_name or None
    return spec, None


def _load_file(path: Path, service: str) -> ModuleType:
    if not path.is_file():
        raise ServiceDefinitionError(f"{service}: handler file {path} does not exist")
    module_name = "tornadoservice_handlers." + re.sub(r"\W", "_", f"{service}_{path.stem}")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ServiceDefinitionError(f"{service}: cannot load handler file {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered before executing, so dataclasses and pickling inside the module work.
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise ServiceDefinitionError(
            f"{service}: error while loading {path}: {type(exc).__name__}: {exc}"
        ) from exc
    return module


def _load_module(name: str, service: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ServiceDefinitionError(f"{service}: cannot import {name!r}: {exc}") from exc
    except Exception as exc:
        raise ServiceDefinitionError(
            f"{service}: error while importing {name!r}: {type(exc).__name__}: {exc}"
        ) from exc


def _dotted(target: str) -> str | None:
    """``A/B/C.py`` as the module name ``A.B.C``, or ``None`` if it cannot be one."""
    parts = target.removesuffix(".py").strip("/").split("/")
    return ".".join(parts) if all(part.isidentifier() for part in parts) else None


def _module_exists(name: str, service: str) -> bool:
    try:
        # Imports the parent packages (not the module itself) to look inside them.
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False
    except Exception as exc:
        raise ServiceDefinitionError(
            f"{service}: error while looking for {name!r}: {type(exc).__name__}: {exc}"
        ) from exc


def _handler_class(
    module: ModuleType, target: str, class_name: str | None, service: str
) -> type[TornadoService]:
    from tornadoservice.server.handler import TornadoService

    if class_name is None:
        named_as_module = module.__name__.rsplit(".", 1)[-1]
        if isinstance(getattr(module, named_as_module, None), type):
            class_name = named_as_module
        else:
            class_name = f"{service.rsplit('/', 1)[-1]}Handler"
    handler = getattr(module, class_name, None)
    if handler is None:
        raise ServiceDefinitionError(f"{service}: {target} has no class {class_name}")
    if not (isinstance(handler, type) and issubclass(handler, TornadoService)):
        raise ServiceDefinitionError(f"{service}: {target}:{class_name} is not a TornadoService")
    return handler


def load_handler(spec: str, service: str, base_dir: Path | None) -> type[TornadoService]:
    """Resolve ``spec`` (a ``HandlerPath`` value) to a :class:`TornadoService` subclass."""
    target, class_name = _split_class(spec.strip())
    if not target:
        raise ServiceDefinitionError(f"{service}: empty HandlerPath")
    if target.endswith(".py") or "/" in target:
        path = Path(target).expanduser()
        if path.is_absolute():
            module = _load_file(path.resolve(), service)
        else:
            path = ((base_dir or Path.cwd()) / path).resolve()
            dotted = _dotted(target)
            if path.is_file() or dotted is None:
                module = _load_file(path, service)
            elif _module_exists(dotted, service):
                module = _load_module(dotted, service)
            else:
                raise ServiceDefinitionError(
                    f"{service}: handler file {path} does not exist, "
                    f"and no module {dotted} can be imported from sys.path"
                )
    else:
        module = _load_module(target, service)
    return _handler_class(module, target, class_name, service)


def extension_packages(extensions: str | None) -> list[str]:
    """The packages to search, from ``/DIRAC/Extensions``: each extension (``LHCb`` also as
    ``LHCbDIRAC``, DIRAC's naming), then ``DIRAC``."""
    packages: list[str] = []
    for name in (part.strip() for part in (extensions or "").split(",")):
        if not name or name == "DIRAC":
            continue
        candidates = [name] if name.endswith("DIRAC") else [name, f"{name}DIRAC"]
        packages.extend(c for c in candidates if c not in packages)
    packages.append("DIRAC")
    return packages


def find_tornado_handler(service: str, extensions: str | None) -> type[TornadoService] | None:
    """DIRAC's default for a service without ``HandlerPath``: the first
    ``<package>.<System>System.Service.Tornado<Service>Handler`` that exists, or ``None``."""
    system, name = service.split("/", 1)
    for package in extension_packages(extensions):
        module_name = f"{package}.{system}System.Service.Tornado{name}Handler"
        if _module_exists(module_name, service):
            module = _load_module(module_name, service)
            return _handler_class(module, module_name, f"Tornado{name}Handler", service)
    return None
