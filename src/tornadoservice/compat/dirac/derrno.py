"""DIRAC's ``DErrno``: the error numbers (DIRAC's own and the standard ones) and ``cmpError``.

Imported as a module it stands for ``DIRAC.Core.Utilities.DErrno`` (``DErrno.ENOAUTH``,
``DErrno.cmpError(result, DErrno.EWMSNOMATCH)``). The numbers and messages are those of
:mod:`tornadoservice.core.errors`; only :func:`cmpError` is added.
"""

from __future__ import annotations

from typing import Any

from tornadoservice.core import errors as _errors
from tornadoservice.core.errors import *  # noqa: F403 (the numbers are this module's API)
from tornadoservice.core.errors import strerror

__all__ = [*_errors.__all__, "cmpError"]
__all__.remove("TornadoServiceError")


def cmpError(inErr: Any, candidate: int) -> bool:
    """Whether an error is error number ``candidate``.

    ``inErr`` may be an ``S_ERROR`` (its ``Errno`` compared; with ``Errno`` 0, whether its
    message contains ``candidate``'s message), an error number, or a message (containing
    ``candidate``'s message). Anything else is a ``TypeError``, as in DIRAC.
    """
    if isinstance(inErr, dict):
        number = inErr.get("Errno", 0)
        if number:
            return bool(number == candidate)
        return strerror(candidate) in str(inErr.get("Message", ""))
    if isinstance(inErr, bool):
        raise TypeError(f"Unknown input error type {type(inErr).__name__}")
    if isinstance(inErr, int):
        return inErr == candidate
    if isinstance(inErr, str):
        return strerror(candidate) in inErr
    raise TypeError(f"Unknown input error type {type(inErr).__name__}")
