"""The wire protocol over real HTTPS: bodies, status codes and error bodies (reference 5.1, 5.4)."""

from __future__ import annotations

import contextlib
import gzip
import json
import time
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
import requests

from tests.conftest import DUMMY
from tests.support.live_server import LiveServer
from tests.support.pki import ClientCred, ServerPKI

Sessions = Callable[[ClientCred | None], requests.Session]


def post(
    session: requests.Session, server: LiveServer, data: object, **kwargs: object
) -> requests.Response:
    return session.post(server.url(DUMMY), data=data, timeout=30, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("method", "args", "body"),
    [
        ("echo", '["hello"]', '{"OK": true, "Value": "hello"}'),
        ("add", "[1, 2]", '{"OK": true, "Value": 3}'),
        ("true", "[]", '{"OK": true, "Value": null}'),
        ("false", "[]", '{"OK": false, "Errno": 0, "Message": ""}'),
        (
            "fail",
            '["some message"]',
            '{"OK": false, "Errno": 2, "Message": "No such file or directory ( 2 : some message)"}',
        ),
        ("normalUserOnly", "[]", '{"OK": true, "Value": "ciuser"}'),
        ("echo", '{"a": 1}', '{"OK": true, "Value": "a"}'),
    ],
)
def test_result_bodies_are_byte_identical_to_dirac(
    dummy_server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    method: str,
    args: str,
    body: str,
) -> None:
    response = post(session_for(server_pki.proxy), dummy_server, {"method": method, "args": args})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.text == body


def test_dirac_client_form_is_understood(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    # Exactly what DIRAC's TornadoClient sends for add(1, 2), clientVO/clientSetup included.
    raw = "method=add&args=%5B1%2C+2%5D&clientVO=dirac&clientSetup=None"
    response = post(
        session_for(server_pki.proxy),
        dummy_server,
        raw,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.text == '{"OK": true, "Value": 3}'


def test_method_may_come_in_the_query_string(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    response = session_for(server_pki.proxy).post(
        dummy_server.url(DUMMY) + "?method=echo", data={"args": '["q"]'}, timeout=30
    )
    assert response.text == '{"OK": true, "Value": "q"}'


def test_types_round_trip_with_jencode(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    response = post(session_for(server_pki.proxy), dummy_server, {"method": "types"})
    assert response.text == (
        '{"OK": true, "Value": {"dt": {"__dCls": "dt", "obj": "2024-01-02 03:04:05"}, '
        '"date": {"__dCls": "date", "obj": "2024-01-02"}, "bytes": {"__dCls": "b64", "obj": "AP96"}, '
        '"tuple": [1, 2], "float": 1.5, "none": null}}'
    )


def error_body(response: requests.Response) -> dict[str, object]:
    assert response.headers["Content-Type"] == "application/json"
    body = json.loads(response.text)
    assert body["OK"] is False
    assert "CallStack" not in body
    return dict(body)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ({"args": "[]"}, None),
        (json.dumps({"method": "echo"}), "application/json"),
        (b"", None),
    ],
    ids=["no-method-field", "json-body", "no-body"],
)
def test_missing_method_is_400(
    dummy_server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    data: object,
    content_type: str | None,
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = post(session_for(server_pki.proxy), dummy_server, data, headers=headers)
    assert response.status_code == 400
    body = error_body(response)
    assert "method" in str(body["Message"])
    assert body["Errno"] == 22


def test_no_certificate_is_401_even_for_all_methods(
    dummy_server: LiveServer, session_for: Sessions
) -> None:
    response = post(session_for(None), dummy_server, {"method": "echo", "args": '["x"]'})
    assert response.status_code == 401
    assert error_body(response)["Errno"] == 13


def test_visitor_scheme_admits_no_certificate(
    dummy_server: LiveServer, session_for: Sessions
) -> None:
    response = post(session_for(None), dummy_server, {"method": "visitorOnly"})
    assert response.status_code == 200
    assert json.loads(response.text)["Value"] == {
        "properties": [],
        "username": "anonymous",
        "group": "visitor",
    }


def test_unknown_method_is_401_before_authentication(
    dummy_server: LiveServer, session_for: Sessions
) -> None:
    # Unlike DIRAC (501 first), an anonymous caller cannot learn which methods exist.
    for method in ("doesNotExist", "echo"):
        response = post(session_for(None), dummy_server, {"method": method})
        assert response.status_code == 401, method


@pytest.mark.parametrize("method", ["doesNotExist", ""])
def test_unknown_or_empty_method_is_501_once_authenticated(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI, method: str
) -> None:
    response = post(session_for(server_pki.proxy), dummy_server, {"method": method})
    assert response.status_code == 501
    body = error_body(response)
    assert body["Errno"] == 38
    assert body["Message"] == f"Function not implemented ( 38 : {method} is not implemented)"


@pytest.mark.parametrize("method", ["nobody", "normalUserOnly"])
def test_not_authorized_is_403(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI, method: str
) -> None:
    # stranger is not in the registry: a visitor, refused by anything but "all".
    cred = server_pki.proxy if method == "nobody" else server_pki.stranger_proxy
    response = post(session_for(cred), dummy_server, {"method": method})
    assert response.status_code == 403
    assert error_body(response)["Errno"] == 13


def test_host_certificate_without_hosts_is_a_visitor(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    session = session_for(server_pki.host)
    assert post(session, dummy_server, {"method": "whoami"}).status_code == 403
    assert post(session, dummy_server, {"method": "echo", "args": "[1]"}).status_code == 200


@pytest.mark.parametrize(
    ("cred_name", "extra"),
    [
        ("host", "[not json"),
        ("proxy", '["/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser", "dirac_user"]'),
        ("untrusted_host", '["/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser", "dirac_user"]'),
        ("proxy", '"hosts"'),
    ],
    ids=["malformed", "forward-from-user", "forward-from-untrusted-host", "hosts-from-user"],
)
def test_bad_extra_credentials_are_401(
    dummy_server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    cred_name: str,
    extra: str,
) -> None:
    cred = getattr(server_pki, cred_name)
    response = post(
        session_for(cred),
        dummy_server,
        {"method": "echo", "args": "[1]", "extraCredentials": extra},
    )
    assert response.status_code == 401


def test_proxy_group_the_user_lacks_is_401(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    response = post(session_for(server_pki.proxy_wrong_group), dummy_server, {"method": "whoami"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("[hello", "Malformed 'args'"),
        ('"a string"', "'args' must be a JSON array"),
        ('[{"__dCls": "Popen", "__dMod": "subprocess", "args": "id"}]', "Malformed 'args'"),
        ("[1]", "add() takes 2 arguments, 1 given"),
        ("[1, 2, 3]", "add() takes 2 arguments, 3 given"),
    ],
    ids=["malformed-json", "not-a-list", "unregistered-dcls", "too-few", "too-many"],
)
def test_bad_arguments_are_400_with_the_reason(
    dummy_server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    args: str,
    message: str,
) -> None:
    response = post(session_for(server_pki.proxy), dummy_server, {"method": "add", "args": args})
    assert response.status_code == 400
    assert message in str(error_body(response)["Message"])


def test_argument_counts_with_defaults_and_varargs(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    session = session_for(server_pki.proxy)
    ok = post(session, dummy_server, {"method": "optional", "args": "[1, 5, 6, 7]"})
    assert json.loads(ok.text)["Value"] == [1, 5, 6, 7]
    missing = post(session, dummy_server, {"method": "optional", "args": "[]"})
    assert missing.status_code == 400
    assert "optional() takes at least 1 argument, 0 given" in missing.text
    too_many = post(session, dummy_server, {"method": "whoami", "args": "[1]"})
    assert "whoami() takes 0 arguments, 1 given" in too_many.text


def test_exception_in_method_is_500_without_leaking(
    dummy_server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = post(session_for(server_pki.proxy), dummy_server, {"method": "boom"})
    assert response.status_code == 500
    body = error_body(response)
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    assert body["Message"] == "Unexpected error in boom"
    assert any(
        r.exc_info and "secret internal detail" in str(r.exc_info[1]) for r in caplog.records
    )


@pytest.mark.parametrize("verb", ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"])
def test_other_http_methods_are_405(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI, verb: str
) -> None:
    response = session_for(server_pki.proxy).request(verb, dummy_server.url(DUMMY), timeout=30)
    assert response.status_code == 405
    if verb != "HEAD":
        assert error_body(response)["Errno"] == 95


@pytest.mark.parametrize("path", ["/Framework/DummyTornado/", "/Framework/Nope", "/", "/x/y/z"])
@pytest.mark.parametrize("verb", ["GET", "POST"])
def test_unknown_paths_are_json_404(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI, path: str, verb: str
) -> None:
    response = session_for(server_pki.proxy).request(
        verb, dummy_server.base() + path, data={"method": "echo"}, timeout=30
    )
    assert response.status_code == 404
    body = error_body(response)
    assert body["Errno"] == 2
    assert path in str(body["Message"])


def test_request_body_over_the_limit_is_413(server_pki: ServerPKI, session_for: Sessions) -> None:
    from tests.conftest import dummy_config
    from tests.support.dummy import DummyTornadoHandler
    from tests.support.live_server import live_server

    config = dummy_config(server_pki)
    config.set_option("/Systems/Tornado/MaxBodySize", "1000")
    with live_server(config, {DUMMY: DummyTornadoHandler}) as server:
        session = session_for(server_pki.proxy)
        small = post(session, server, {"method": "echo", "args": '["ok"]'})
        assert small.status_code == 200
        big = post(session, server, {"method": "echo", "args": json.dumps(["x" * 5000])})
        assert big.status_code == 413
        assert error_body(big)["Errno"] == 27
        # gzip that inflates past the limit is refused too.
        bomb = gzip.compress(
            urlencode({"method": "echo", "args": json.dumps(["y" * 50000])}).encode()
        )
        assert len(bomb) < 1000
        inflated = post(
            session,
            server,
            bomb,
            headers={
                "Content-Encoding": "gzip",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        assert inflated.status_code == 413
        # Far beyond the limit: refused before the body is read (the client may see a reset),
        # and the request must not stay counted as in flight (SIGTERM would wait for it).
        with contextlib.suppress(requests.ConnectionError):
            post(session, server, {"method": "echo", "args": json.dumps(["z" * 200_000])})
        deadline = time.monotonic() + 5
        while server.server.state.in_flight and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.server.state.in_flight == 0


def test_gzip_request_bodies_are_accepted(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    body = gzip.compress(b"method=echo&args=%5B%22zipped%22%5D")
    response = post(
        session_for(server_pki.proxy),
        dummy_server,
        body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.text == '{"OK": true, "Value": "zipped"}'


@pytest.mark.parametrize(("n", "compressed"), [(2000, True), (10, False)])
def test_responses_are_gzipped_from_1kib_when_asked(
    dummy_server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    n: int,
    compressed: bool,
) -> None:
    response = post(
        session_for(server_pki.proxy),
        dummy_server,
        {"method": "big", "args": f"[{n}]"},
        headers={"Accept-Encoding": "gzip"},
        stream=True,
    )
    raw = response.raw.read(decode_content=False)
    assert response.headers.get("Content-Encoding") == ("gzip" if compressed else None)
    text = gzip.decompress(raw).decode() if compressed else raw.decode()
    assert text == '{"OK": true, "Value": "' + "x" * n + '"}'
    assert response.headers["Vary"] == "Accept-Encoding"
