"""``describeService``: a running service's methods with their rules, ``types_`` and docstrings.

A built-in method of every service, for operators (``tornadoservice describe``). By default only
callers with the ``ServiceAdministrator`` property may call it; a site changes that as for any
method, with ``/Systems/<System>/Services/<Service>/Authorization/describeService``. What it
answers is what the server computed at start (or at the last reload): the effective rules, not
the code's defaults.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tornadoservice.server.service import ExportedMethod, ServiceRuntime

DESCRIBE_METHOD = "describeService"
DEFAULT_RULE = ["ServiceAdministrator"]


def _arguments(method: ExportedMethod) -> dict[str, Any]:
    spec = method.arguments
    return {
        "min": spec.min_args,
        "max": spec.max_args,
        "types": {check.name: check.expected() for check in spec.checks},
        "declares types_": spec.declares_types,
    }


def describe(runtime: ServiceRuntime) -> dict[str, Any]:
    """What ``describeService`` answers."""
    methods: dict[str, Any] = {}
    for name in sorted(runtime.methods):
        method = runtime.methods[name]
        methods[name] = {
            "rule": list(method.rule.tokens),
            "authentication": list(method.authentication),
            "arguments": _arguments(method),
            "async": method.is_async,
            "doc": inspect.cleandoc(method.function.__doc__ or ""),
        }
    return {"service": runtime.name, "URL": runtime.url, "methods": methods}
