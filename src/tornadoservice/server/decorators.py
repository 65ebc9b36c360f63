"""``@authentication`` and ``@authorization``: per-method equivalents of the class attributes.

``@authorization(["NormalUser"])`` on ``export_x`` is the same as ``auth_x = ["NormalUser"]``;
``@authentication(["SSL", "VISITOR"])`` overrides ``DEFAULT_AUTHENTICATION`` for that method.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

AUTHENTICATION_ATTR = "__tornadoservice_authentication__"
AUTHORIZATION_ATTR = "__tornadoservice_authorization__"


def _checked(values: Sequence[str], what: str) -> tuple[str, ...]:
    if isinstance(values, str) or not all(isinstance(v, str) for v in values):
        raise TypeError(f"@{what} takes a list of strings, got {values!r}")
    return tuple(values)


def authentication(schemes: Sequence[str]) -> Callable[[F], F]:
    """Set the authentication schemes tried, in order, for one exported method."""
    checked = _checked(schemes, "authentication")

    def decorate(func: F) -> F:
        setattr(func, AUTHENTICATION_ATTR, checked)
        return func

    return decorate


def authorization(rules: Sequence[str]) -> Callable[[F], F]:
    """Set who may call one exported method (same tokens as ``auth_<method>``)."""
    checked = _checked(rules, "authorization")

    def decorate(func: F) -> F:
        setattr(func, AUTHORIZATION_ATTR, checked)
        return func

    return decorate
