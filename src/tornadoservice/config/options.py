"""Typed, strict readers for the server's options: a bad value stops the start, never a default.

DIRAC's ``gConfig.getValue("/Systems/Tornado/MaxThreads", 20)`` silently returns 20 when the
option says ``abc``, and ``int("10MB")`` is a traceback. The readers here return the default
only when the option is absent or empty; any other value must parse and be in range, or
:class:`OptionError` names the option, the value and the file that set it::

    /srv/dirac.cfg: /Systems/Tornado/MaxBodySize = '10MB': not a whole number of bytes
    (sizes are plain bytes: 10485760 for 10 MiB)

Sizes are plain numbers of bytes, as DIRAC reads them (``int``): a suffix is refused, with the
number of bytes it would mean, rather than guessed (``MB`` is 10**6 for some, 2**20 for others).
Durations are seconds (decimals allowed). Flags are DIRAC's words for true (``yes``, ``true``,
``y``, ``1``) and for false (``no``, ``false``, ``n``, ``0``); anything else is an error.

docs/configuration.md lists every option the server and the client read.
"""

from __future__ import annotations

import ipaddress
import math
import re

from tornadoservice.config.errors import ConfigError
from tornadoservice.config.tree import ConfigTree

__all__ = [
    "OptionError",
    "byte_size",
    "check_host",
    "flag",
    "listen_address",
    "seconds",
    "whole_number",
]

_TRUE = frozenset({"y", "yes", "true", "1"})
_FALSE = frozenset({"n", "no", "false", "0"})
_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}
_BINARY_UNITS = {"ki": 1024, "mi": 1024**2, "gi": 1024**3, "ti": 1024**4}
_SIZE_WITH_UNIT = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]i?)b?", re.IGNORECASE)
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


class OptionError(ConfigError):
    """An option is set to a value that cannot be used; the message names option and file."""


def _raw(config: ConfigTree, path: str) -> str | None:
    """The option's value stripped, or ``None`` when it is absent or empty."""
    value = config.get(path)
    if value is None or not value.strip():
        return None
    return value.strip()


def _fail(config: ConfigTree, path: str, value: str, problem: str) -> OptionError:
    origin = config.origin(path)
    return OptionError(f"{path} = {value!r}: {problem}", source=str(origin) if origin else None)


def whole_number(
    config: ConfigTree, path: str, default: int, *, minimum: int = 1, maximum: int | None = None
) -> int:
    """An integer option of at least ``minimum`` (and at most ``maximum``)."""
    value = _raw(config, path)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise _fail(config, path, value, "not a whole number") from None
    if number < minimum or (maximum is not None and number > maximum):
        bounds = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise _fail(config, path, value, f"must be {bounds}")
    return number


def _size_hint(value: str) -> str:
    match = _SIZE_WITH_UNIT.fullmatch(value)
    if match is None:
        return ""
    unit = match[2].lower()
    factor = _BINARY_UNITS.get(unit) or _UNITS[unit.rstrip("i")]
    return f" (sizes are plain bytes: {int(float(match[1]) * factor)} for {value})"


def byte_size(config: ConfigTree, path: str, default: int, *, minimum: int = 1) -> int:
    """A size in bytes, a plain whole number of at least ``minimum`` (no ``MB`` suffix)."""
    value = _raw(config, path)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        problem = "not a whole number of bytes" + _size_hint(value)
        raise _fail(config, path, value, problem) from None
    if number < minimum:
        raise _fail(config, path, value, f"must be at least {minimum} bytes")
    return number


def seconds(config: ConfigTree, path: str, default: float, *, allow_zero: bool = False) -> float:
    """A duration in seconds, more than 0 (or 0 too, with ``allow_zero``)."""
    value = _raw(config, path)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise _fail(config, path, value, "not a number of seconds") from None
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        least = "0 or more" if allow_zero else "more than 0"
        raise _fail(config, path, value, f"must be {least} seconds")
    return number


def flag(config: ConfigTree, path: str, default: bool) -> bool:
    """A yes/no option: DIRAC's words for true and false, anything else refused."""
    value = _raw(config, path)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise _fail(config, path, value, "neither yes nor no")


def check_host(host: str) -> str | None:
    """Why ``host`` cannot be a listening address, or ``None`` if it can.

    An IP address (IPv6 with or without brackets), or a host name of RFC 1123 labels.
    """
    candidate = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(candidate)
        return None
    except ValueError:
        pass
    name = candidate[:-1] if candidate.endswith(".") else candidate
    if 0 < len(name) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in name.split(".")):
        return None
    return "not an IP address or a host name"


def listen_address(config: ConfigTree, path: str = "/Systems/Tornado/ListenAddress") -> str:
    """The address to listen on; empty (the default) means every interface."""
    value = _raw(config, path)
    if value is None:
        return ""
    problem = check_host(value)
    if problem is not None:
        raise _fail(config, path, value, problem)
    return value.strip("[]")
