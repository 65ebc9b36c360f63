"""The positional arguments of an exported method: how many it takes and ``types_<method>``.

Both are read once, when the method table is built, from the callable a request would call:
DIRAC calls an export as ``getattr(handler, "export_<name>")(*args)``, so a classmethod or
staticmethod export takes the arguments its bound form takes (no ``self`` to drop).

``types_<method>`` lists one entry per positional argument: a type, a tuple (or list) of types,
or ``None`` to skip that argument. Entries are checked up to the shorter of the two lists, so a
call with fewer arguments than entries (the rest default) and a method taking more arguments than
entries (the rest unchecked) are both accepted; the arity check decides how many may be given.
A mismatch names the argument and its type, in the words of DIRAC's classic handler.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ArgumentCheck", "ArgumentSpec", "read_arguments"]


class _Probe:
    """Stands for a handler instance when a function is bound only to read its signature."""


@dataclass(frozen=True, slots=True)
class ArgumentCheck:
    """The accepted types of the positional argument at ``index``."""

    index: int
    name: str
    types: tuple[type, ...]

    def expected(self) -> str:
        names = [t.__name__ for t in self.types]
        return names[0] if len(names) == 1 else "(" + ", ".join(names) + ")"


@dataclass(frozen=True, slots=True)
class ArgumentSpec:
    """What a call of one export may pass, precomputed so a request only compares."""

    method: str
    min_args: int
    max_args: int | None
    """``None`` when the method takes ``*args``."""
    checks: tuple[ArgumentCheck, ...] = ()
    """One per ``types_`` entry that is not ``None``, in argument order."""
    declares_types: bool = False
    """Whether the handler has a ``types_<method>`` attribute (``tornadoservice check``)."""

    def arity_error(self, given: int) -> str | None:
        """The 400 message for ``given`` positional arguments, or ``None`` when they fit."""
        if given >= self.min_args and (self.max_args is None or given <= self.max_args):
            return None
        if self.max_args is None:
            expected, last = f"at least {self.min_args}", self.min_args
        elif self.min_args == self.max_args:
            expected, last = str(self.min_args), self.min_args
        else:
            expected, last = f"from {self.min_args} to {self.max_args}", self.max_args
        noun = "argument" if last == 1 else "arguments"
        return f"{self.method}() takes {expected} {noun}, {given} given"

    def type_error(self, args: Sequence[Any]) -> str | None:
        """The 400 message for the first argument of a wrong type, or ``None``."""
        given = len(args)
        for check in self.checks:
            if check.index >= given:
                break
            value = args[check.index]
            if not isinstance(value, check.types):
                return (
                    f"Type mismatch in parameter {check.index} (starting with param 0) "
                    f"{check.name!r} of {self.method}: received {type(value).__name__}, "
                    f"expected {check.expected()}"
                )
        return None


def _positional_names(signature: inspect.Signature) -> tuple[list[str], int, int | None]:
    names: list[str] = []
    min_args = 0
    max_args: int | None = 0
    for param in signature.parameters.values():
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            assert max_args is not None
            max_args += 1
            names.append(param.name)
            if param.default is param.empty:
                min_args += 1
        elif param.kind is param.VAR_POSITIONAL:
            max_args = None
            names.append(f"*{param.name}")
        elif param.kind is param.KEYWORD_ONLY and param.default is param.empty:
            raise ValueError(
                f"it has a required keyword-only argument {param.name!r}: "
                "RPC arguments are positional"
            )
    return names, min_args, max_args


def _entry_types(entry: object, where: str) -> tuple[type, ...] | None:
    if entry is None:
        return None
    if isinstance(entry, type):
        return (entry,)
    if isinstance(entry, tuple | list) and entry and all(isinstance(t, type) for t in entry):
        return tuple(entry)
    raise ValueError(f"{where} must be a type, a tuple of types or None, not {entry!r}")


def bound_form(handler: type, attribute: str) -> Callable[..., Any]:
    """What ``getattr(instance, attribute)`` gives on an instance of ``handler``."""
    raw = inspect.getattr_static(handler, attribute)
    getter = getattr(type(raw), "__get__", None)
    if getter is None:
        return raw  # type: ignore[no-any-return]
    return getter(raw, _Probe(), handler)  # type: ignore[no-any-return]


def read_arguments(handler: type, attribute: str, method: str) -> ArgumentSpec:
    """The :class:`ArgumentSpec` of ``handler.<attribute>``; ``ValueError`` says what is wrong."""
    callable_ = bound_form(handler, attribute)
    try:
        signature = inspect.signature(callable_)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot read its signature: {exc}") from exc
    names, min_args, max_args = _positional_names(signature)
    declared = getattr(handler, f"types_{method}", None)
    if declared is None:
        return ArgumentSpec(method, min_args, max_args)
    if not isinstance(declared, list | tuple):
        raise ValueError(f"types_{method} must be a list, not {type(declared).__name__}")
    checks: list[ArgumentCheck] = []
    for index, entry in enumerate(declared):
        accepted = _entry_types(entry, f"types_{method}[{index}]")
        if accepted is None:
            continue
        if index < len(names) and not names[index].startswith("*"):
            name = names[index]
        elif names and names[-1].startswith("*"):
            name = f"{names[-1]}[{index - len(names) + 1}]"
        else:
            name = f"#{index}"  # more entries than arguments: never reached by a valid call
        checks.append(ArgumentCheck(index, name, accepted))
    return ArgumentSpec(method, min_args, max_args, tuple(checks), declares_types=True)
