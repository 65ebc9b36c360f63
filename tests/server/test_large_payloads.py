"""Large payloads kept off the IOLoop: async results encoded aside, large forms read with few
copies (issue 9 item 6), over real HTTPS on both transports."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tornado import httputil

from tests.conftest import DUMMY, dummy_config
from tests.support.dummy import DummyTornadoHandler
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import ServerPKI
from tornadoservice import S_OK
from tornadoservice.server.body import SMALL_FORM, argument_text, parse_urlencoded
from tornadoservice.server.limits import LOOK_AT_MOST, OFF_LOOP_BYTES, looks_large
from tornadoservice.server.pool import WorkerPool

T = TypeVar("T")
FORM_TYPE = "application/x-www-form-urlencoded"
FORMS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIELD_TEXT = st.text(alphabet=st.sampled_from("ab=&+%2Fz\u00e9 \x01"), max_size=12)


class Producer(DummyTornadoHandler):
    """Async methods whose small request makes a large answer."""

    auth_bigText = ["all"]

    async def export_bigText(self, size: int) -> dict[str, Any]:
        return S_OK("y" * size)

    auth_manyNumbers = ["all"]

    async def export_manyNumbers(self, count: int) -> dict[str, Any]:
        return S_OK({"numbers": list(range(count))})


@pytest.fixture(scope="module")
def server(server_pki: ServerPKI, http_implementation: str) -> Iterator[LiveServer]:
    with live_server(
        dummy_config(server_pki), {DUMMY: Producer}, http_implementation=http_implementation
    ) as live:
        yield live


def call(session: requests.Session, server: LiveServer, method: str, *args: Any) -> Any:
    response = session.post(
        server.url(DUMMY),
        data={"method": method, "args": json.dumps(list(args))},
        timeout=30,
    )
    assert response.status_code == 200, response.text[:200]
    return response.json()


class Spy(WorkerPool):
    """The server's executor, recording what is handed to it."""

    def __init__(self, real: WorkerPool) -> None:
        super().__init__(1)
        self.real = real
        self.submitted: list[str] = []

    def call(self, function: Callable[..., T], /, *args: Any) -> asyncio.Future[T]:
        self.submitted.append(getattr(function, "__name__", repr(function)))
        return self.real.call(function, *args)


@pytest.fixture
def spy(server: LiveServer) -> Iterator[Spy]:
    state = server.server.state
    real = state.executor
    watching = Spy(real)
    state.executor = watching
    yield watching
    state.executor = real
    watching.shutdown()


def test_a_large_async_result_of_a_small_request_is_encoded_off_the_ioloop(
    server: LiveServer, session_for: Any, server_pki: ServerPKI, spy: Spy
) -> None:
    session = session_for(server_pki.proxy)
    assert call(session, server, "bigText", 10) == {"OK": True, "Value": "y" * 10}
    assert spy.submitted == []  # a small answer: encoded on the IOLoop, no thread hop
    size = 2 * OFF_LOOP_BYTES
    assert call(session, server, "bigText", size) == {"OK": True, "Value": "y" * size}
    assert spy.submitted == ["_serialize_aside"]
    numbers = call(session, server, "manyNumbers", 200_000)["Value"]["numbers"]
    assert numbers == list(range(200_000))
    assert spy.submitted == ["_serialize_aside", "_serialize_aside"]


def test_looks_large_counts_text_and_gives_up_on_many_values() -> None:
    assert not looks_large({"OK": True, "Value": ["a" * 1000, 5, None]})
    assert looks_large({"OK": True, "Value": {"k": "a" * OFF_LOOP_BYTES}})
    assert looks_large({"OK": True, "Value": [b"b" * OFF_LOOP_BYTES]})
    assert not looks_large(list(range(LOOK_AT_MOST // 4)))
    assert looks_large(list(range(LOOK_AT_MOST)))  # too many to count: encoded aside
    assert looks_large({str(n): n for n in range(LOOK_AT_MOST)})
    assert not looks_large([[n] for n in range(LOOK_AT_MOST // 4)])
    assert looks_large([[n, n, n] for n in range(LOOK_AT_MOST // 4)])  # nested: counted as it goes
    # A flat result (the usual S_OK), counted without the walk: the same answers.
    assert not looks_large({"OK": True, "Value": "a" * 1000})
    assert looks_large({"OK": True, "Value": "a" * OFF_LOOP_BYTES})
    assert looks_large({"OK": True, "Value": b"b" * OFF_LOOP_BYTES})
    assert not looks_large({"OK": False, "Message": "no", "Errno": 5, "x": None, "y": 1.5})
    assert looks_large({"OK": True, "Value": "a" * 100}, threshold=100)
    assert looks_large({"k" * OFF_LOOP_BYTES: 1})  # a long key counts too


TRICKY_FORMS = [
    b"",
    b"method=echo&args=%5B%22a%22%5D",
    b"a=1&a=2&b=&c&&=x&d==y",
    b"plus=a+b%2Bc&pct=%&bad=%zz%4&mixed=%4a%4A%e2%82%ac",
    b"name%3D=v%26&%C3%A9t%C3%A9=%C3%A9",
    b"&&lead=1&trail=2&",
    b"ctl=%01%1f%7f&sp=+%20+",
]


@pytest.mark.parametrize("body", TRICKY_FORMS)
def test_the_form_is_split_as_tornado_splits_it(body: bytes) -> None:
    assert_same_as_tornado(body)


@FORMS
@given(st.lists(st.tuples(FIELD_TEXT, FIELD_TEXT), max_size=8), st.booleans())
def test_any_form_is_split_as_tornado_splits_it(fields: list[tuple[str, str]], raw: bool) -> None:
    body = "&".join(f"{name}={value}" for name, value in fields) if raw else urlencode(fields)
    assert_same_as_tornado(body.encode("utf-8"))


@pytest.mark.parametrize("body", TRICKY_FORMS)
def test_a_form_past_the_small_size_is_split_as_tornado_splits_it(body: bytes) -> None:
    # The other code path of parse_urlencoded (slices of the body): same fields.
    padded = body + b"&pad=" + b"x%41+" * (SMALL_FORM // 5) + b"&" + body
    assert len(padded) >= SMALL_FORM
    assert_same_as_tornado(padded)


def assert_same_as_tornado(body: bytes) -> None:
    ours: dict[str, list[bytes]] = {}
    theirs: dict[str, list[bytes]] = {}
    parse_urlencoded(body, ours)
    httputil.parse_body_arguments(FORM_TYPE, body, theirs, {})
    assert ours == theirs


def test_argument_text_is_get_body_argument() -> None:
    values = [b"  first  ", '\x01[\x1f"caf\u00e9\x7f"]\t\n'.encode()]
    assert argument_text(values, lambda v: v.decode()) == '[ "caf\u00e9\x7f"]'
    assert values == []  # taken out, so nothing else holds the large copy
    assert argument_text([], lambda v: v.decode()) is None


def test_a_large_form_with_escapes_and_plus_signs_is_echoed(
    server: LiveServer, session_for: Any, server_pki: ServerPKI
) -> None:
    text = ('a+b %&=\u00e9\x00"' * (OFF_LOOP_BYTES // 8))[: OFF_LOOP_BYTES + 5]
    answer = call(session_for(server_pki.proxy), server, "echo", text)
    # get_body_argument's treatment: control characters become spaces (none in JSON here:
    # json.dumps escapes \x00 as \\u0000, which the decoder turns back into \x00).
    assert answer == {"OK": True, "Value": text}
