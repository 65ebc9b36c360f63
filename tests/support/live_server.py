"""A real TornadoServer on a free loopback port, run in a thread with its own event loop."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tornadoservice.config.tree import ConfigTree
from tornadoservice.server.handler import TornadoService
from tornadoservice.server.server import TornadoServer
from tornadoservice.testing.server import serve_in_thread


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
    with serve_in_thread(server, "live-server") as loop:
        yield LiveServer(server, loop)
