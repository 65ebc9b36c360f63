"""Error numbers, their messages, and the framework's base exception."""

from __future__ import annotations

import errno
import os

import pytest

from tornadoservice.core import errors
from tornadoservice.core.errors import TornadoServiceError, strerror


@pytest.mark.parametrize(
    ("code", "value"),
    [
        (errors.ETYPE, 1000),
        (errors.EIMPERR, 1001),
        (errors.ENOMETH, 1002),
        (errors.ECONF, 1003),
        (errors.EVALUE, 1004),
        (errors.EEEXCEPTION, 1005),
        (errors.EOF, 1011),
        (errors.EX509, 1100),
        (errors.ENOGROUP, 1108),
        (errors.ENOAUTH, 1111),
        (errors.EVOMS, 1121),
        (errors.ETOKENTYPE, 1152),
        (errors.ESECTION, 1400),
        (errors.EWMSPLTVER, 1511),
        (errors.EWMSNOPILOT, 1550),
        (errors.ERESUNK, 2002),
    ],
)
def test_dirac_codes_have_diracs_numbers(code: int, value: int) -> None:
    assert code == value


def test_standard_codes_are_the_platforms() -> None:
    assert errors.ENOENT == errno.ENOENT
    assert errors.EACCES == errno.EACCES
    assert errors.ENOSYS == errno.ENOSYS
    assert errors.EINVAL == errno.EINVAL


def test_every_dirac_code_has_a_message() -> None:
    dirac_codes = {
        value
        for name, value in vars(errors).items()
        if name.startswith("E") and isinstance(value, int) and value >= 1000
    }
    assert dirac_codes == set(errors.DIRAC_MESSAGES)
    assert all(name in errors.__all__ for name in vars(errors) if name.startswith("E"))


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (1000, "Object Type Error"),
        (1002, "No such method or function"),
        (1003, "Configuration error"),
        (1004, "Wrong value passed"),
        (1005, "runtime general exception"),
        (1101, "Can't find proxy"),
        (1111, "Unauthorized query"),
        (1150, "Can't find a bearer access token."),
        (1511, "Pilot version does not match"),
    ],
)
def test_strerror_of_a_dirac_code(code: int, message: str) -> None:
    assert strerror(code) == message


@pytest.mark.parametrize("code", [errno.ENOENT, errno.EACCES, errno.ENOSYS, errno.EPERM])
def test_strerror_of_a_standard_code_is_the_c_librarys(code: int) -> None:
    assert strerror(code) == os.strerror(code)


def test_strerror_of_zero_is_diracs_wording() -> None:
    assert strerror(0) == "Undefined error"


@pytest.mark.parametrize("code", [99_999, 2**70, -(2**70)])
def test_strerror_of_an_unknown_code(code: int) -> None:
    assert strerror(code) == f"Unknown error {code}"


def test_base_exception_carries_an_errno() -> None:
    exc = TornadoServiceError("no such thing", errno=errors.ENOENT)
    assert str(exc) == "no such thing"
    assert exc.errno == errno.ENOENT
    assert TornadoServiceError("x").errno == 0


def test_subclasses_choose_their_default_errno() -> None:
    class ConfigError(TornadoServiceError):
        default_errno = errors.ECONF

    assert ConfigError("bad option").errno == 1003
    assert ConfigError("bad option", errno=errors.ESECTION).errno == 1400
    with pytest.raises(TornadoServiceError):
        raise ConfigError("caught through the base class")
