"""Finding the handler class of a service from its configuration section.

``HandlerPath`` may be a ``.py`` file (absolute, or relative to the configuration file that set
it) or a dotted module path; either may end with ``:ClassName``. Without a class name the class is
``<Service>Handler``, as in DIRAC.
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


def load_handler(spec: str, service: str, base_dir: Path | None) -> type[TornadoService]:
    """Resolve ``spec`` (a ``HandlerPath`` value) to a :class:`TornadoService` subclass."""
    from tornadoservice.server.handler import TornadoService

    target, class_name = _split_class(spec.strip())
    if not target:
        raise ServiceDefinitionError(f"{service}: empty HandlerPath")
    if target.endswith(".py") or "/" in target:
        path = Path(target).expanduser()
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        module = _load_file(path.resolve(), service)
    else:
        module = _load_module(target, service)
    class_name = class_name or f"{service.rsplit('/', 1)[-1]}Handler"
    handler = getattr(module, class_name, None)
    if handler is None:
        raise ServiceDefinitionError(f"{service}: {target} has no class {class_name}")
    if not (isinstance(handler, type) and issubclass(handler, TornadoService)):
        raise ServiceDefinitionError(f"{service}: {target}:{class_name} is not a TornadoService")
    return handler
