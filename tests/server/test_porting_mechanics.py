"""How DIRAC's handlers are written, served over real HTTPS: classmethod and staticmethod
exports, ``types_<method>``, ``srv_getCSOption`` in ``initializeHandler``, overridden
``encode``/``decode``, ``SUPPORTED_METHODS`` and the service's ``LogLevel``."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
import requests

from tests.support.live_server import LiveServer, live_server
from tests.support.pki import ClientCred, ServerPKI, registry_config
from tornadoservice import S_OK, TornadoService
from tornadoservice.config.registry import Registry
from tornadoservice.config.tree import ConfigTree
from tornadoservice.core.log import DiracLogger
from tornadoservice.server.decorators import authentication, authorization
from tornadoservice.server.service import ServiceDefinitionError, build_method_table
from tornadoservice.wire.jencode import decode, encode

Sessions = Callable[[ClientCred | None], requests.Session]
SERVICE = "Porting/Mechanics"


class MechanicsHandler(TornadoService):
    DEFAULT_AUTHORIZATION: ClassVar[list[str] | None] = ["authenticated"]
    SUPPORTED_METHODS = ("POST", "GET")

    calls: ClassVar[list[str]] = []
    options: ClassVar[dict[str, Any]] = {}

    @classmethod
    def initializeHandler(cls, serviceInfo: dict[str, Any]) -> Any:
        # As DIRAC's handlers do: options read through the classmethod, defaults converted.
        cls.options = {
            "MaxJobs": cls.srv_getCSOption("MaxJobs", 10),
            "Flag": cls.srv_getCSOption("Flag"),
            "Missing": cls.srv_getCSOption("NotThere"),
            "Absolute": cls.srv_getCSOption("/DIRAC/VirtualOrganization", "none"),
            "keys": sorted(serviceInfo),
        }
        return S_OK()

    types_classAdd = [int, int]

    @classmethod
    def export_classAdd(cls, a: int, b: int) -> dict[str, Any]:
        return S_OK({"sum": a + b, "class": cls.__name__, "maxJobs": cls.options["MaxJobs"]})

    types_staticJoin = [str, (list, tuple)]

    @staticmethod
    def export_staticJoin(separator: str, items: list[str]) -> dict[str, Any]:
        return S_OK(separator.join(items))

    @classmethod
    async def export_classAsync(cls, value: int) -> dict[str, Any]:
        return S_OK(value * 2)

    types_skipFirst = [None, int]

    def export_skipFirst(self, anything: Any, count: int) -> dict[str, Any]:
        return S_OK([anything, count])

    types_optional = [int, str, dict]

    def export_optional(
        self, jobID: int, name: str = "x", extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        MechanicsHandler.calls.append(f"optional {jobID}")
        return S_OK([jobID, name, extra])

    types_fewEntries = [int]

    def export_fewEntries(self, jobID: int, anything: Any) -> dict[str, Any]:
        return S_OK([jobID, anything])

    types_variadic = [str, int, int]

    def export_variadic(self, label: str, *numbers: Any) -> dict[str, Any]:
        return S_OK([label, list(numbers)])

    types_guarded = [int]

    def export_guarded(self, jobID: int) -> dict[str, Any]:
        MechanicsHandler.calls.append(f"guarded {jobID!r}")
        return S_OK(jobID)

    def export_options(self) -> dict[str, Any]:
        return S_OK({**self.options, "instance": self.getCSOption("MaxJobs", 0)})

    def export_logLevel(self) -> dict[str, Any]:
        return S_OK(self.log.getLevel())


class EnvelopeHandler(TornadoService):
    """Overrides encode and decode: answers are wrapped, arguments arrive reversed."""

    DEFAULT_AUTHORIZATION: ClassVar[list[str] | None] = ["authenticated"]

    @staticmethod
    def encode(data: Any) -> str:
        return encode({"envelope": data})

    def decode(self, text: str) -> tuple[Any, int]:
        value, length = decode(text)
        return list(reversed(value)), length

    def export_pair(self, first: Any, second: Any) -> dict[str, Any]:
        return S_OK([first, second])


def _config(pki: ServerPKI) -> ConfigTree:
    tree = registry_config(pki)
    tree["Systems"] = {
        "Porting": {
            "Services": {
                "Mechanics": {"Protocol": "https", "MaxJobs": "25", "Flag": "yes"},
                "Envelope": {"Protocol": "https"},
                "Quiet": {"Protocol": "https", "LogLevel": "error"},
            }
        }
    }
    return ConfigTree.from_dict(tree)


class QuietHandler(MechanicsHandler):
    pass


@pytest.fixture(scope="module")
def server(server_pki: ServerPKI) -> Iterator[LiveServer]:
    handlers: dict[str, type[TornadoService]] = {
        SERVICE: MechanicsHandler,
        "Porting/Envelope": EnvelopeHandler,
        "Porting/Quiet": QuietHandler,
    }
    with live_server(_config(server_pki), handlers) as live:
        yield live


def _call(
    session: requests.Session, server: LiveServer, method: str, *args: Any, service: str = SERVICE
) -> requests.Response:
    return session.post(
        server.url(service), data={"method": method, "args": json.dumps(list(args))}, timeout=30
    )


@pytest.fixture
def user(session_for: Sessions, server_pki: ServerPKI) -> requests.Session:
    return session_for(server_pki.proxy)


# ---------------------------------------------------------------- item 1: bound exports
def test_classmethod_export_runs_bound_to_the_serving_class(
    server: LiveServer, user: requests.Session
) -> None:
    response = _call(user, server, "classAdd", 2, 3)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "OK": True,
        "Value": {"sum": 5, "class": "MechanicsHandler", "maxJobs": 25},
    }


def test_staticmethod_export_gets_no_self(server: LiveServer, user: requests.Session) -> None:
    response = _call(user, server, "staticJoin", "-", ["a", "b", "c"])
    assert response.status_code == 200, response.text
    assert response.json() == {"OK": True, "Value": "a-b-c"}


def test_async_classmethod_export(server: LiveServer, user: requests.Session) -> None:
    assert _call(user, server, "classAsync", 21).json() == {"OK": True, "Value": 42}


def test_classmethod_arity_counts_from_the_bound_callable(
    server: LiveServer, user: requests.Session
) -> None:
    response = _call(user, server, "classAdd", 1)
    assert response.status_code == 400
    assert "classAdd() takes 2 arguments, 1 given" in response.json()["Message"]


def test_classmethod_of_a_second_service_binds_to_its_own_class(
    server: LiveServer, user: requests.Session
) -> None:
    # QuietHandler subclasses MechanicsHandler: its classmethod export sees its own class.
    response = _call(user, server, "classAdd", 1, 1, service="Porting/Quiet")
    assert response.json()["Value"]["class"] == "QuietHandler"


# ---------------------------------------------------------------- item 2: types_
def test_types_mismatch_of_a_type_names_the_argument(
    server: LiveServer, user: requests.Session
) -> None:
    MechanicsHandler.calls.clear()
    response = _call(user, server, "guarded", "12")
    assert response.status_code == 400
    body = response.json()
    assert body["OK"] is False
    assert body["Errno"] == 22  # EINVAL
    assert (
        "Type mismatch in parameter 0 (starting with param 0) 'jobID' of guarded: "
        "received str, expected int"
    ) in body["Message"]
    assert MechanicsHandler.calls == []  # the method never ran
    assert _call(user, server, "guarded", 12).json() == {"OK": True, "Value": 12}
    assert MechanicsHandler.calls == ["guarded 12"]


def test_types_mismatch_of_a_tuple_entry(server: LiveServer, user: requests.Session) -> None:
    response = _call(user, server, "staticJoin", "-", "abc")
    assert response.status_code == 400
    assert (
        "Type mismatch in parameter 1 (starting with param 0) 'items' of staticJoin: "
        "received str, expected (list, tuple)"
    ) in response.json()["Message"]


def test_types_none_entry_skips_its_argument(server: LiveServer, user: requests.Session) -> None:
    for anything in ("text", 3, None, {"a": 1}):
        response = _call(user, server, "skipFirst", anything, 7)
        assert response.json() == {"OK": True, "Value": [anything, 7]}
    response = _call(user, server, "skipFirst", "text", "seven")
    assert response.status_code == 400
    assert "parameter 1 (starting with param 0) 'count'" in response.json()["Message"]


def test_types_fewer_arguments_than_entries_checks_those_given(
    server: LiveServer, user: requests.Session
) -> None:
    assert _call(user, server, "optional", 5).json() == {"OK": True, "Value": [5, "x", None]}
    response = _call(user, server, "optional", 5, 6)
    assert response.status_code == 400
    assert (
        "parameter 1 (starting with param 0) 'name' of optional: received int, expected str"
        in (response.json()["Message"])
    )


def test_types_more_arguments_than_entries_leaves_the_rest_unchecked(
    server: LiveServer, user: requests.Session
) -> None:
    for anything in ("s", 1.5, [1], None):
        assert _call(user, server, "fewEntries", 1, anything).json()["Value"] == [1, anything]
    response = _call(user, server, "fewEntries", "1", "s")
    assert response.status_code == 400
    assert "'jobID' of fewEntries: received str, expected int" in response.json()["Message"]


def test_types_of_variadic_arguments(server: LiveServer, user: requests.Session) -> None:
    assert _call(user, server, "variadic", "n", 1, 2).json()["Value"] == ["n", [1, 2]]
    beyond = _call(user, server, "variadic", "n", 1, 2, "unchecked")
    assert beyond.json()["Value"] == ["n", [1, 2, "unchecked"]]
    response = _call(user, server, "variadic", "n", 1, "2")
    assert response.status_code == 400
    assert "parameter 2 (starting with param 0) '*numbers[1]'" in response.json()["Message"]


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ("int", "types_bad must be a list, not str"),
        (["int"], "types_bad[0] must be a type, a tuple of types or None, not 'int'"),
        ([(int, "x")], "types_bad[0] must be a type, a tuple of types or None"),
        ([()], "types_bad[0] must be a type, a tuple of types or None, not ()"),
    ],
)
def test_malformed_types_declaration_is_refused_at_start(declared: Any, message: str) -> None:
    handler = type(
        "BadTypes",
        (TornadoService,),
        {"types_bad": declared, "export_bad": lambda self, x: S_OK(x)},
    )
    with pytest.raises(ServiceDefinitionError, match=r"BadTypes\.export_bad") as info:
        build_method_table(handler, {}, Registry.from_config(ConfigTree()))
    assert message in str(info.value)


# ---------------------------------------------------------------- item 3: options
def test_initialize_handler_reads_options_through_srv_getcsoption(
    server: LiveServer, user: requests.Session
) -> None:
    value = _call(user, server, "options").json()["Value"]
    assert value["MaxJobs"] == 25  # converted to the default's type
    assert value["Flag"] is True  # the default False converts "yes"
    assert value["Missing"] is False  # DIRAC's default
    assert value["Absolute"] == "dirac"
    assert value["instance"] == 25  # getCSOption works on an instance too
    for key in ("serviceName", "serviceSectionPath", "URL", "csPaths", "validNames"):
        assert key in value["keys"]


# ---------------------------------------------------------------- item 9: the smaller ones
def test_overridden_encode_and_decode_are_used(server: LiveServer, user: requests.Session) -> None:
    response = _call(user, server, "pair", "first", "second", service="Porting/Envelope")
    assert response.status_code == 200
    assert response.json() == {"envelope": {"OK": True, "Value": ["second", "first"]}}


def test_supported_methods_beyond_post_are_served(
    server: LiveServer, user: requests.Session
) -> None:
    # Arguments travel in the form body, whatever the verb, as DIRAC's TornadoService reads them.
    response = user.get(
        server.url(SERVICE), data={"method": "classAdd", "args": "[4, 5]"}, timeout=30
    )
    assert response.status_code == 200, response.text
    assert response.json()["Value"]["sum"] == 9
    # A verb the handler does not list is refused before anything runs (no body: Tornado
    # answers before reading one; the connection may not be reused after that answer).
    close = {"Connection": "close"}
    response = user.put(
        server.url(SERVICE), params={"method": "classAdd"}, headers=close, timeout=30
    )
    assert response.status_code == 405
    assert response.json()["OK"] is False
    response = user.get(
        server.url("Porting/Envelope"), params={"method": "pair"}, headers=close, timeout=30
    )
    assert response.status_code == 405


def test_service_log_level_option_and_set_get_level(
    server: LiveServer, user: requests.Session
) -> None:
    assert _call(user, server, "logLevel", service="Porting/Quiet").json()["Value"] == "ERROR"
    logger = DiracLogger("tests.porting.levels")
    assert logger.setLevel("verbose") is True
    assert logger.getLevel() == "VERBOSE"
    assert logger.setLevel("warn") is True
    assert logger.getLevel() == "WARN"
    assert logger.setLevel("LOUD") is False
    assert logger.getLevel() == "WARN"  # unchanged
    logger.logger.setLevel(logging.NOTSET)


def test_unknown_log_level_option_stops_the_start(server_pki: ServerPKI) -> None:
    tree = registry_config(server_pki)
    tree["Systems"] = {
        "Porting": {"Services": {"Quiet": {"Protocol": "https", "LogLevel": "chatty"}}}
    }
    config = ConfigTree.from_dict(tree)
    with (
        pytest.raises(ServiceDefinitionError, match="LogLevel: unknown level 'chatty'"),
        live_server(config, {"Porting/Quiet": QuietHandler}),
    ):
        pass


def test_required_keyword_only_argument_is_refused_at_start() -> None:
    def export_bad(self: Any, *, flag: bool) -> dict[str, Any]:
        return S_OK(flag)

    handler = type("KeywordOnly", (TornadoService,), {"export_bad": export_bad})
    with pytest.raises(ServiceDefinitionError) as info:
        build_method_table(handler, {}, Registry.from_config(ConfigTree()))
    assert "KeywordOnly.export_bad: it has a required keyword-only argument 'flag'" in str(
        info.value
    )


def test_decorators_above_classmethod_and_staticmethod_keep_their_rule() -> None:
    class Decorated(TornadoService):
        @authorization(["ServiceAdministrator"])
        @classmethod
        def export_above(cls) -> dict[str, Any]:
            return S_OK()

        @authentication(["SSL"])
        @authorization(["NormalUser"])
        @staticmethod
        def export_static() -> dict[str, Any]:
            return S_OK()

        @classmethod
        @authorization(["Operator"])
        def export_below(cls) -> dict[str, Any]:
            return S_OK()

    # With a Default that admits everybody, a lost mark would open the method to all.
    table = build_method_table(Decorated, {"Default": "all"}, Registry.from_config(ConfigTree()))
    assert table["above"].rule.tokens == ("ServiceAdministrator",)
    assert table["static"].rule.tokens == ("NormalUser",)
    assert table["static"].authentication == ("SSL",)
    assert table["below"].rule.tokens == ("Operator",)
