"""How methods run: initializeHandler once, sync in the pool (one hop), async on the IOLoop."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
import requests

from tests.conftest import DUMMY, dummy_config
from tests.support.dummy import DummyTornadoHandler
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import ClientCred, ServerPKI
from tornadoservice import S_ERROR, S_OK, TornadoService
from tornadoservice.server.pool import WorkerPool

T = TypeVar("T")

Sessions = Callable[[ClientCred | None], requests.Session]


def call(
    session: requests.Session, server: LiveServer, method: str, *args: Any
) -> requests.Response:
    return session.post(
        server.url(DUMMY), data={"method": method, "args": json.dumps(list(args))}, timeout=30
    )


def test_initialize_handler_runs_once_under_concurrent_first_requests(
    server_pki: ServerPKI, session_for: Sessions
) -> None:
    class Counting(DummyTornadoHandler):
        init_calls = 0

    with live_server(dummy_config(server_pki), {DUMMY: Counting}) as server:
        barrier = threading.Barrier(16)

        def first_call(_: int) -> int:
            session = session_for(server_pki.proxy)
            barrier.wait(10)
            return call(session, server, "echo", 1).status_code

        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(first_call, range(16)))
    assert statuses == [200] * 16
    assert Counting.init_calls == 1
    assert Counting.service_info["serviceName"] == DUMMY
    assert Counting.service_info["serviceSectionPath"] == "/Systems/Framework/Services/DummyTornado"


class BrokenInit(TornadoService):
    attempts = 0
    auth_hello = ["all"]

    @classmethod
    def initializeHandler(cls, serviceInfo: dict[str, Any]) -> Any:
        cls.attempts += 1
        if cls.attempts == 1:
            raise ConnectionError("database unreachable")
        if cls.attempts == 2:
            return S_ERROR("still not ready")
        return S_OK()

    def export_hello(self) -> dict[str, Any]:
        return S_OK("ready")


def test_initialize_handler_failure_is_a_503_then_retried_with_growing_delay(
    server_pki: ServerPKI, session_for: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    config = dummy_config(server_pki)
    config.set_option("/Systems/Tornado/InitializeRetryDelay", "0.2")
    with live_server(config, {DUMMY: BrokenInit}) as server:
        session = session_for(server_pki.proxy)
        first = call(session, server, "hello")
        # Not a 500 with the cause: a 503 saying the service is not ready, with Retry-After.
        assert first.status_code == 503
        assert f"Service {DUMMY} is not ready" in json.loads(first.text)["Message"]
        assert "database unreachable" not in first.text
        assert int(first.headers["Retry-After"]) >= 1
        deadline = time.monotonic() + 10
        while (answer := call(session, server, "hello")).status_code == 503:
            assert time.monotonic() < deadline, "never initialized"
            time.sleep(0.05)
        assert json.loads(answer.text) == {"OK": True, "Value": "ready"}
        call(session, server, "hello")
    assert BrokenInit.attempts == 3  # the retries, not the calls, ran initializeHandler
    attempts = [r.getMessage() for r in caplog.records if "(attempt " in r.getMessage()]
    assert len(attempts) == 2  # once per failed attempt, however many calls came meanwhile
    assert "database unreachable" in attempts[0] and "next in 0.2s" in attempts[0]
    assert "still not ready" in attempts[1] and "next in 0.4s" in attempts[1]
    # The per-call 503 lines name the state, not the cause again.
    assert sum("database unreachable" in r.getMessage() for r in caplog.records) == 1


def test_a_sync_method_does_not_block_a_concurrent_ping(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    slow_done = threading.Event()

    def slow() -> None:
        call(session_for(server_pki.proxy), dummy_server, "sleep", 2)
        slow_done.set()

    thread = threading.Thread(target=slow)
    thread.start()
    try:
        session = session_for(server_pki.proxy)
        # Several calls, each on the IOLoop or another worker, finish while sleep(2) still runs.
        for _ in range(3):
            assert call(session, dummy_server, "ping").status_code == 200
            assert call(session, dummy_server, "asyncThread").status_code == 200
        assert not slow_done.is_set()
    finally:
        thread.join(30)
    assert slow_done.is_set()


def test_async_methods_run_on_the_ioloop_thread_and_sync_ones_do_not(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    loop_thread: Future[int] = Future()
    dummy_server.loop.call_soon_threadsafe(lambda: loop_thread.set_result(threading.get_ident()))
    session = session_for(server_pki.proxy)
    async_thread = json.loads(call(session, dummy_server, "asyncThread").text)["Value"]
    sync_thread = json.loads(call(session, dummy_server, "sleep", 0).text)["Value"]
    assert async_thread == loop_thread.result(10)
    assert sync_thread != async_thread


def test_one_thread_hop_per_sync_request(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    state = dummy_server.server.state
    runtime = next(r for r, _ in dummy_server.server.runtimes if r.name == DUMMY)
    real_shared, real_own = state.executor, runtime.pool
    submitted: list[str] = []

    def counting(real: WorkerPool, where: str) -> WorkerPool:
        class Counting(WorkerPool):
            def call(self, function: Callable[..., T], /, *args: Any) -> asyncio.Future[T]:
                # submit_call wraps the method's runner: name what it runs.
                target = args[1] if function.__name__ == "_run_ticketed" else function
                submitted.append(f"{where}:{getattr(target, '__name__', repr(target))}")
                return real.call(function, *args)

            def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
                submitted.append(f"{where}:{getattr(fn, '__name__', repr(fn))}")
                return real.submit(fn, *args, **kwargs)

        return Counting(1)

    state.executor = counting(real_shared, "shared")
    runtime.pool = counting(real_own, "service")
    try:
        session = session_for(server_pki.proxy)
        call(session, dummy_server, "echo", 1)  # warm: initializeHandler already ran
        submitted.clear()
        assert call(session, dummy_server, "add", 1, 2).status_code == 200
        assert call(session, dummy_server, "asyncThread").status_code == 200
        # The built-ins run on the IOLoop: no hop at all.
        for builtin, args in (("echo", [1]), ("ping", []), ("whoami", [])):
            assert call(session, dummy_server, builtin, *args).status_code == 200
    finally:
        state.executor.shutdown()
        runtime.pool.shutdown()
        state.executor, runtime.pool = real_shared, real_own
    # One hop, to the service's own pool (small bodies are parsed on the IOLoop).
    assert submitted == ["service:_run_sync"]


def test_one_access_log_line_per_request(
    dummy_server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tornadoservice.access")
    session = session_for(server_pki.proxy)
    call(session, dummy_server, "add", 2, 3)
    call(session, dummy_server, "fail", "x")
    call(session, dummy_server, "nobody")
    # The line is written in on_finish, just after the response left: wait for it (bounded).
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (
        sum(
            1
            for r in caplog.records
            if r.name == "tornadoservice.access" and " nobody " in r.getMessage()
        )
        == 0
    ):
        time.sleep(0.02)
    lines = [r.getMessage() for r in caplog.records if r.name == "tornadoservice.access"]
    # Keep the lines of this test's connection (one session = one keep-alive connection): a
    # request of an earlier test may still be finishing on another one.
    peer = next(line.split()[0] for line in lines if " add " in line)
    lines = [line for line in lines if line.startswith(peer + " ")]
    assert len(lines) == 3
    pattern = (
        r"127\.0\.0\.1:\d+ dirac_user:ciuser Framework/DummyTornado {} {} \d+\.\d\dms {} "
        r"rid=[0-9a-f]{{24}}"
    )
    import re

    assert re.fullmatch(pattern.format("add", 200, "OK"), lines[0]), lines[0]
    assert re.fullmatch(pattern.format("fail", 200, "ERROR"), lines[1]), lines[1]
    assert re.fullmatch(pattern.format("nobody", 403, "HTTP-403"), lines[2]), lines[2]


def test_stop_waits_for_in_flight_requests(server_pki: ServerPKI, session_for: Sessions) -> None:
    results: list[requests.Response] = []
    with live_server(dummy_config(server_pki), {DUMMY: DummyTornadoHandler}) as server:
        session = session_for(server_pki.proxy)
        call(session, server, "echo", 1)
        thread = threading.Thread(
            target=lambda: results.append(call(session_for(server_pki.proxy), server, "sleep", 1))
        )
        thread.start()
        # Wait until the request is running, then stop the server (the fixture does it on exit).
        for _ in range(200):
            if server.server.state.in_flight:
                break
            asyncio.run(asyncio.sleep(0.01))
        assert server.server.state.in_flight == 1
    thread.join(10)
    assert results and results[0].status_code == 200
