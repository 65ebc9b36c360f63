"""A handler cannot end the server: SystemExit and KeyboardInterrupt are a 500 like any error."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.conftest import DUMMY, dummy_config
from tests.support.dummy import DummyTornadoHandler
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import ClientCred, ServerPKI
from tornadoservice import S_OK, TornadoService
from tornadoservice.server.execution import contained

Sessions = Callable[[ClientCred | None], requests.Session]

FATAL = {"exit": SystemExit, "interrupt": KeyboardInterrupt, "generator": GeneratorExit}


class Killers(DummyTornadoHandler):
    auth_syncKill = ["all"]

    def export_syncKill(self, kind: str) -> dict[str, Any]:
        raise FATAL[kind]("from a sync method")

    auth_asyncKill = ["all"]

    async def export_asyncKill(self, kind: str) -> dict[str, Any]:
        await asyncio.sleep(0)
        raise FATAL[kind]("from an async method")

    auth_streamKill = ["all"]

    def export_streamKill(self) -> Iterator[bytes]:
        def chunks() -> Iterator[bytes]:
            yield b"first chunk"
            raise SystemExit("from a stream")

        return chunks()


class ExitingRequestHook(TornadoService):
    auth_hello = ["all"]

    def initializeRequest(self) -> None:
        raise SystemExit("from initializeRequest")

    def export_hello(self) -> dict[str, Any]:
        return S_OK("never")


class ExitingInit(TornadoService):
    auth_hello = ["all"]
    attempts = 0

    @classmethod
    def initializeHandler(cls, serviceInfo: dict[str, Any]) -> Any:
        cls.attempts += 1
        if cls.attempts == 1:
            raise KeyboardInterrupt
        return S_OK()

    def export_hello(self) -> dict[str, Any]:
        return S_OK("ready")


@pytest.fixture(scope="module")
def server(server_pki: ServerPKI, http_implementation: str) -> Iterator[LiveServer]:
    with live_server(
        dummy_config(server_pki), {DUMMY: Killers}, http_implementation=http_implementation
    ) as live:
        yield live


def _call(session: requests.Session, url: str, method: str, *args: Any) -> requests.Response:
    return session.post(url, data={"method": method, "args": json.dumps(list(args))}, timeout=30)


def _still_serving(session: requests.Session, server: LiveServer) -> None:
    answer = _call(session, server.url(DUMMY), "add", 2, 3)
    assert (answer.status_code, answer.json()) == (200, {"OK": True, "Value": 5})


@pytest.mark.parametrize("method", ["syncKill", "asyncKill"])
@pytest.mark.parametrize("kind", sorted(FATAL))
def test_a_method_raising_systemexit_or_keyboardinterrupt_is_a_500_and_the_server_lives(
    server: LiveServer,
    server_pki: ServerPKI,
    session_for: Sessions,
    caplog: pytest.LogCaptureFixture,
    method: str,
    kind: str,
) -> None:
    session = session_for(server_pki.proxy)
    caplog.set_level(logging.ERROR)
    answer = _call(session, server.url(DUMMY), method, kind)
    assert answer.status_code == 500
    body = answer.json()
    assert (body["OK"], body["Message"]) == (False, f"Unexpected error in {method}")
    assert "Traceback" not in answer.text
    logged = [r for r in caplog.records if r.getMessage() == f"{DUMMY}/{method} raised"]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert logged[0].exc_info[0] is FATAL[kind]
    assert server.loop.is_running()
    _still_serving(session, server)


def test_a_stream_raising_systemexit_cuts_that_answer_only(
    server: LiveServer,
    server_pki: ServerPKI,
    session_for: Sessions,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = session_for(server_pki.proxy)
    caplog.set_level(logging.ERROR)
    with pytest.raises(requests.exceptions.RequestException):
        # The first chunk is out: the answer can only be cut short, never completed.
        session.post(
            server.url(DUMMY), data={"method": "streamKill", "rawContent": "1"}, timeout=30
        )
    assert any("the stream of streamKill raised" in r.getMessage() for r in caplog.records)
    assert server.loop.is_running()
    _still_serving(session_for(server_pki.proxy), server)


def test_initialize_request_raising_systemexit_is_a_500(
    server_pki: ServerPKI, session_for: Sessions
) -> None:
    with live_server(dummy_config(server_pki), {DUMMY: ExitingRequestHook}) as live:
        session = session_for(server_pki.proxy)
        for _ in range(2):
            answer = _call(session, live.url(DUMMY), "hello")
            assert (answer.status_code, answer.json()["OK"]) == (500, False)
        assert live.loop.is_running()


def test_initialize_handler_raising_keyboardinterrupt_is_a_503_then_retried(
    server_pki: ServerPKI, session_for: Sessions
) -> None:
    config = dummy_config(server_pki)
    config.set_option("/Systems/Tornado/InitializeRetryDelay", "0.1")
    with live_server(config, {DUMMY: ExitingInit}) as live:
        session = session_for(server_pki.proxy)
        failed = _call(session, live.url(DUMMY), "hello")
        assert failed.status_code == 503
        assert f"Service {DUMMY} is not ready" in failed.json()["Message"]
        assert live.loop.is_running()
        deadline = time.monotonic() + 10
        while (ready := _call(session, live.url(DUMMY), "hello")).status_code == 503:
            assert time.monotonic() < deadline, "never initialized"
            time.sleep(0.05)
        assert (ready.status_code, ready.json()) == (200, {"OK": True, "Value": "ready"})


def test_only_a_cancellation_goes_through() -> None:
    assert not contained(asyncio.CancelledError())
    for exc in (SystemExit(), KeyboardInterrupt(), GeneratorExit(), ValueError()):
        assert contained(exc)
