"""A streamed answer reads its next chunk while the last one drains, and closes its source only
once no read of it is running (tornadoservice.server.streaming)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.conftest import DUMMY, dummy_config
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import ClientCred, ServerPKI
from tornadoservice import S_OK, TornadoService

Sessions = Callable[[ClientCred | None], requests.Session]

BIG = bytes(64 << 20)
"""Larger than every buffer between server and client: its flush waits for the client (the
kernel may buffer tens of MiB on loopback)."""


class Probe:
    """What the sources of one test did, seen from the test's thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: list[int] = []
        self.reading = 0
        self.closed = threading.Event()
        self.closed_while_reading = False
        self.release = threading.Event()

    def wait_for(self, condition: Callable[[], bool], seconds: float = 10.0) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.01)
        return condition()


PROBE = Probe()


def _counted() -> Iterator[bytes]:
    for index in range(3):
        PROBE.started.append(index)
        yield BIG


class SlowFile:
    """A file object whose first read returns 64 MiB and whose second waits for the test."""

    def __init__(self) -> None:
        self.reads = 0

    def read(self, _size: int = -1) -> bytes:
        with PROBE.lock:
            PROBE.reading += 1
        try:
            self.reads += 1
            if self.reads == 1:
                return BIG
            PROBE.release.wait(30)
            return b""
        finally:
            with PROBE.lock:
                PROBE.reading -= 1

    def close(self) -> None:
        with PROBE.lock:
            PROBE.closed_while_reading = PROBE.reading > 0
        PROBE.closed.set()


class StreamService(TornadoService):
    auth_streamToClient = ["all"]

    def export_streamToClient(self, fileId: str, token: str = "") -> Any:
        if fileId == "counted":
            return _counted()
        return SlowFile()

    auth_stuckStream = ["all"]

    async def export_stuckStream(self, big: bool) -> Any:
        async def produce() -> Any:
            try:
                yield BIG if big else b"first"
                await asyncio.Event().wait()  # never set: only a cancellation ends this
                yield b"never"
            finally:
                PROBE.closed.set()

        return S_OK(produce())


@pytest.fixture(scope="module")
def stream_server(server_pki: ServerPKI, http_implementation: str) -> Iterator[LiveServer]:
    with live_server(
        dummy_config(server_pki), {DUMMY: StreamService}, http_implementation=http_implementation
    ) as server:
        yield server


@pytest.fixture
def probe() -> Iterator[Probe]:
    global PROBE
    PROBE = Probe()
    yield PROBE
    PROBE.release.set()


def _open(session: requests.Session, server: LiveServer, data: dict[str, str]) -> Any:
    return session.post(
        server.url(DUMMY), data={**data, "rawContent": "1"}, timeout=30, stream=True
    )


def test_the_next_chunk_is_read_while_the_last_waits_for_the_client(
    stream_server: LiveServer, session_for: Sessions, server_pki: ServerPKI, probe: Probe
) -> None:
    session = session_for(server_pki.proxy)
    response = _open(session, stream_server, {"method": "streamToClient", "args": '["counted"]'})
    # The client reads nothing yet, so the first 16 MiB cannot have left: the second chunk was
    # asked for while the first waited (without read-ahead, only chunk 0 would be started).
    assert probe.wait_for(lambda: len(probe.started) >= 2), probe.started
    assert len(probe.started) == 2
    received = sum(len(chunk) for chunk in response.iter_content(1 << 20))
    assert received == 3 * len(BIG)
    assert probe.started == [0, 1, 2]


def test_a_source_is_closed_only_after_its_running_read_ends(
    stream_server: LiveServer, session_for: Sessions, server_pki: ServerPKI, probe: Probe
) -> None:
    session = session_for(server_pki.proxy)
    response = _open(session, stream_server, {"method": "streamToClient", "args": '["slow"]'})
    assert probe.wait_for(lambda: probe.reading == 1)  # the second read waits
    next(response.iter_content(1 << 16))
    response.close()  # the client goes away with most of the first chunk unsent
    session.close()
    # The server's write fails, but the file is still being read: not closed yet.
    assert not probe.closed.wait(1.0)
    probe.release.set()
    assert probe.closed.wait(10), "the source was never closed"
    assert not probe.closed_while_reading


@pytest.mark.parametrize("big", [False, True], ids=["sent", "still-sending"])
def test_an_async_source_waiting_for_more_is_cancelled_when_the_client_goes(
    stream_server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    probe: Probe,
    big: bool,
) -> None:
    # sent: the first chunk has left, the stream waits on its source when the client goes;
    # still-sending: it waits on the client, and the read ahead waits on the source.
    session = session_for(server_pki.proxy)
    response = _open(session, stream_server, {"method": "stuckStream", "args": json.dumps([big])})
    next(response.iter_content(5))
    response.close()
    session.close()
    assert probe.closed.wait(10), "the async source was left waiting"
