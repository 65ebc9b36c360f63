"""URL lists: shuffling, failover on connection errors only, the ban list."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.client import RemoteDisconnected

import pytest
import requests
import urllib3
from tornado.web import RequestHandler
from urllib3.exceptions import (
    ConnectTimeoutError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from tests.client.conftest import bare_server, client_config, closed_port_url
from tests.conftest import DUMMY
from tests.support.live_server import LiveServer
from tests.support.pki import ServerPKI
from tornadoservice import TornadoClient, encode
from tornadoservice.client.rpc import never_sent
from tornadoservice.client.tornadoclient import BANS
from tornadoservice.client.urls import BanList, URLResolutionError, resolve_urls


@pytest.fixture
def keep_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """URLs in configuration order, so that a test knows which one is tried first."""
    monkeypatch.setattr("tornadoservice.client.urls.random.shuffle", lambda urls: None)


@dataclass
class Counter:
    hits: list[str] = field(default_factory=list)


class Counting(RequestHandler):
    def initialize(self, counter: Counter, delay: float) -> None:
        self.counter = counter
        self.delay = delay

    async def post(self) -> None:
        self.counter.hits.append(self.get_body_argument("method"))
        await asyncio.sleep(self.delay)
        self.set_header("Content-Type", "application/json")
        self.finish(encode({"OK": True, "Value": "counted"}))


@pytest.fixture
def counting(server_pki: ServerPKI) -> Iterator[tuple[str, Counter]]:
    counter = Counter()
    with bare_server(server_pki, [(r"/.*", Counting, {"counter": counter, "delay": 0.0})]) as srv:
        yield srv.url(), counter


def test_failover_skips_a_closed_port_and_bans_it(
    dummy_server: LiveServer,
    server_pki: ServerPKI,
    proxy_env: None,
    keep_order: None,
    counting: tuple[str, Counter],
) -> None:
    down = closed_port_url()
    up = dummy_server.url(DUMMY)
    other, counter = counting
    config = client_config(server_pki, {DUMMY: [down, up, other]})
    result = TornadoClient(DUMMY, config=config).echo("x")
    assert result["Value"] == "x"
    assert BANS.is_banned(down)
    assert not BANS.is_banned(up)
    assert counter.hits == []
    # A new client (DIRAC code makes one per call) puts the banned URL last.
    config = client_config(server_pki, {DUMMY: [down, other, up]})
    assert TornadoClient(DUMMY, config=config).echo("y")["Value"] == "counted"
    assert counter.hits == ["echo"]


def test_all_urls_down(server_pki: ServerPKI, proxy_env: None, keep_order: None) -> None:
    downs = [closed_port_url(), closed_port_url()]
    config = client_config(server_pki, {DUMMY: downs})
    for _ in range(2):  # banned URLs are still tried, last
        result = TornadoClient(DUMMY, config=config).ping()
        assert result["OK"] is False
        assert result["Errno"] == 0
        assert result["Message"].startswith(f"Cannot reach {DUMMY}: ")
        for url in downs:
            assert f"{url}: " in result["Message"]
        assert "Connection refused" in result["Message"]
        assert all(BANS.is_banned(url) for url in downs)


def test_a_read_timeout_is_never_sent_elsewhere(
    server_pki: ServerPKI, proxy_env: None, keep_order: None
) -> None:
    counter = Counter()
    route = [(r"/.*", Counting, {"counter": counter, "delay": 2.0})]
    with bare_server(server_pki, route) as first, bare_server(server_pki, route) as second:
        config = client_config(server_pki, {DUMMY: [first.url(), second.url()]})
        started = time.monotonic()
        result = TornadoClient(DUMMY, config=config, timeout=0.5).slow()
        assert time.monotonic() - started < 1.9
        assert result["OK"] is False
        assert "no answer within 0.5 s" in result["Message"]
        assert "not sent to another server" in result["Message"]
        assert counter.hits == ["slow"]
        assert not BANS.is_banned(first.url())


def test_urls_are_shuffled(server_pki: ServerPKI) -> None:
    urls = [f"https://h{n}:8443/A/B" for n in range(3)]
    config = client_config(server_pki, {"A/B": urls})
    orders = {resolve_urls("A/B", config).urls for _ in range(60)}
    assert len(orders) > 1
    assert all(sorted(order) == urls for order in orders)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("http://h/A/B", "only https:// URLs"),
        ("A", "neither an https:// URL nor System/Service"),
        ("A/C", "/Systems/A/URLs/C is missing or empty"),
        ("A/Plain", "'http://h/A/Plain' is not an https:// URL"),
    ],
)
def test_resolution_errors(server_pki: ServerPKI, name: str, message: str) -> None:
    config = client_config(server_pki, {"A/Plain": ["http://h/A/Plain"]})
    with pytest.raises(URLResolutionError, match=message):
        resolve_urls(name, config)
    with pytest.raises(URLResolutionError, match="no configuration to resolve"):
        resolve_urls("A/B", None)


def test_ban_list_order_and_expiry() -> None:
    now = [100.0]
    bans = BanList(seconds=10, clock=lambda: now[0])
    urls = ["a", "b", "c", "d"]
    bans.ban("b")
    now[0] += 1
    bans.ban("a")
    # Not banned first (in their order), then banned ones, the earliest to expire first.
    assert bans.order(urls) == ["c", "d", "b", "a"]
    now[0] += 9.5  # b's ban is over, a's is not
    assert bans.order(urls) == ["b", "c", "d", "a"]
    assert not bans.is_banned("b")
    bans.lift("a")
    assert bans.order(urls) == urls


class HangsUp(RequestHandler):
    """Reads the request, counts it, and closes the connection without answering."""

    def initialize(self, counter: Counter) -> None:
        self.counter = counter

    def post(self) -> None:
        self.counter.hits.append(self.get_body_argument("method"))
        assert self.request.connection is not None
        self.request.connection.close()  # type: ignore[attr-defined]


def test_a_connection_closed_after_sending_is_not_sent_elsewhere(
    server_pki: ServerPKI, proxy_env: None, keep_order: None
) -> None:
    counter = Counter()
    route = [(r"/.*", HangsUp, {"counter": counter})]
    with bare_server(server_pki, route) as first, bare_server(server_pki, route) as second:
        config = client_config(server_pki, {DUMMY: [first.url(), second.url()]})
        result = TornadoClient(DUMMY, config=config).once()
    assert result["OK"] is False
    assert counter.hits == ["once"]


def _pool_error(reason: Exception) -> urllib3.exceptions.MaxRetryError:
    return urllib3.exceptions.MaxRetryError(None, "/A/B", reason=reason)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "before"),
    [
        (requests.ConnectionError(_pool_error(NewConnectionError(None, "refused"))), True),  # type: ignore[arg-type]
        (requests.ConnectTimeout(_pool_error(ConnectTimeoutError("slow"))), True),
        (
            requests.exceptions.SSLError(
                _pool_error(urllib3.exceptions.SSLError(ssl.SSLCertVerificationError(1, "bad")))
            ),
            True,
        ),
        (
            requests.exceptions.SSLError(
                _pool_error(urllib3.exceptions.SSLError(ssl.SSLError(1, "unknown ca alert")))
            ),
            True,
        ),
        (
            requests.exceptions.SSLError(
                _pool_error(urllib3.exceptions.SSLError(ssl.SSLEOFError(8, "EOF")))
            ),
            False,
        ),
        (requests.ReadTimeout(_pool_error(ReadTimeoutError(None, "/", "slow"))), False),  # type: ignore[arg-type]
        (
            requests.ConnectionError(
                ProtocolError("Connection aborted.", RemoteDisconnected("closed"))
            ),
            False,
        ),
    ],
    ids=[
        "refused",
        "connect-timeout",
        "cert-verify",
        "tls-alert",
        "tls-eof",
        "read-timeout",
        "reset",
    ],
)
def test_what_counts_as_never_sent(error: Exception, before: bool) -> None:
    assert never_sent(error) is before
