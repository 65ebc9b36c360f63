"""``/health/live`` and ``/health/ready`` over real HTTPS, without a client certificate, in each
state: starting, ready, initialization failed, draining; and ``InitializeAtStart``."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.conftest import DUMMY, dummy_config
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import ClientCred, ServerPKI
from tornadoservice import S_ERROR, S_OK, TornadoService
from tornadoservice.server.server import ServerStartError

Sessions = Callable[[ClientCred | None], requests.Session]


def probe(session: requests.Session, server: LiveServer, kind: str) -> requests.Response:
    return session.get(f"{server.base()}/health/{kind}", timeout=10)


def wait_ready(session: requests.Session, server: LiveServer) -> requests.Response:
    deadline = time.monotonic() + 10
    while (answer := probe(session, server, "ready")).status_code != 200:
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.05)
    return answer


class Gated(TornadoService):
    """initializeHandler waits for ``gate``: the server is "starting" until it is set."""

    gate = threading.Event()
    auth_hello = ["all"]

    @classmethod
    def initializeHandler(cls, serviceInfo: dict[str, Any]) -> Any:
        assert cls.gate.wait(20)
        return S_OK()

    def export_hello(self) -> dict[str, Any]:
        return S_OK("hi")


class NeverReady(TornadoService):
    auth_hello = ["all"]
    attempts = 0

    @classmethod
    def initializeHandler(cls, serviceInfo: dict[str, Any]) -> Any:
        cls.attempts += 1
        return S_ERROR("database password refused")

    def export_hello(self) -> dict[str, Any]:
        return S_OK("hi")


class Slow(TornadoService):
    release = threading.Event()
    entered = threading.Event()
    auth_hold = ["all"]

    def export_hold(self) -> dict[str, Any]:
        self.entered.set()
        assert self.release.wait(20)
        return S_OK("done")


def test_ready_server_answers_both_probes_without_a_certificate(
    server_pki: ServerPKI, session_for: Sessions, http_implementation: str
) -> None:
    with live_server(
        dummy_config(server_pki), {DUMMY: Slow}, http_implementation=http_implementation
    ) as server:
        anonymous = session_for(None)  # a balancer: no client certificate at all
        live = probe(anonymous, server, "live")
        assert (live.status_code, live.json()) == (200, {"status": "ok"})
        assert live.headers["Content-Type"] == "application/json"
        ready = wait_ready(anonymous, server)
        assert ready.json() == {"status": "ok"}
        assert ready.headers["Cache-Control"] == "no-store"
        # Only GET: a probe path is no way into anything else.
        refused = anonymous.post(f"{server.base()}/health/ready", data={"method": "x"}, timeout=10)
        assert refused.status_code == 405
        # The services themselves still need a certificate.
        rpc = anonymous.post(server.url(DUMMY), data={"method": "hold"}, timeout=10)
        assert rpc.status_code == 401


def test_only_probes_that_are_not_ok_get_an_access_line(
    server_pki: ServerPKI, session_for: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    class Starting(Gated):
        gate = threading.Event()

    caplog.set_level(logging.INFO, logger="tornadoservice.access")
    with live_server(dummy_config(server_pki), {DUMMY: Starting}) as server:
        anonymous = session_for(None)
        try:
            assert probe(anonymous, server, "ready").status_code == 503
            assert probe(anonymous, server, "live").status_code == 200
        finally:
            Starting.gate.set()
        wait_ready(anonymous, server)
        # One connection: when this answer came, the lines of the probes before it were written.
        assert probe(anonymous, server, "live").status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "tornadoservice.access"]
    probes = [line for line in lines if "/health/" in line]
    # The 503s (the first one, and any while the initializer finished), never an ok probe.
    assert probes and all(" GET /health/ready 503 " in line for line in probes), probes


def test_starting_server_is_live_but_not_ready_until_initialized(
    server_pki: ServerPKI, session_for: Sessions, http_implementation: str
) -> None:
    class Starting(Gated):
        gate = threading.Event()

    with live_server(
        dummy_config(server_pki), {DUMMY: Starting}, http_implementation=http_implementation
    ) as server:
        anonymous = session_for(None)
        try:
            assert probe(anonymous, server, "live").status_code == 200
            starting = probe(anonymous, server, "ready")
            assert starting.status_code == 503
            assert starting.json() == {
                "status": "unavailable",
                "reason": f"{DUMMY}: initializing",
            }
        finally:
            Starting.gate.set()
        wait_ready(anonymous, server)
        answer = session_for(server_pki.proxy).post(
            server.url(DUMMY), data={"method": "hello"}, timeout=10
        )
        assert answer.json() == {"OK": True, "Value": "hi"}


def test_failed_initialization_is_not_ready_and_calls_get_503(
    server_pki: ServerPKI, session_for: Sessions, http_implementation: str
) -> None:
    class Failing(NeverReady):
        attempts = 0

    config = dummy_config(server_pki)
    config.set_option("/Systems/Tornado/InitializeRetryDelay", "0.05")
    config.set_option("/Systems/Tornado/InitializeRetryMaxDelay", "0.2")
    with live_server(config, {DUMMY: Failing}, http_implementation=http_implementation) as server:
        anonymous = session_for(None)
        deadline = time.monotonic() + 10
        while "failed" not in (answer := probe(anonymous, server, "ready")).text:
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.05)
        assert answer.status_code == 503
        reason = answer.json()["reason"]
        assert reason.startswith(f"{DUMMY}: initializeHandler failed (")
        assert "password" not in reason  # the cause is in the log, not on an open port
        call = session_for(server_pki.proxy).post(
            server.url(DUMMY), data={"method": "hello"}, timeout=10
        )
        assert call.status_code == 503
        assert "Retry-After" in call.headers
        assert "password" not in call.text
        assert probe(anonymous, server, "live").status_code == 200
        time.sleep(0.5)
    # Retried with a growing delay (0.05, 0.1, 0.2, 0.2, ...): a handful, not one per loop turn.
    assert 3 <= Failing.attempts <= 20


def test_draining_server_is_not_ready(
    server_pki: ServerPKI, session_for: Sessions, http_implementation: str
) -> None:
    class Holding(Slow):
        release = threading.Event()
        entered = threading.Event()

    config = dummy_config(server_pki)
    # Still accepting for a while after the stop began: balancers see the 503 and move away.
    config.set_option("/Systems/Tornado/DrainDelay", "2")
    with live_server(config, {DUMMY: Holding}, http_implementation=http_implementation) as server:
        anonymous = session_for(None)
        wait_ready(anonymous, server)
        held = threading.Thread(
            target=lambda: session_for(server_pki.proxy).post(
                server.url(DUMMY), data={"method": "hold"}, timeout=30
            )
        )
        held.start()
        try:
            assert Holding.entered.wait(10)
            stopping = asyncio.run_coroutine_threadsafe(server.server.stop(), server.loop)
            deadline = time.monotonic() + 10
            while not server.server.health.draining:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            draining = probe(session_for(None), server, "ready")  # a new connection
            assert (draining.status_code, draining.json()) == (
                503,
                {"status": "unavailable", "reason": "draining"},
            )
            assert probe(anonymous, server, "live").status_code == 200
        finally:
            Holding.release.set()
            held.join(30)
        stopping.result(30)


def test_initialize_at_start_runs_every_initialize_handler_before_the_port_opens(
    server_pki: ServerPKI, session_for: Sessions
) -> None:
    class Counted(Gated):
        gate = threading.Event()
        calls = 0

        @classmethod
        def initializeHandler(cls, serviceInfo: dict[str, Any]) -> Any:
            cls.calls += 1
            return S_OK()

    config = dummy_config(server_pki)
    config.set_option("/Systems/Tornado/InitializeAtStart", "yes")
    with live_server(config, {DUMMY: Counted}) as server:
        assert Counted.calls == 1  # before the first connection
        first = probe(session_for(None), server, "ready")
        assert (first.status_code, first.json()) == (200, {"status": "ok"})


def test_initialize_at_start_failure_stops_the_start_with_the_reason(
    server_pki: ServerPKI,
) -> None:
    class Failing(NeverReady):
        attempts = 0

    config = dummy_config(server_pki)
    config.set_option("/Systems/Tornado/InitializeAtStart", "yes")
    with pytest.raises(ServerStartError) as raised, live_server(config, {DUMMY: Failing}):
        pytest.fail("the server started")
    assert str(raised.value) == (
        f"{DUMMY}: initializeHandler returned S_ERROR: database password refused"
    )
    assert Failing.attempts == 1


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("InitializeAtStart", "yess", "/Systems/Tornado/InitializeAtStart: 'yess' is neither"),
        ("InitializeRetryDelay", "soon", "/Systems/Tornado/InitializeRetryDelay: 'soon' is not"),
        ("InitializeRetryDelay", "0", "/Systems/Tornado/InitializeRetryDelay: must be more"),
    ],
)
def test_a_bad_initialization_option_stops_the_start(
    server_pki: ServerPKI, option: str, value: str, message: str
) -> None:
    config = dummy_config(server_pki)
    config.set_option(f"/Systems/Tornado/{option}", value)
    with pytest.raises(ServerStartError, match=message), live_server(config, {DUMMY: Slow}):
        pytest.fail("the server started")
