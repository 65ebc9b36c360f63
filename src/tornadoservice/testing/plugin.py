"""The pytest plugin (entry point ``pytest11``): fixtures for testing a service, nothing else.

``tornadoservice_pki``
    A :class:`~tornadoservice.testing.TestPKI`, made once per test session.
``tornadoservice_server``
    A factory: ``tornadoservice_server({"System/Service": Handler}, config=..., registry=...)``
    starts a real server on a free loopback port and returns a
    :class:`~tornadoservice.testing.LiveServer`; every server it started stops after the test.

Loading the plugin imports nothing from the framework: a test session that uses neither
fixture pays nothing and sees no side effect (no autouse fixture, no hook, no global state).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tornadoservice.config.tree import ConfigTree
    from tornadoservice.server.handler import TornadoService
    from tornadoservice.testing.pki import TestPKI
    from tornadoservice.testing.server import LiveServer

    ServerFactory = Callable[..., LiveServer]


@pytest.fixture(scope="session")
def tornadoservice_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    """A test CA with a host certificate, users with proxies, and a token issuer."""
    from tornadoservice.testing.pki import make_test_pki

    return make_test_pki(tmp_path_factory.mktemp("tornadoservice-pki"))


@pytest.fixture
def tornadoservice_server(tornadoservice_pki: TestPKI) -> Iterator[ServerFactory]:
    """Start servers of handler classes; each stops (and its clients close) after the test."""
    from tornadoservice.testing.server import running_server

    with ExitStack() as stack:

        def start(
            handlers: Mapping[str, type[TornadoService]],
            *,
            config: Mapping[str, Any] | ConfigTree | None = None,
            registry: Mapping[str, Any] | None = None,
        ) -> LiveServer:
            return stack.enter_context(
                running_server(tornadoservice_pki, handlers, config=config, registry=registry)
            )

        yield start
