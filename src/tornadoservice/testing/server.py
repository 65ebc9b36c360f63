"""A real :class:`~tornadoservice.TornadoServer` on a free loopback port, in a thread.

:func:`running_server` serves handler classes given in code with a configuration built over a
:class:`~tornadoservice.testing.pki.TestPKI` (``/DIRAC/Security`` and ``/Registry`` filled in),
and :meth:`LiveServer.client` makes a :class:`~tornadoservice.TornadoClient` that calls it with
any identity, trusting the test CA only.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tornadoservice.config.tree import ConfigTree
from tornadoservice.server.handler import TornadoService
from tornadoservice.server.server import TornadoServer
from tornadoservice.testing.pki import Identity, TestPKI

if TYPE_CHECKING:
    from tornadoservice.client.tornadoclient import TornadoClient

START_TIMEOUT = 30.0
CLIENT_TIMEOUT = 30.0


def server_config(
    pki: TestPKI,
    handlers: Mapping[str, type[TornadoService]] | None = None,
    *,
    config: Mapping[str, Any] | ConfigTree | None = None,
    registry: Mapping[str, Any] | None = None,
) -> ConfigTree:
    """Security and registry from ``pki`` (``registry`` replaces the registry), one https
    section per handler, then ``config`` merged over it all (its options win)."""
    systems: dict[str, Any] = {}
    for name in handlers or {}:
        system, service = name.split("/", 1)
        services = systems.setdefault(system, {}).setdefault("Services", {})
        services[service] = {"Protocol": "https"}
    base = ConfigTree.from_dict(
        {
            "DIRAC": {"VirtualOrganization": "test", "Security": pki.security()},
            "Systems": systems,
            "Registry": dict(registry) if registry is not None else pki.registry(),
        }
    )
    if config is not None:
        base.merge(config if isinstance(config, ConfigTree) else ConfigTree.from_dict(config))
    return base


@dataclass
class LiveServer:
    """A server started by :func:`running_server`; its clients are closed when it stops."""

    server: TornadoServer
    pki: TestPKI
    _clients: list[TornadoClient] = field(default_factory=list)

    @property
    def port(self) -> int:
        return next(iter(self.server.ports.values()))

    @property
    def config(self) -> ConfigTree:
        return self.server.config

    def url(self, service: str) -> str:
        return f"https://127.0.0.1:{self.port}/{service}"

    def client(
        self,
        service: str,
        identity: Identity | None = None,
        *,
        timeout: float = CLIENT_TIMEOUT,
        **options: Any,
    ) -> TornadoClient:
        """A client of ``service`` (``System/Service``) as ``identity`` (default: the user)."""
        from tornadoservice.client.tornadoclient import TornadoClient

        identity = identity if identity is not None else self.pki.user
        trust = ConfigTree.from_dict({"DIRAC": {"Security": {"CALocation": str(self.pki.ca_dir)}}})
        client = TornadoClient(
            self.url(service),
            config=trust,
            timeout=timeout,
            **identity.client_options(),
            **options,
        )
        self._clients.append(client)
        return client

    def close_clients(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()


@contextmanager
def running_server(
    pki: TestPKI,
    handlers: Mapping[str, type[TornadoService]],
    *,
    config: Mapping[str, Any] | ConfigTree | None = None,
    registry: Mapping[str, Any] | None = None,
) -> Iterator[LiveServer]:
    """Serve ``handlers`` (``{"System/Service": HandlerClass}``) on 127.0.0.1, a free port."""
    tree = server_config(pki, handlers, config=config, registry=registry)
    server = TornadoServer(tree, handlers=handlers, port=0, host="127.0.0.1")
    with serve_in_thread(server, "tornadoservice-test-server"):
        live = LiveServer(server, pki)
        try:
            yield live
        finally:
            live.close_clients()


@contextmanager
def serve_in_thread(
    server: TornadoServer, thread_name: str = "tornadoservice-test-server"
) -> Iterator[asyncio.AbstractEventLoop]:
    """Run ``server`` on an event loop of its own in a daemon thread; yield that loop.

    A failure to listen is raised here, in the caller's thread; on exit the server stops
    (draining, as on SIGTERM) and the loop is closed.
    """
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            server.listen()
        except BaseException as exc:  # handed to the caller's thread below
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name=thread_name, daemon=True)
    thread.start()
    if not started.wait(START_TIMEOUT):
        raise RuntimeError(f"the test server did not start within {START_TIMEOUT:g}s")
    if failure:
        thread.join(START_TIMEOUT)
        loop.close()
        raise failure[0]
    try:
        yield loop
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(START_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(START_TIMEOUT)
        loop.close()
