"""UploadStream on its own: the IOLoop feeds chunks, a worker thread reads them."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tornadoservice.server import upload
from tornadoservice.server.upload import UploadAbortedError, UploadStream


def _with_reader(
    reader: Callable[[UploadStream], Any],
    feeder: Callable[[UploadStream], Awaitable[None]],
    max_buffered: int = upload.DEFAULT_BUFFER,
) -> Any:
    """Run ``feeder`` on a loop and ``reader`` in a thread; the reader's result (or raise)."""
    outcome: dict[str, Any] = {}

    async def main() -> None:
        stream = UploadStream(None, max_buffered=max_buffered)

        def read() -> None:
            try:
                outcome["value"] = reader(stream)
            except BaseException as exc:  # re-raised in the test
                outcome["error"] = exc

        thread = threading.Thread(target=read)
        thread.start()
        await feeder(stream)
        while thread.is_alive():
            await asyncio.sleep(0.01)

    asyncio.run(asyncio.wait_for(main(), 30))
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_a_lone_chunk_is_handed_over_soon_even_if_the_client_then_pauses() -> None:
    arrived: list[float] = []

    def reader(stream: UploadStream) -> tuple[bytes, float]:
        started = time.monotonic()
        data = stream.read(1024 * 1024)  # asks for far more than will come
        return data, time.monotonic() - started

    async def feeder(stream: UploadStream) -> None:
        await asyncio.sleep(0.01)  # the reader is waiting, inside its gathering time
        await stream.feed(b"first")
        arrived.append(time.monotonic())
        await asyncio.sleep(2.0)  # the client pauses
        stream.feed_eof()

    data, waited = _with_reader(reader, feeder)
    assert data == b"first"
    assert waited < 1.0  # not held until the pause ends


def test_a_chunk_after_the_gathering_time_wakes_the_reader_at_once() -> None:
    def reader(stream: UploadStream) -> tuple[bytes, float]:
        data = stream.read(1024 * 1024)
        return data, time.monotonic()

    fed: list[float] = []

    async def feeder(stream: UploadStream) -> None:
        await asyncio.sleep(upload.GATHER_TIME * 6)
        await stream.feed(b"late")
        fed.append(time.monotonic())
        await asyncio.sleep(2.0)
        stream.feed_eof()

    data, when = _with_reader(reader, feeder)
    assert data == b"late"
    assert when - fed[0] < 1.0


def test_reads_return_the_whole_body_in_order_and_then_end() -> None:
    chunks = [bytes([n]) * (1000 + n) for n in range(50)]

    def reader(stream: UploadStream) -> bytes:
        out = bytearray()
        while piece := stream.read(777):
            assert len(piece) <= 777
            out += piece
        assert stream.read(10) == b""
        return bytes(out)

    async def feeder(stream: UploadStream) -> None:
        for chunk in chunks:
            await stream.feed(chunk)
        stream.feed_eof()

    assert _with_reader(reader, feeder, max_buffered=4096) == b"".join(chunks)


def test_readinto_and_a_buffered_reader_see_the_same_bytes() -> None:
    body = bytes(range(256)) * 300

    def reader(stream: UploadStream) -> bytes:
        return io.BufferedReader(stream, 1000).read()

    async def feeder(stream: UploadStream) -> None:
        for start in range(0, len(body), 4096):
            await stream.feed(body[start : start + 4096])
        stream.feed_eof()

    assert _with_reader(reader, feeder) == body


def test_read_zero_returns_at_once() -> None:
    def reader(stream: UploadStream) -> tuple[bytes, float]:
        started = time.monotonic()
        return stream.read(0), time.monotonic() - started

    async def feeder(stream: UploadStream) -> None:
        await asyncio.sleep(0.5)
        stream.feed_eof()

    data, waited = _with_reader(reader, feeder)
    assert data == b"" and waited < 0.4


def test_an_aborted_body_fails_the_waiting_reader() -> None:
    def reader(stream: UploadStream) -> bytes:
        return stream.read(100)

    async def feeder(stream: UploadStream) -> None:
        await asyncio.sleep(0.2)
        stream.abort("the client went away")

    with pytest.raises(UploadAbortedError, match="went away"):
        _with_reader(reader, feeder)


def test_a_quiet_client_times_the_reader_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upload, "READ_TIMEOUT", 0.3)

    def reader(stream: UploadStream) -> bytes:
        return stream.read(100)

    async def feeder(stream: UploadStream) -> None:
        await asyncio.sleep(1.5)
        stream.feed_eof()

    with pytest.raises(UploadAbortedError, match="no data received"):
        _with_reader(reader, feeder)


def test_a_full_buffer_holds_the_feeder_back() -> None:
    gate = threading.Event()
    fed: list[int] = []

    def reader(stream: UploadStream) -> int:
        gate.wait(10)
        total = 0
        while piece := stream.read(65536):
            total += len(piece)
        return total

    async def feeder(stream: UploadStream) -> None:
        for _ in range(8):
            await stream.feed(b"x" * 1024)
            fed.append(stream.received)
        # 8 KiB buffered at most: the next feed waits for the reader.
        pending = asyncio.ensure_future(stream.feed(b"y" * 1024))
        await asyncio.sleep(0.3)
        assert not pending.done()
        gate.set()
        await pending
        stream.feed_eof()

    assert _with_reader(reader, feeder, max_buffered=8 * 1024) == 9 * 1024
