"""DIRAC's return structures: ``S_OK``/``S_ERROR`` and the helpers around them.

Every RPC answers with one of two dictionaries, built with their keys in this order because
the order is visible on the wire (see the reference, section 5.1)::

    S_OK(value)         -> {"OK": True, "Value": value}
    S_ERROR(errno, msg) -> {"OK": False, "Errno": errno, "Message": "<strerror> ( <errno> : <msg>)",
                            "CallStack": [...]}

``CallStack`` (where the error was made) and ``ExecInfo`` (the exception behind it, set by
:func:`convertToReturnValue`) are for the local process only: :func:`strip_result_for_wire`
removes them before a result is sent.

Unlike DIRAC, building an ``S_ERROR`` does not format the whole stack with source lines
(``traceback.format_stack`` reads every source file through ``linecache``): errors are common
in normal operation (a lookup that finds nothing), and the stack is stripped before sending
anyway. We record the innermost frames as file, line and function only, in the shape of
``traceback``'s frame lines, so ``"".join(result["CallStack"])`` still reads like a traceback.

Inside the framework, code raises exceptions; these names are the DIRAC-facing edge and keep
DIRAC's spelling so that handlers port by changing imports.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Coroutine
from types import FrameType, TracebackType
from typing import Any, Final, ParamSpec, TypeAlias, TypeGuard, overload

from tornadoservice.core.errors import TornadoServiceError, strerror

__all__ = [
    "S_ERROR",
    "S_OK",
    "DErrorReturnType",
    "DOKReturnType",
    "DReturnType",
    "ExecInfo",
    "SErrorException",
    "convertToReturnValue",
    "isReturnStructure",
    "isSError",
    "returnSingleResult",
    "returnValueOrRaise",
    "strip_result_for_wire",
]

DReturnType: TypeAlias = dict[str, Any]
"""An ``S_OK`` or ``S_ERROR`` dictionary (DIRAC's name)."""
DOKReturnType: TypeAlias = dict[str, Any]
"""An ``S_OK`` dictionary: ``OK`` is true and ``Value`` is present."""
DErrorReturnType: TypeAlias = dict[str, Any]
"""An ``S_ERROR`` dictionary: ``OK`` is false, ``Errno`` and ``Message`` are present."""
ExecInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType | None]
"""What ``sys.exc_info()`` gives, as kept under ``ExecInfo`` in an ``S_ERROR``."""

_P = ParamSpec("_P")

CALL_STACK_DEPTH: Final = 20
"""How many of the innermost frames an ``S_ERROR`` records in ``CallStack``."""

_LOCAL_ONLY_KEYS: Final = frozenset({"CallStack", "ExecInfo"})


def _frame_line(filename: str, lineno: int | None, name: str) -> str:
    # The shape of a traceback frame line, so that joined entries read like a traceback.
    return f'  File "{filename}", line {lineno}, in {name}\n'


def _capture_call_stack(skip: int) -> list[str]:
    """The innermost :data:`CALL_STACK_DEPTH` frames above ``skip`` levels, outermost first.

    Reads only what the frame objects hold (no source lines, no ``linecache``), which keeps
    ``S_ERROR`` cheap.
    """
    frame: FrameType | None
    try:
        frame = sys._getframe(skip + 1)
    except ValueError:  # the stack is shallower than ``skip``
        return []
    entries: list[str] = []
    while frame is not None and len(entries) < CALL_STACK_DEPTH:
        code = frame.f_code
        entries.append(_frame_line(code.co_filename, frame.f_lineno, code.co_name))
        frame = frame.f_back
    entries.reverse()
    return entries


def _traceback_entries(tb: TracebackType | None) -> list[str]:
    """The frames of a traceback (outermost first), in the same cheap form as a call stack."""
    entries: list[str] = []
    while tb is not None:
        code = tb.tb_frame.f_code
        entries.append(_frame_line(code.co_filename, tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    return entries[-CALL_STACK_DEPTH:]


def S_OK(value: Any = None) -> DReturnType:
    """A success result: ``{"OK": True, "Value": value}``."""
    return {"OK": True, "Value": value}


def S_ERROR(*args: Any, callStack: list[str] | None = None) -> DReturnType:
    """An error result, called as in DIRAC.

    * ``S_ERROR()``: ``Errno`` 0 and an empty ``Message``;
    * ``S_ERROR(message)``: ``Errno`` 0, ``Message`` as given;
    * ``S_ERROR(errno)`` or ``S_ERROR(errno, message)``: ``Message`` becomes
      ``"<strerror(errno)> ( <errno> : <message>)"`` when ``errno`` is not 0;
    * ``S_ERROR(an_error_result)``: the same error again, keeping its ``Errno`` and ``Message``
      (already formatted) and its ``CallStack``/``ExecInfo`` when it has them.

    Arguments after the first two, or after an error result, are ignored, as DIRAC does.
    A message that is not a string is converted with ``str()`` so the result always encodes.
    ``callStack`` replaces the recorded stack (pass ``[]`` to record none).
    """
    if args and isSError(args[0]):
        return _repeat_error(args[0], callStack)

    errno = 0
    message: Any = ""
    if args:
        first = args[0]
        if isinstance(first, int):
            errno = int(first)  # bool and IntEnum become plain ints on the wire
            if len(args) > 1:
                message = args[1]
        else:
            message = first
    if not isinstance(message, str):
        message = str(message)
    if errno:
        message = f"{strerror(errno)} ( {errno} : {message})"
    return {
        "OK": False,
        "Errno": errno,
        "Message": message,
        "CallStack": _capture_call_stack(1) if callStack is None else callStack,
    }


def _repeat_error(error: DReturnType, call_stack: list[str] | None) -> DReturnType:
    if call_stack is None:
        previous = error.get("CallStack")
        call_stack = list(previous) if previous is not None else _capture_call_stack(2)
    result: DReturnType = {
        "OK": False,
        "Errno": error.get("Errno", 0),
        "Message": error["Message"],
        "CallStack": call_stack,
    }
    if "ExecInfo" in error:
        result["ExecInfo"] = error["ExecInfo"]
    return result


def isReturnStructure(unk: Any) -> TypeGuard[DReturnType]:
    """Whether ``unk`` is an ``S_OK`` (``OK`` true and a ``Value``) or an ``S_ERROR``
    (``OK`` false and a ``Message``)."""
    if not isinstance(unk, dict) or "OK" not in unk:
        return False
    return "Value" in unk if unk["OK"] else "Message" in unk


def isSError(value: Any) -> TypeGuard[DErrorReturnType]:
    """Whether ``value`` looks like an ``S_ERROR``: a dict with ``OK`` and a ``Message``.

    As in DIRAC, the value of ``OK`` is not looked at.
    """
    return isinstance(value, dict) and "OK" in value and "Message" in value


def strip_result_for_wire(result: DReturnType) -> DReturnType:
    """``result`` without the local-only keys ``CallStack`` and ``ExecInfo``.

    The input is never changed. When it has neither key (every ``S_OK``), it is returned
    itself rather than copied, because this runs on every response.
    """
    if "CallStack" not in result and "ExecInfo" not in result:
        return result
    return {key: value for key, value in result.items() if key not in _LOCAL_ONLY_KEYS}


class SErrorException(TornadoServiceError):  # noqa: N818 (DIRAC's public name)
    """An ``S_ERROR`` travelling as an exception (see :func:`returnValueOrRaise`).

    ``result`` is the ``S_ERROR`` dictionary, ``errno`` its ``Errno``. Given anything other
    than an ``S_ERROR`` (typically a message), it builds ``S_ERROR(errCode, result)``.
    """

    def __init__(self, result: DReturnType | str, errCode: int = 0) -> None:
        if isSError(result):
            error = result
        else:
            error = S_ERROR(errCode, result, callStack=_capture_call_stack(1))
        super().__init__(str(error["Message"]), errno=int(error.get("Errno", 0)))
        self.result: DReturnType = error


def returnValueOrRaise(result: DReturnType, *, errorCode: int = 0) -> Any:
    """The ``Value`` of an ``S_OK``; for an ``S_ERROR``, raise.

    An ``S_ERROR`` made from an exception (it has ``ExecInfo``) re-raises that exception; any
    other raises :class:`SErrorException` carrying the result. ``errorCode`` is the ``Errno``
    used when ``result`` is not a proper ``S_ERROR`` (it has no ``Message``).

    DIRAC re-raises the exception's *class* here, which loses its message; we re-raise the
    exception object itself.
    """
    if result["OK"]:
        return result["Value"]
    exec_info = result.get("ExecInfo")
    if exec_info is not None:
        raise exec_info[1]
    raise SErrorException(result, errorCode)


def returnSingleResult(dictRes: DReturnType) -> DReturnType:
    """One result out of DIRAC's bulk shape ``S_OK({"Successful": {...}, "Failed": {...}})``.

    An ``S_ERROR`` is returned as it is. Otherwise the first entry of ``Failed`` wins, as an
    ``S_ERROR`` (itself if it already is one); else the first entry of ``Successful``, as an
    ``S_OK``; with both empty (or missing), an ``S_ERROR`` saying so.
    """
    if not dictRes["OK"]:
        return dictRes
    value = dictRes["Value"]
    failed = value.get("Failed") if isinstance(value, dict) else None
    if failed:
        reason = next(iter(failed.values()))
        if isReturnStructure(reason):
            return reason
        return S_ERROR(reason if isinstance(reason, str | int) else str(reason))
    successful = value.get("Successful") if isinstance(value, dict) else None
    if successful:
        return S_OK(next(iter(successful.values())))
    return S_ERROR("returnSingleResult: Failed and Successful dictionaries are empty")


def _error_from_exception(exc: Exception) -> DReturnType:
    # DIRAC's message for an unexpected exception: "<repr>: <str>", e.g.
    # "ValueError('bad'): bad". The exception itself is kept for the local log.
    result = S_ERROR(f"{exc!r}: {exc}", callStack=_traceback_entries(exc.__traceback__))
    result["ExecInfo"] = (type(exc), exc, exc.__traceback__)
    return result


@overload
def convertToReturnValue(
    func: Callable[_P, Coroutine[Any, Any, Any]],
) -> Callable[_P, Coroutine[Any, Any, DReturnType]]: ...


@overload
def convertToReturnValue(func: Callable[_P, Any]) -> Callable[_P, DReturnType]: ...


def convertToReturnValue(func: Callable[_P, Any]) -> Callable[_P, Any]:
    """Decorator: a function that returns values and raises becomes one that returns
    ``S_OK``/``S_ERROR``.

    The return value is wrapped in ``S_OK``; :class:`SErrorException` becomes its ``S_ERROR``;
    any other exception becomes ``S_ERROR("<repr>: <str>")`` with the exception kept under
    ``ExecInfo`` (``(type, value, traceback)``) and its traceback frames as ``CallStack``.
    Coroutine functions are supported too (beyond DIRAC): the result is awaited.
    """
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def wrapped_async(*args: _P.args, **kwargs: _P.kwargs) -> DReturnType:
            try:
                value = await func(*args, **kwargs)
            except SErrorException as exc:
                return exc.result
            except Exception as exc:  # converted, not swallowed: kept under ExecInfo
                return _error_from_exception(exc)
            return S_OK(value)

        _set_return_annotation(wrapped_async, func)
        return wrapped_async

    @functools.wraps(func)
    def wrapped(*args: _P.args, **kwargs: _P.kwargs) -> DReturnType:
        try:
            value = func(*args, **kwargs)
        except SErrorException as exc:
            return exc.result
        except Exception as exc:  # converted, not swallowed: kept under ExecInfo
            return _error_from_exception(exc)
        return S_OK(value)

    _set_return_annotation(wrapped, func)
    return wrapped


def _set_return_annotation(wrapper: Callable[..., Any], func: Callable[..., Any]) -> None:
    # functools.wraps shares func's annotation dict with the wrapper: copy it before changing
    # the return type, or the decorated function's own annotations would change too.
    wrapper.__annotations__ = {**getattr(func, "__annotations__", {}), "return": DReturnType}
