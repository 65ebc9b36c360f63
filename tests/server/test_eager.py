"""``start_eagerly`` and ``EagerDelegate``: a streaming handler started at once, same behaviour."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import RequestHandler, stream_request_body

from tornadoservice.server.eager import start_eagerly
from tornadoservice.server.lean import ServiceApplication


def test_runs_now_up_to_the_first_pending_wait_then_in_a_task() -> None:
    steps: list[str] = []

    async def main() -> None:
        gate: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        done.set_result(1)

        async def work() -> int:
            steps.append("start")
            steps.append(f"done future gave {await done}")  # no wait for a done future
            steps.append(f"gate gave {await gate}")
            await asyncio.sleep(0)  # a bare yield
            steps.append("end")
            return 7

        task = start_eagerly(work())
        assert steps == ["start", "done future gave 1"]  # before anything else ran
        assert task is not None
        gate.set_result(5)
        assert await task is None
        assert steps == ["start", "done future gave 1", "gate gave 5", "end"]

    asyncio.run(main())


def test_a_coroutine_that_never_waits_needs_no_task() -> None:
    async def main() -> None:
        ran: list[bool] = []

        async def quick() -> None:
            ran.append(True)

        assert start_eagerly(quick()) is None
        assert ran == [True]

    asyncio.run(main())


def test_exceptions_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async def fails_at_once() -> None:
            raise ValueError("at once")

        assert start_eagerly(fails_at_once()) is None
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def fails_later() -> None:
            await gate
            raise ValueError("later")

        task = start_eagerly(fails_later())
        assert task is not None
        gate.set_result(None)
        await task  # the task itself ends normally: the error was logged

    with caplog.at_level(logging.ERROR, logger="tornado.application"):
        asyncio.run(main())
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [str(r.exc_info[1]) for r in errors if r.exc_info] == ["at once", "later"]


def test_cancelling_the_task_cancels_the_coroutine() -> None:
    seen: list[str] = []

    async def main() -> None:
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def waits() -> None:
            try:
                await gate
            except asyncio.CancelledError:
                seen.append("cancelled")
                raise

        task = start_eagerly(waits())
        assert task is not None
        await asyncio.sleep(0)  # the task has taken over the wait
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert seen == ["cancelled"]


@stream_request_body
class Ordered(RequestHandler):
    """Records the order of the calls a streaming handler gets."""

    events: list[str] = []

    async def prepare(self) -> None:
        self.events.append("prepare")
        if self.request.headers.get("X-Slow-Prepare"):
            await asyncio.sleep(0.05)  # prepare waits on the loop: the body must wait for it
        self.events.append("prepared")

    def data_received(self, chunk: bytes) -> None:
        self.events.append(f"data {len(chunk)}")

    async def post(self) -> None:
        self.events.append("post")
        await asyncio.sleep(0)
        self.write(",".join(self.events))


@pytest.mark.parametrize("slow", [False, True])
def test_a_streaming_handler_gets_its_calls_in_tornados_order(slow: bool) -> None:
    async def main() -> str:
        sock = bind_sockets(0, "127.0.0.1")[0]
        server = HTTPServer(ServiceApplication([("/ordered", Ordered)]))
        server.add_sockets([sock])
        port = sock.getsockname()[1]
        Ordered.events = []
        try:
            headers: dict[str, Any] = {"X-Slow-Prepare": "1"} if slow else {}
            response = await AsyncHTTPClient().fetch(
                f"http://127.0.0.1:{port}/ordered", method="POST", body=b"x" * 10, headers=headers
            )
            return response.body.decode()
        finally:
            server.stop()

    assert asyncio.run(main()) == "prepare,prepared,data 10,post"
