"""Bounds on work and memory: queued calls, per-service threads, buffered bodies, slow readers."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest
import requests

from tests.conftest import DUMMY, dummy_config
from tests.support.dummy import DummyTornadoHandler
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import ClientCred, ServerPKI
from tornadoservice import S_OK, TornadoService
from tornadoservice.identity.tls import client_ssl_context
from tornadoservice.server.pool import WorkerPool
from tornadoservice.server.service import ServiceRuntime

T = TypeVar("T")
Sessions = Callable[[ClientCred | None], requests.Session]

OTHER = "Framework/Other"
MIB = 1024 * 1024
WAIT = 10.0  # every wait of this module is bounded by this many seconds


class Blocking(DummyTornadoHandler):
    gate = threading.Event()
    ran: list[str] = []

    auth_block = ["all"]

    def export_block(self, tag: str) -> dict[str, Any]:
        Blocking.ran.append(tag[:20])
        Blocking.gate.wait(WAIT * 2)
        return S_OK(len(tag))

    auth_big = ["all"]

    def export_big(self, size: int) -> dict[str, Any]:
        return S_OK("x" * size)


class Other(TornadoService):
    auth_add = ["all"]

    def export_add(self, a: int, b: int) -> dict[str, Any]:
        return S_OK(a + b)


@pytest.fixture(scope="module")
def server(server_pki: ServerPKI, http_implementation: str) -> Iterator[LiveServer]:
    config = dummy_config(server_pki)
    for option, value in {
        "MaxThreads": "1",
        "MaxQueuedCalls": "2",
        "WriteTimeout": "1",
        "MaxBodySize": str(2 * MIB),
        "MaxBufferedBytes": str(3 * MIB),
    }.items():
        config.set_option(f"/Systems/Tornado/{option}", value)
    config.set_option("/Systems/Framework/Services/Other/Protocol", "https")
    with live_server(
        config, {DUMMY: Blocking, OTHER: Other}, http_implementation=http_implementation
    ) as live:
        yield live


@pytest.fixture(autouse=True)
def fresh_gate() -> Iterator[None]:
    Blocking.gate.clear()
    Blocking.ran.clear()
    yield
    Blocking.gate.set()  # never leave a thread blocked for the next test


def _runtime(server: LiveServer, name: str = DUMMY) -> ServiceRuntime:
    return next(runtime for runtime, _ in server.server.runtimes if runtime.name == name)


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {WAIT}s: {what}")
        time.sleep(0.01)


def _post(session: requests.Session, url: str, method: str, *args: Any) -> requests.Response:
    return session.post(url, data={"method": method, "args": json.dumps(list(args))}, timeout=WAIT)


def _background(
    pool: ThreadPoolExecutor, make: Callable[[], requests.Session], url: str, *call: Any
) -> Future[requests.Response]:
    return pool.submit(lambda: _post(make(), url, *call))


def _connect(server: LiveServer, pki: ServerPKI, rcvbuf: int | None = None) -> ssl.SSLSocket:
    context = client_ssl_context(pki.ca_dir, pki.proxy.cert, pki.proxy.key)
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    raw.settimeout(WAIT)
    raw.connect(("127.0.0.1", server.port))
    return context.wrap_socket(raw, server_hostname="localhost")


def _raw_call(tls: ssl.SSLSocket, method: str, *args: Any) -> None:
    body = urlencode({"method": method, "args": json.dumps(list(args))}).encode()
    tls.sendall(
        f"POST /{DUMMY} HTTP/1.1\r\nHost: localhost\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


# ------------------------------------------------------------------ queued calls (item 7)


def test_a_full_queue_answers_503_with_retry_after(
    server: LiveServer,
    server_pki: ServerPKI,
    session_for: Sessions,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="tornadoservice.request")
    url, pool = server.url(DUMMY), _runtime(server).pool
    with ThreadPoolExecutor(3) as clients:
        make = lambda: session_for(server_pki.proxy)  # noqa: E731
        running = _background(clients, make, url, "block", "running")
        _until(lambda: Blocking.ran == ["running"], "the first call holds the only thread")
        queued = [_background(clients, make, url, "block", f"queued{i}") for i in range(2)]
        _until(lambda: pool.queued() == 2, "two calls wait for the thread")
        refused = _post(session_for(server_pki.proxy), url, "block", "refused")
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "2"
        body = refused.json()
        assert body["OK"] is False and "too many calls are waiting" in body["Message"]
        # Load shedding is a warning line per refused call, never an error with a traceback.
        shed = [r for r in caplog.records if r.getMessage().startswith("503 ")]
        assert len(shed) == 1 and shed[0].levelno == logging.WARNING, shed
        assert shed[0].exc_info is None
        Blocking.gate.set()
        assert [f.result(WAIT).status_code for f in [running, *queued]] == [200, 200, 200]
    assert "refused" not in Blocking.ran


def test_a_queued_call_of_a_client_that_left_never_runs(
    server: LiveServer,
    server_pki: ServerPKI,
    session_for: Sessions,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tornadoservice.access")
    url, state = server.url(DUMMY), server.server.state
    with ThreadPoolExecutor(1) as clients:
        running = _background(clients, lambda: session_for(server_pki.proxy), url, "block", "a")
        _until(lambda: Blocking.ran == ["a"], "the first call holds the only thread")
        tls = _connect(server, server_pki)
        _raw_call(tls, "block", "gone")
        _until(lambda: _runtime(server).pool.queued() == 1, "the second call waits")
        in_flight = state.in_flight
        tls.close()
        _until(lambda: state.in_flight == in_flight - 1, "the server saw the client leave")
        Blocking.gate.set()
        assert running.result(WAIT).status_code == 200
    # Queued after the dropped call: when it has run, the dropped one was taken (and skipped).
    assert _post(session_for(server_pki.proxy), url, "block", "after").status_code == 200
    assert Blocking.ran == ["a", "after"]
    _until(
        lambda: any(" block 499 " in r.getMessage() for r in caplog.records),
        "the dropped call's access line",
    )
    line = next(r.getMessage() for r in caplog.records if " block 499 " in r.getMessage())
    assert re.search(r" CLIENT-GONE rid=[0-9a-f]{24}$", line), line


def test_a_service_with_all_threads_blocked_leaves_other_services_served(
    server: LiveServer, server_pki: ServerPKI, session_for: Sessions
) -> None:
    url = server.url(DUMMY)
    with ThreadPoolExecutor(2) as clients:
        make = lambda: session_for(server_pki.proxy)  # noqa: E731
        blocked = [_background(clients, make, url, "block", f"b{i}") for i in range(2)]
        _until(lambda: _runtime(server).pool.queued() == 1, "the blocked service is saturated")
        started = time.monotonic()
        other = _post(session_for(server_pki.proxy), server.url(OTHER), "add", 2, 3)
        answered_in = time.monotonic() - started
        assert (other.status_code, other.json()["Value"]) == (200, 5)
        assert not Blocking.gate.is_set() and len(Blocking.ran) == 1  # still blocked meanwhile
        Blocking.gate.set()
        assert [f.result(WAIT).status_code for f in blocked] == [200, 200]
    assert answered_in < WAIT  # generous: the mechanism is that it is answered at all


def test_pool_full_counts_waiting_jobs_only() -> None:
    async def main() -> None:
        release = threading.Event()
        pool = WorkerPool(1, max_queued=1)
        try:
            first = pool.call(release.wait, WAIT)
            _until(lambda: pool.queued() == 0, "the worker took the first job")
            assert not pool.full()
            second = pool.call(release.wait, WAIT)
            assert pool.queued() == 1 and pool.full()
            release.set()
            assert await asyncio.wait_for(asyncio.gather(first, second), WAIT) == [True, True]
            assert not pool.full()
        finally:
            pool.shutdown()

    asyncio.run(main())


# ------------------------------------------------------------------ memory and the IOLoop (item 6)


def _gzip_form(method: str, *args: Any) -> bytes:
    return gzip.compress(urlencode({"method": method, "args": json.dumps(list(args))}).encode())


def test_bodies_past_the_buffer_budget_are_refused_with_503(
    server: LiveServer, server_pki: ServerPKI, session_for: Sessions
) -> None:
    url, budget = server.url(DUMMY), server.server.state.buffers
    large = "y" * (1200 * 1024)
    with ThreadPoolExecutor(2) as clients:
        make = lambda: session_for(server_pki.proxy)  # noqa: E731
        held = [_background(clients, make, url, "block", large + str(i)) for i in range(2)]
        _until(lambda: budget.held > 2 * MIB, "two large bodies are held")
        # Under 10 KiB on the wire, 1.2 MiB once inflated: the budget counts what it inflates to.
        bomb = _gzip_form("block", large)
        assert len(bomb) < 10 * 1024
        refused = session_for(server_pki.proxy).post(
            url,
            data=bomb,
            headers={
                "Content-Encoding": "gzip",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            timeout=WAIT,
        )
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"] == "2"
        assert "too many request bodies" in refused.json()["Message"]
        Blocking.gate.set()
        assert [f.result(WAIT).status_code for f in held] == [200, 200]
    _until(lambda: budget.held == 0, "every body is counted out once answered")
    assert len(Blocking.ran) == 2


def test_an_answer_the_client_does_not_read_is_dropped_after_the_write_timeout(
    server: LiveServer, server_pki: ServerPKI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tornadoservice.request")
    size = 32 * MIB
    tls = _connect(server, server_pki, rcvbuf=64 * 1024)
    try:
        _raw_call(tls, "big", size)
        _until(
            lambda: any("read nothing of the answer" in r.getMessage() for r in caplog.records),
            "the write timeout closed the connection",
        )
        received = 0
        try:
            while chunk := tls.recv(MIB):
                received += len(chunk)
        except (ConnectionResetError, ssl.SSLError):
            pass
        assert received < size  # cut off: the rest of the answer was dropped, not kept
    finally:
        tls.close()
    _until(lambda: server.server.state.buffers.held == 0, "the request is counted out")


def _complete(answer: bytes | bytearray) -> bool:
    head, found, body = bytes(answer).partition(b"\r\n\r\n")
    if not found:
        return False
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return len(body) >= length


def test_a_slow_reader_that_keeps_reading_gets_the_whole_answer(
    server: LiveServer, server_pki: ServerPKI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tornadoservice.request")
    size = 8 * MIB
    tls = _connect(server, server_pki, rcvbuf=64 * 1024)
    try:
        _raw_call(tls, "big", size)
        received = bytearray()
        deadline = time.monotonic() + WAIT
        # Slower than the 1 s write timeout would allow for the whole answer, never idle for it.
        while not _complete(received) and time.monotonic() < deadline:
            time.sleep(0.3)
            batch = 0
            while batch < MIB and not _complete(received) and (chunk := tls.recv(MIB - batch)):
                batch += len(chunk)
                received += chunk
            if not batch:
                break
    finally:
        tls.close()
    assert _complete(received) and len(received) > size  # the head and the whole JSON answer
    assert not any("read nothing of the answer" in r.getMessage() for r in caplog.records)


def test_large_bodies_are_parsed_decoded_and_encoded_off_the_ioloop(
    server: LiveServer, server_pki: ServerPKI, session_for: Sessions
) -> None:
    state = server.server.state
    real = state.executor
    submitted: list[str] = []

    class Spy(WorkerPool):
        def call(self, function: Callable[..., T], /, *args: Any) -> asyncio.Future[T]:
            submitted.append(getattr(function, "__name__", repr(function)))
            return real.call(function, *args)

    spy = Spy(1)
    state.executor = spy
    try:
        session = session_for(server_pki.proxy)
        small = _post(session, server.url(DUMMY), "echo", "z")
        assert small.status_code == 200 and submitted == []  # small: all on the IOLoop
        large = "z" * (1500 * 1024)
        answer = _post(session, server.url(DUMMY), "echo", large)
        assert (answer.status_code, answer.json()["Value"] == large) == (200, True)
    finally:
        state.executor = real
        spy.shutdown()
    assert submitted == ["_read_form", "_decode_args", "_serialize_aside"]
