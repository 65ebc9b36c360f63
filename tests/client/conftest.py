"""Fixtures for the client tests: bare Tornado HTTPS servers answering exactly what a test needs,
closed ports, and a configuration naming the test PKI."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from tornado.httpserver import HTTPServer
from tornado.web import Application

from tests.support.pki import ServerPKI, registry_config
from tornadoservice.client import tornadoclient
from tornadoservice.config.tree import ConfigTree
from tornadoservice.identity.tls import server_ssl_context


@dataclass
class BareServer:
    port: int

    def url(self, path: str = "Framework/Bare") -> str:
        return f"https://127.0.0.1:{self.port}/{path}"


@contextmanager
def bare_server(pki: ServerPKI, handlers: list[Any]) -> Iterator[BareServer]:
    """A plain Tornado application over HTTPS (the test PKI's host certificate), in a thread."""
    context = server_ssl_context(pki.host_cert, pki.host_key, pki.ca_dir)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: list[HTTPServer] = []
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    port = sock.getsockname()[1]

    def run() -> None:
        asyncio.set_event_loop(loop)
        server = HTTPServer(Application(handlers), ssl_options=context)
        server.add_sockets([sock])
        holder.append(server)
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="bare-server", daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield BareServer(port)
    finally:

        async def stop() -> None:
            holder[0].stop()
            await holder[0].close_all_connections()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def closed_port_url(path: str = "Framework/DummyTornado") -> str:
    """A URL nobody listens on: the port was free a moment ago and is closed now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"https://127.0.0.1:{port}/{path}"


def client_config(pki: ServerPKI, urls: dict[str, list[str]] | None = None) -> ConfigTree:
    """The test registry and security section, plus ``/Systems/<S>/URLs/<Service>``."""
    tree = registry_config(pki)
    systems: dict[str, Any] = {}
    for name, service_urls in (urls or {}).items():
        system, service = name.split("/")
        systems.setdefault(system, {"URLs": {}})["URLs"][service] = ", ".join(service_urls)
    tree["Systems"] = systems
    return ConfigTree.from_dict(tree)


@pytest.fixture(autouse=True)
def _fresh_bans() -> Iterator[None]:
    """The ban list and what the client learned of servers are process-wide: each test starts
    and ends with empty ones."""
    tornadoclient.BANS.clear()
    tornadoclient.PEERS.clear()
    yield
    tornadoclient.BANS.clear()
    tornadoclient.PEERS.clear()


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No credential of the machine running the tests leaks in."""
    for name in (
        "X509_USER_PROXY",
        "X509_CERT_DIR",
        "BEARER_TOKEN",
        "BEARER_TOKEN_FILE",
        "XDG_RUNTIME_DIR",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def proxy_env(server_pki: ServerPKI, monkeypatch: pytest.MonkeyPatch, isolated_env: None) -> None:
    """The test proxy and CA directory, found through the environment as DIRAC's tools do."""
    monkeypatch.setenv("X509_USER_PROXY", str(server_pki.proxy.cert))
    monkeypatch.setenv("X509_CERT_DIR", str(server_pki.ca_dir))
