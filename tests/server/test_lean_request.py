"""``LeanRequest``: the request object made without redoing Tornado's checks is the one Tornado
makes; anything those checks have not passed before still goes through them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest
import requests
from tornado import httputil

from tests.conftest import DUMMY
from tests.support.live_server import LiveServer
from tests.support.pki import ServerPKI
from tornadoservice.server import lean
from tornadoservice.server.lean import LeanRequest, make_request


@pytest.fixture(autouse=True)
def no_known_hosts() -> Iterator[None]:
    with mock.patch.dict(lean._HOST_NAMES, clear=True):
        yield


def _connection() -> Any:
    connection = mock.Mock()
    connection.context.remote_ip = "127.0.0.1"
    connection.context.protocol = "https"
    return connection


def _request(path: str = "/Framework/A", host: str | None = "Example.org:8443", **kw: Any) -> Any:
    headers = httputil.HTTPHeaders()
    if host is not None:
        headers["Host"] = host
    start_line = httputil.RequestStartLine("POST", path, kw.get("version", "HTTP/1.1"))
    return make_request(kw.get("connection") or _connection(), "server", start_line, headers)


def test_a_known_host_gets_a_lean_request_equal_to_tornados() -> None:
    connection = _connection()
    first = _request(connection=connection)
    assert type(first) is httputil.HTTPServerRequest  # the first one passes Tornado's checks
    second = _request(connection=connection)
    assert type(second) is LeanRequest
    tornados = vars(first)
    leans = vars(second)
    assert set(leans) == set(tornados)  # a Tornado release that adds an attribute is caught
    for name in tornados:
        if name not in ("_start_time", "headers"):
            assert leans[name] == tornados[name], name
    assert second.host_name == "example.org"
    assert list(second.headers.get_all()) == list(first.headers.get_all())
    assert second.full_url() == "https://Example.org:8443/Framework/A"
    assert second.request_time() >= 0


def test_a_query_string_gets_tornados_request_and_its_arguments() -> None:
    _request()
    request = _request("/Framework/A?a=1&b=&a=2")
    assert type(request) is httputil.HTTPServerRequest
    assert request.query_arguments == {"a": [b"1", b"2"], "b": [b""]}
    assert request.arguments == request.query_arguments
    assert request.path == "/Framework/A"


@pytest.mark.parametrize("host", ["bad host", "a.org,b.org", "x\x7f", "a/b"])
def test_a_bad_host_is_refused_every_time(host: str) -> None:
    for _ in range(3):
        with pytest.raises(httputil.HTTPInputError):
            _request(host=host)
    assert host not in lean._HOST_NAMES


def test_http_1_0_without_host_is_tornados() -> None:
    for _ in range(2):
        request = _request(host=None, version="HTTP/1.0")
        assert type(request) is httputil.HTTPServerRequest
        assert request.host == "127.0.0.1"


def test_the_hosts_known_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lean, "MAX_HOSTS_KNOWN", 3)
    for number in range(10):
        for _ in range(2):
            request = _request(host=f"host{number}.example")
            assert request.host_name == f"host{number}.example"
    assert len(lean._HOST_NAMES) == 3
    assert type(_request(host="host1.example")) is LeanRequest
    assert type(_request(host="host9.example")) is httputil.HTTPServerRequest


def test_live_calls_get_the_same_answers(
    dummy_server: LiveServer,
    session_for: Callable[[Any], requests.Session],
    server_pki: ServerPKI,
) -> None:
    session = session_for(server_pki.proxy)
    url = dummy_server.url(DUMMY)
    for _ in range(3):  # the later calls get a LeanRequest
        response = session.post(url, data={"method": "echo", "args": '["x"]'}, timeout=30)
        assert response.json() == {"OK": True, "Value": "x"}
    # A query string: Tornado's request object, the same answer.
    response = session.post(url + "?x=1", data={"method": "echo", "args": '["q"]'}, timeout=30)
    assert response.json() == {"OK": True, "Value": "q"}
    for _ in range(2):  # a bad Host is refused each time, after good ones
        bad = session.post(
            url, data={"method": "echo", "args": '["x"]'}, headers={"Host": "a,b"}, timeout=30
        )
        assert bad.status_code == 400
