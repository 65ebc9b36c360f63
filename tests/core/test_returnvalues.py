"""S_OK/S_ERROR and their helpers, as DIRAC code uses them."""

from __future__ import annotations

import asyncio
import enum
import errno
import linecache
import sys
import traceback
from typing import Any, NoReturn

import pytest

from tornadoservice.core import returnvalues
from tornadoservice.core.errors import ENOMETH, TornadoServiceError
from tornadoservice.core.returnvalues import (
    CALL_STACK_DEPTH,
    S_ERROR,
    S_OK,
    SErrorException,
    convertToReturnValue,
    isReturnStructure,
    isSError,
    returnValueOrRaise,
    strip_result_for_wire,
)


def test_s_ok() -> None:
    assert S_OK() == {"OK": True, "Value": None}
    result = S_OK([1, 2])
    assert result == {"OK": True, "Value": [1, 2]}
    assert list(result) == ["OK", "Value"]


def test_s_error_without_arguments() -> None:
    result = S_ERROR()
    assert list(result) == ["OK", "Errno", "Message", "CallStack"]
    assert (result["OK"], result["Errno"], result["Message"]) == (False, 0, "")


def test_s_error_with_a_message_only() -> None:
    result = S_ERROR("something broke")
    assert (result["Errno"], result["Message"]) == (0, "something broke")


@pytest.mark.parametrize(
    ("args", "errno_", "message"),
    [
        ((errno.ENOENT, "some message"), 2, "No such file or directory ( 2 : some message)"),
        (
            (errno.EACCES, "No access to https://h:8443/S/V"),
            13,
            "Permission denied ( 13 : No access to https://h:8443/S/V)",
        ),
        (
            (errno.ENOSYS, "doesNotExist is not implemented"),
            38,
            "Function not implemented ( 38 : doesNotExist is not implemented)",
        ),
        ((ENOMETH, "no export_x"), 1002, "No such method or function ( 1002 : no export_x)"),
        ((errno.ENOENT,), 2, "No such file or directory ( 2 : )"),
        ((0, "plain"), 0, "plain"),
        ((42_424, "odd"), 42_424, "Unknown error 42424 ( 42424 : odd)"),
    ],
)
def test_s_error_with_an_errno(args: tuple[Any, ...], errno_: int, message: str) -> None:
    result = S_ERROR(*args)
    assert (result["Errno"], result["Message"]) == (errno_, message)


def test_s_error_errno_becomes_a_plain_int() -> None:
    class Code(enum.IntEnum):
        NOT_FOUND = 2

    result = S_ERROR(Code.NOT_FOUND, "x")
    assert type(result["Errno"]) is int
    assert result["Message"] == "No such file or directory ( 2 : x)"


def test_s_error_message_is_always_a_string() -> None:
    assert S_ERROR(ValueError("bad value"))["Message"] == "bad value"
    assert S_ERROR(errno.ENOENT, 42)["Message"] == "No such file or directory ( 2 : 42)"


def test_s_error_ignores_extra_arguments_as_dirac_does() -> None:
    assert S_ERROR("first", "second")["Message"] == "first"


def test_s_error_of_an_error_keeps_it() -> None:
    original = S_ERROR(errno.ENOENT, "gone")
    again = S_ERROR(original)
    assert (again["Errno"], again["Message"]) == (2, "No such file or directory ( 2 : gone)")
    assert again["CallStack"] == original["CallStack"]
    assert again is not original
    assert list(again) == ["OK", "Errno", "Message", "CallStack"]


def test_s_error_of_an_error_keeps_exec_info() -> None:
    failed = convertToReturnValue(_raise_value_error)()
    again = S_ERROR(failed)
    assert again["ExecInfo"] is failed["ExecInfo"]


def test_s_error_call_stack_can_be_given() -> None:
    assert S_ERROR("x", callStack=[])["CallStack"] == []
    assert S_ERROR(2, "x", callStack=["here\n"])["CallStack"] == ["here\n"]


def _line_of_next_s_error() -> int:
    frame = sys._getframe(1)
    return frame.f_lineno + 1


def test_call_stack_names_the_caller_without_reading_sources(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Formatting a stack the DIRAC way reads every source file through linecache; an S_ERROR
    # must not: make any such read fail the test.
    def forbidden(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError("S_ERROR read source lines")

    for name in ("getline", "getlines", "checkcache", "updatecache", "lazycache"):
        monkeypatch.setattr(linecache, name, forbidden)
    for name in ("format_stack", "extract_stack", "print_stack", "format_list"):
        monkeypatch.setattr(traceback, name, forbidden)

    line = _line_of_next_s_error()
    result = S_ERROR(errno.ENOENT, "x")

    stack = result["CallStack"]
    assert all(isinstance(entry, str) for entry in stack)
    assert stack[-1] == (
        f'  File "{__file__}", line {line}, in '
        "test_call_stack_names_the_caller_without_reading_sources\n"
    )


def _nested(depth: int) -> dict[str, Any]:
    if depth == 0:
        return S_ERROR("deep")
    return _nested(depth - 1)


def test_call_stack_is_bounded_to_the_innermost_frames() -> None:
    stack = _nested(CALL_STACK_DEPTH * 3)["CallStack"]
    assert len(stack) == CALL_STACK_DEPTH
    assert all(entry.endswith("in _nested\n") for entry in stack)


def test_call_stack_of_a_shallow_caller_is_not_padded() -> None:
    stack = _nested(0)["CallStack"]
    assert stack[-1].endswith("in _nested\n")
    assert stack[-2].endswith("in test_call_stack_of_a_shallow_caller_is_not_padded\n")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"OK": True, "Value": None}, True),
        ({"OK": False, "Message": "x"}, True),
        ({"OK": True}, False),
        ({"OK": False, "Value": 1}, False),
        ({"Value": 1}, False),
        ([("OK", True)], False),
        (None, False),
    ],
)
def test_is_return_structure(value: Any, expected: bool) -> None:
    assert isReturnStructure(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"OK": False, "Errno": 0, "Message": ""}, True),
        ({"OK": True, "Message": "DIRAC does not look at OK here"}, True),
        ({"OK": True, "Value": 1}, False),
        ({"Message": "x"}, False),
        ("OK Message", False),
    ],
)
def test_is_s_error(value: Any, expected: bool) -> None:
    assert isSError(value) is expected


def test_return_value_or_raise_gives_the_value() -> None:
    assert returnValueOrRaise(S_OK({"a": 1})) == {"a": 1}


def test_return_value_or_raise_raises_the_error() -> None:
    error = S_ERROR(errno.EACCES, "nope")
    with pytest.raises(SErrorException) as caught:
        returnValueOrRaise(error)
    assert caught.value.result is error
    assert caught.value.errno == errno.EACCES
    assert str(caught.value) == "Permission denied ( 13 : nope)"
    assert isinstance(caught.value, TornadoServiceError)


def test_return_value_or_raise_reraises_the_original_exception() -> None:
    failed = convertToReturnValue(_raise_value_error)()
    with pytest.raises(ValueError, match="bad value") as caught:
        returnValueOrRaise(failed)
    assert caught.value is failed["ExecInfo"][1]


def test_return_value_or_raise_error_code_for_a_malformed_error() -> None:
    with pytest.raises(SErrorException) as caught:
        returnValueOrRaise({"OK": False}, errorCode=errno.EIO)
    assert caught.value.errno == errno.EIO


def test_s_error_exception_from_a_message() -> None:
    exc = SErrorException("no access", errno.EACCES)
    assert exc.errno == 13
    assert exc.result["Message"] == "Permission denied ( 13 : no access)"
    assert exc.result["CallStack"][-1].endswith("in test_s_error_exception_from_a_message\n")
    assert SErrorException("plain").result["Message"] == "plain"


def _raise_value_error() -> int:
    # Annotated "int", not NoReturn: NoReturn would match the coroutine overload.
    raise ValueError("bad value")


def test_convert_to_return_value_wraps_the_return_value() -> None:
    @convertToReturnValue
    def add(a: int, b: int) -> int:
        return a + b

    assert add(1, 2) == {"OK": True, "Value": 3}


def test_convert_to_return_value_passes_s_error_exceptions() -> None:
    error = S_ERROR(errno.ENOENT, "gone")

    @convertToReturnValue
    def lookup() -> None:
        returnValueOrRaise(error)

    assert lookup() is error


def test_convert_to_return_value_converts_other_exceptions() -> None:
    result = convertToReturnValue(_raise_value_error)()
    assert list(result) == ["OK", "Errno", "Message", "CallStack", "ExecInfo"]
    assert (result["OK"], result["Errno"]) == (False, 0)
    assert result["Message"] == "ValueError('bad value'): bad value"
    exc_type, exc, tb = result["ExecInfo"]
    assert exc_type is ValueError
    assert isinstance(exc, ValueError)
    assert tb is exc.__traceback__
    assert result["CallStack"][-1].endswith("in _raise_value_error\n")


def test_convert_to_return_value_keeps_the_functions_identity() -> None:
    def documented(x: int) -> int:
        """Doc."""
        return x

    wrapped = convertToReturnValue(documented)
    assert wrapped.__name__ == "documented"
    assert wrapped.__doc__ == "Doc."
    assert wrapped.__wrapped__ is documented  # type: ignore[attr-defined]
    assert wrapped.__annotations__["return"] is returnvalues.DReturnType
    assert documented.__annotations__["return"] == "int"


def test_convert_to_return_value_on_a_coroutine_function() -> None:
    @convertToReturnValue
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    @convertToReturnValue
    async def fail() -> None:
        raise KeyError("k")

    @convertToReturnValue
    async def refuse() -> None:
        raise SErrorException("refused", errno.EACCES)

    assert asyncio.run(double(4)) == {"OK": True, "Value": 8}
    failed = asyncio.run(fail())
    assert failed["Message"] == "KeyError('k'): 'k'"
    assert isinstance(failed["ExecInfo"][1], KeyError)
    assert asyncio.run(refuse())["Errno"] == errno.EACCES


def test_strip_result_for_wire_removes_local_keys_only() -> None:
    failed = convertToReturnValue(_raise_value_error)()
    before = dict(failed)
    stripped = strip_result_for_wire(failed)
    assert stripped == {"OK": False, "Errno": 0, "Message": "ValueError('bad value'): bad value"}
    assert list(stripped) == ["OK", "Errno", "Message"]
    assert failed == before  # the input is left alone


def test_strip_result_for_wire_keeps_other_keys() -> None:
    result = {"OK": True, "Value": 1, "CallStack": [], "rpcStub": "x"}
    assert strip_result_for_wire(result) == {"OK": True, "Value": 1, "rpcStub": "x"}


def test_strip_result_for_wire_does_not_copy_a_clean_result() -> None:
    result = S_OK("hello")
    assert strip_result_for_wire(result) is result
