"""The flat namespace: DIRAC's names, each importable, each the thin adapter it should be."""

from __future__ import annotations

import pytest

import tornadoservice.compat.dirac as dirac
from tornadoservice.compat.dirac import (
    S_ERROR,
    S_OK,
    DErrno,
    Properties,
    RequestHandler,
    TornadoService,
    gLogger,
    returnSingleResult,
)
from tornadoservice.core import returnvalues
from tornadoservice.core.log import DiracLogger
from tornadoservice.server.handler import TornadoService as OwnService

# The names a porter looks for first; the full list is __all__ (and docs/porting.md).
CORE_NAMES = {
    "S_OK",
    "S_ERROR",
    "gConfig",
    "gLogger",
    "returnSingleResult",
    "returnValueOrRaise",
    "convertToReturnValue",
    "SErrorException",
    "DErrno",
    "Registry",
    "PathFinder",
    "Properties",
    "ObjectLoader",
    "RequestHandler",
    "TornadoService",
    "getServiceOption",
    "TornadoClient",
    "getUsernameForDN",
    "getGroupsForUser",
    "getPropertiesForGroup",
    "getVOForGroup",
    "getServiceSection",
    "cmpError",
    "ENOAUTH",
    "JOB_ADMINISTRATOR",
}


def test_every_exported_name_exists_once() -> None:
    assert len(dirac.__all__) == len(set(dirac.__all__))
    assert [name for name in dirac.__all__ if not hasattr(dirac, name)] == []
    assert set(dirac.__all__) >= CORE_NAMES
    assert "TornadoServiceError" not in dirac.__all__


def test_adapters_are_our_own_objects() -> None:
    assert S_OK is returnvalues.S_OK and S_ERROR is returnvalues.S_ERROR
    assert TornadoService is OwnService and RequestHandler is OwnService
    assert isinstance(gLogger, DiracLogger)
    assert gLogger.getSubLogger("Sub").logger.name == "DIRAC.Sub"


def test_return_single_result() -> None:
    assert returnSingleResult(S_OK({"Successful": {"a": 1}, "Failed": {}})) == S_OK(1)
    failed = returnSingleResult(S_OK({"Successful": {"a": 1}, "Failed": {"b": "lost"}}))
    assert not failed["OK"] and failed["Message"] == "lost"
    inner = S_ERROR(DErrno.ENOENT, "gone")
    assert returnSingleResult(S_OK({"Failed": {"b": inner}})) is inner
    assert returnSingleResult(S_OK({"Failed": {"b": {"why": 1}}}))["Message"] == "{'why': 1}"
    empty = returnSingleResult(S_OK({"Successful": {}, "Failed": {}}))
    assert not empty["OK"] and "empty" in empty["Message"]
    error = S_ERROR("down")
    assert returnSingleResult(error) is error


def test_cmp_error() -> None:
    assert DErrno.cmpError(S_ERROR(DErrno.ENOAUTH, "x"), DErrno.ENOAUTH)
    assert not DErrno.cmpError(S_ERROR(DErrno.ENOAUTH, "x"), DErrno.EWMSNOMATCH)
    no_number = S_ERROR(f"{DErrno.strerror(DErrno.EWMSNOMATCH)}: for job 1")
    assert DErrno.cmpError(no_number, DErrno.EWMSNOMATCH)
    assert DErrno.cmpError(DErrno.EIO, DErrno.EIO)
    assert DErrno.cmpError(DErrno.strerror(DErrno.EIO) + " here", DErrno.EIO)
    for bad in (None, True, 1.5):
        try:
            DErrno.cmpError(bad, DErrno.EIO)
        except TypeError as exc:
            assert "Unknown input error type" in str(exc)
        else:
            raise AssertionError(f"cmpError({bad!r}) did not raise")


def test_properties() -> None:
    assert Properties.JOB_ADMINISTRATOR == "JobAdministrator"
    assert Properties.SecurityProperty("NormalUser") is Properties.SecurityProperty.NORMAL_USER
    assert Properties.NORMAL_USER in ["NormalUser"]
    assert {p.name for p in Properties.SecurityProperty} <= set(Properties.__all__)


def test_str_to_int_dict() -> None:
    from tornadoservice.compat.dirac import decode, encode, strToIntDict

    sent, _ = decode(encode({1: "a", 22: "b"}))
    assert sent == {"1": "a", "22": "b"}  # JSON keys are strings
    assert strToIntDict(sent) == {1: "a", 22: "b"}
    try:
        strToIntDict({"x": 1})
    except ValueError:
        pass
    else:
        raise AssertionError("a key that is not an int was accepted")


def test_glogger_levels_and_records(caplog: pytest.LogCaptureFixture) -> None:
    sub = gLogger.getSubLogger("LevelsTest")
    try:
        assert sub.setLevel("verbose") is True
        assert sub.getLevel() == "VERBOSE"
        assert sub.setLevel("chatty") is False  # unknown: nothing changes
        assert sub.getLevel() == "VERBOSE"
        with caplog.at_level("DEBUG"):  # the root; the sub-logger keeps VERBOSE
            sub.debug("hidden")
            sub.verbose("shown", "with its variable part")
        assert [r.getMessage() for r in caplog.records] == ["shown with its variable part"]
    finally:
        sub.logger.setLevel("NOTSET")
