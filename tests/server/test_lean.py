"""``LeanHandler``: the per-request set-up it cuts gives what Tornado's ``RequestHandler`` gave."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from typing import Any
from unittest import mock

import requests
from tornado import httputil
from tornado.web import Application, RequestHandler

from tests.conftest import DUMMY
from tests.support.live_server import LiveServer
from tests.support.pki import ServerPKI
from tornadoservice.server import lean
from tornadoservice.server.lean import LeanHandler, ServiceApplication, http_date


class Plain(RequestHandler):
    pass


class Lean(LeanHandler):
    pass


def _handler(cls: type[RequestHandler]) -> RequestHandler:
    request = httputil.HTTPServerRequest(
        start_line=httputil.RequestStartLine("POST", "/", "HTTP/1.1"),
        headers=httputil.HTTPHeaders({"Host": "x"}),
        connection=mock.Mock(),
    )
    return cls(Application(), request)


def test_clear_leaves_what_tornados_clear_leaves() -> None:
    with mock.patch("time.time", return_value=1_700_000_000.25):
        lean._date = (0, "")
        plain, cut = _handler(Plain), _handler(Lean)
        plain.set_status(404)
        cut.set_status(404)
        plain.write(b"x")
        cut.write(b"x")
        plain.clear()
        cut.clear()
    assert list(cut._headers.get_all()) == list(plain._headers.get_all())
    assert (cut._status_code, cut._reason, cut._write_buffer) == (200, "OK", [])
    assert (plain._status_code, plain._reason, plain._write_buffer) == (200, "OK", [])


def test_init_sets_every_attribute_tornados_init_sets() -> None:
    plain, cut = _handler(Plain), _handler(Lean)
    # ui is made on first use: the only attribute Tornado's __init__ sets that LeanHandler's
    # does not. Any other one missing means a Tornado release changed __init__.
    assert set(vars(cut)) == set(vars(plain)) - {"ui"}
    for name in ("_headers_written", "_finished", "_auto_finish", "_prepared_future"):
        assert getattr(cut, name) == getattr(plain, name), name
    cut.request.connection.set_close_callback.assert_called_once_with(cut.on_connection_close)


def test_ui_is_tornados_namespace_made_on_first_use() -> None:
    plain, cut = _handler(Plain), _handler(Lean)
    assert "_lean_ui" not in vars(cut)
    assert set(cut.ui) == set(plain.ui) == {"_tt_modules", "modules"}
    assert cut.ui is cut.ui  # made once
    assert cut.ui["modules"] is cut.ui["_tt_modules"]
    assert type(cut.ui["modules"]) is type(plain.ui["modules"])
    cut.ui = {"replaced": True}  # assignable, as Tornado's attribute
    assert cut.ui == {"replaced": True}


def test_http_date_is_tornados_date_and_made_once_per_second() -> None:
    lean._date = (0, "")
    with mock.patch.object(httputil, "format_timestamp", wraps=httputil.format_timestamp) as fmt:
        first = http_date(1_700_000_000.1)
        again = http_date(1_700_000_000.9)
        later = http_date(1_700_000_001.0)
    assert first == again == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert later == "Tue, 14 Nov 2023 22:13:21 GMT"
    assert fmt.call_count == 2  # one per second seen, not one per call


def test_answers_carry_a_current_date_on_both_transports(
    dummy_server: LiveServer,
    session_for: Callable[[Any], requests.Session],
    server_pki: ServerPKI,
) -> None:
    session = session_for(server_pki.proxy)
    for _ in range(2):  # the second answer comes from the cached text
        before = int(time.time())
        response = session.post(
            dummy_server.url(DUMMY), data={"method": "echo", "args": '["x"]'}, timeout=30
        )
        after = time.time()
        assert response.status_code == 200
        sent = email.utils.parsedate_to_datetime(response.headers["Date"]).timestamp()
        assert before <= sent <= after
        assert response.headers["Server"] == lean.SERVER_HEADER


class ServiceA(RequestHandler):
    pass


class ServiceB(RequestHandler):
    pass


class Missing(RequestHandler):
    pass


ROUTE_TABLES: list[list[Any]] = [
    # ours: probes with kwargs, then System/Service paths
    [
        ("/health/live", ServiceA, {"kind": "live"}),
        ("/Framework/A", ServiceA),
        ("/Sys/B", ServiceB),
    ],
    # a pattern route first shadows the plain one after it: Tornado's router decides
    [(r"/Sys/.*", ServiceA), ("/Sys/B", ServiceB)],
    # a plain route listed twice: the first wins, as in Tornado
    [("/Sys/B", ServiceB), ("/Sys/B", ServiceA)],
    # names with characters a pattern gives meaning to are left to Tornado
    [("/Sys/B-1", ServiceB), ("/Sys/B.1", ServiceA)],
]
PATHS = ["/health/live", "/Framework/A", "/Sys/B", "/Sys/B/x", "/Sys/B\n", "/Sys/Bx", "/sys/b",
         "/Sys/B-1", "/Sys/BX1", "/Sys/B.1", "/", "/nothing"]  # fmt: skip


def _route(app: Application, path: str) -> tuple[type[RequestHandler], dict[str, Any]]:
    request = httputil.HTTPServerRequest(
        start_line=httputil.RequestStartLine("POST", path, "HTTP/1.1"),
        headers=httputil.HTTPHeaders({"Host": "x"}),
        connection=mock.Mock(),
    )
    delegate = app.find_handler(request)
    return delegate.handler_class, delegate.handler_kwargs


def test_service_application_routes_every_path_as_tornado_does() -> None:
    for table in ROUTE_TABLES:
        plain = Application(table, default_handler_class=Missing)
        fast = ServiceApplication(table, default_handler_class=Missing)
        for path in PATHS:
            assert _route(fast, path) == _route(plain, path), (table, path)


def test_service_application_finds_plain_paths_without_tornados_router() -> None:
    fast = ServiceApplication(ROUTE_TABLES[0], default_handler_class=Missing)
    with mock.patch.object(fast.default_router, "find_handler", side_effect=AssertionError):
        assert _route(fast, "/Sys/B") == (ServiceB, {})
        assert _route(fast, "/health/live") == (ServiceA, {"kind": "live"})
    # An unknown path is Tornado's to answer (the default handler).
    assert _route(fast, "/Sys/B/x") == (Missing, {})


def test_host_specific_routes_added_later_are_honoured() -> None:
    fast = ServiceApplication([("/Sys/B", ServiceB)], default_handler_class=Missing)
    fast.add_handlers(r".*", [("/Sys/B", ServiceA)])
    plain = Application([("/Sys/B", ServiceB)], default_handler_class=Missing)
    plain.add_handlers(r".*", [("/Sys/B", ServiceA)])
    assert _route(fast, "/Sys/B") == _route(plain, "/Sys/B") == (ServiceA, {})
