"""A real TornadoServer on a free loopback port, run in a thread with its own event loop."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tornadoservice.config.tree import ConfigTree
from tornadoservice.server.handler import TornadoService
from tornadoservice.server.server import TornadoServer


@dataclass
class LiveServer:
    server: TornadoServer
    loop: asyncio.AbstractEventLoop

    @property
    def port(self) -> int:
        return next(iter(self.server.ports.values()))

    def url(self, service: str) -> str:
        return f"https://127.0.0.1:{self.port}/{service}"

    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"


HTTP_IMPLEMENTATION_ENV = "TORNADOSERVICE_HTTP_IMPLEMENTATION"
"""Transport of every live server whose configuration names none (if unset, the server's own
default, ``httptools``); ``.ci/run`` runs the server, client and interop tests once more with
``tornado``."""


def default_http_implementation() -> str:
    return os.environ.get(HTTP_IMPLEMENTATION_ENV, "") or "httptools"


@contextmanager
def live_server(
    config: ConfigTree,
    handlers: Mapping[str, type[TornadoService]] | None = None,
    *,
    http_implementation: str | None = None,
    **server_options: Any,
) -> Iterator[LiveServer]:
    """Serve ``config`` on a free loopback port; ``http_implementation`` (``tornado`` or
    ``httptools``) unless the configuration names one, else the environment's default."""
    option = "/Systems/Tornado/HTTPImplementation"
    if http_implementation is not None or not config.get(option):
        config.set_option(option, http_implementation or default_http_implementation())
    server = TornadoServer(config, handlers=handlers, port=0, host="127.0.0.1", **server_options)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            server.listen()
        except BaseException as exc:  # reported to the test thread below
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="live-server", daemon=True)
    thread.start()
    started.wait(10)
    if failure:
        loop.close()
        raise failure[0]
    try:
        yield LiveServer(server, loop)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
