"""TornadoClient against hostile servers: redirects, trickling answers, huge or inflating replies.

Each server here ends what it sends within seconds, so a client that kept waiting (or kept
following) fails on the time it took or on what the server saw, instead of hanging the suite.
"""

from __future__ import annotations

import errno
import io
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.conftest import bare_server
from tests.support.hostile import (
    RESULT,
    Chunked,
    Gzipped,
    Hits,
    Redirect,
    Trickle,
    announce,
    fixed_answer,
    gzip_bomb,
    plain_http_server,
    raw_tls_server,
    trickle_bytes,
)
from tests.support.pki import ServerPKI
from tornadoservice import TornadoClient

MiB = 1024 * 1024


@pytest.fixture
def elsewhere(server_pki: ServerPKI) -> Iterator[tuple[str, Hits]]:
    """Another HTTPS server (same CA, so the client would trust it) counting what reaches it."""
    hits = Hits()
    route = [(r"/.*", Redirect, {"status": 200, "location": "/", "hits": hits})]
    with bare_server(server_pki, route) as server:
        yield server.url("Framework/Elsewhere"), hits


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_to_plain_http_is_refused_and_names_the_location(
    server_pki: ServerPKI, proxy_env: None, status: int
) -> None:
    with plain_http_server() as target:
        hits = Hits()
        route = [(r"/.*", Redirect, {"status": status, "location": target.url(), "hits": hits})]
        with bare_server(server_pki, route) as server:
            result = TornadoClient(server.url(), timeout=10).echo("secret payload")
        assert result["OK"] is False
        assert f"redirects to {target.url()}" in result["Message"]
        assert "never follows a redirect" in result["Message"]
        assert str(status) in result["Message"]
        assert len(hits.paths) == 1
        assert target.hits.paths == []


def test_a_redirect_to_another_https_server_never_reaches_it(
    server_pki: ServerPKI, proxy_env: None, elsewhere: tuple[str, Hits]
) -> None:
    other_url, other_hits = elsewhere
    hits = Hits()
    route = [(r"/.*", Redirect, {"status": 307, "location": other_url, "hits": hits})]
    with bare_server(server_pki, route) as server:
        result = TornadoClient(server.url(), timeout=10).echo("x")
    assert result["OK"] is False
    assert other_url in result["Message"]
    assert other_hits.paths == []


def test_a_redirect_to_the_same_path_is_sent_once(server_pki: ServerPKI, proxy_env: None) -> None:
    hits = Hits()
    route = [(r"/.*", Redirect, {"status": 307, "location": "/Framework/Bare", "hits": hits})]
    with bare_server(server_pki, route) as server:
        result = TornadoClient(server.url(), timeout=10).echo("once")
    assert result["OK"] is False
    assert "redirects to /Framework/Bare" in result["Message"]
    assert hits.paths == ["/Framework/Bare"]


def test_transfers_never_follow_a_redirect(
    server_pki: ServerPKI, proxy_env: None, tmp_path: Path
) -> None:
    with plain_http_server() as target:
        hits = Hits()
        route = [(r"/.*", Redirect, {"status": 308, "location": target.url(), "hits": hits})]
        with bare_server(server_pki, route) as server:
            client = TornadoClient(server.url(), timeout=10)
            dest = tmp_path / "dest"
            received = client.receiveFile(dest, "file")
            source = tmp_path / "source"
            source.write_bytes(b"upload body")
            sent = client.sendFile(source, "file")
        for result in (received, sent):
            assert result["OK"] is False
            assert f"redirects to {target.url()}" in result["Message"]
        assert not dest.exists()
        assert len(hits.paths) == 2
        assert target.hits.paths == []


def test_a_location_is_shown_escaped_and_cut(server_pki: ServerPKI, proxy_env: None) -> None:
    location = b"https://evil.example/\x1b[31m" + b"a" * 1000
    answer = b"HTTP/1.1 302 Found\r\nLocation: " + location + b"\r\nContent-Length: 0\r\n\r\n"
    with raw_tls_server(server_pki, fixed_answer(answer)) as server:
        result = TornadoClient(server.url(), timeout=10).echo("x")
    assert result["OK"] is False
    assert "\x1b" not in result["Message"]
    assert "https://evil.example/\\x1b[31m" + "a" * 271 + "...;" in result["Message"]


def test_timeout_bounds_a_call_whose_answer_trickles(
    server_pki: ServerPKI, proxy_env: None
) -> None:
    # One byte every 0.2 s: no single read waits 1 s, the whole answer takes about 13 s.
    with bare_server(server_pki, [(r"/.*", Trickle, {"interval": 0.2})]) as server:
        started = time.monotonic()
        result = TornadoClient(server.url(), timeout=1).echo("x")
        took = time.monotonic() - started
    assert result["OK"] is False
    assert "no answer within 1 s" in result["Message"]
    assert "not sent to another server" in result["Message"]
    assert took < 3, took


def test_timeout_bounds_a_call_whose_status_line_trickles(
    server_pki: ServerPKI, proxy_env: None
) -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 24\r\n\r\n" + RESULT
    with raw_tls_server(server_pki, trickle_bytes(answer, 0.2)) as server:
        started = time.monotonic()
        result = TornadoClient(server.url(), timeout=1).echo("x")
        took = time.monotonic() - started
    assert result["OK"] is False
    assert "no answer within 1 s" in result["Message"]
    assert took < 3, took


def test_a_fast_call_still_answers_within_its_timeout(
    server_pki: ServerPKI, proxy_env: None
) -> None:
    """The deadline does not break calls that end in time, nor the next call on the same
    pooled connection."""
    with bare_server(server_pki, [(r"/.*", Trickle, {"interval": 0.0})]) as server:
        client = TornadoClient(server.url(), timeout=5)
        assert client.echo("x") == {"OK": True, "Value": 1, "rpcStub": client.echo("x")["rpcStub"]}
        assert client.execute_rpc("echo") == {"OK": True, "Value": 1}


def test_a_download_keeps_a_per_read_timeout(server_pki: ServerPKI, proxy_env: None) -> None:
    """A transfer may last longer than ``timeout``, as long as bytes keep coming."""
    with bare_server(server_pki, [(r"/.*", Trickle, {"interval": 0.02})]) as server:
        sink = io.BytesIO()
        started = time.monotonic()
        result = TornadoClient(server.url(), timeout=0.5).receiveFile(sink, "slow")
        took = time.monotonic() - started
    assert result == {"OK": True, "Value": None}
    assert sink.getvalue() == b" " * 40 + RESULT
    assert took > 0.5


def test_a_reply_announcing_10_gb_is_refused_before_reading(
    server_pki: ServerPKI, proxy_env: None
) -> None:
    with raw_tls_server(server_pki, announce(10 * 1024**3, 2 * MiB, hold=5)) as server:
        started = time.monotonic()
        result = TornadoClient(server.url(), timeout=10).echo("x")
        took = time.monotonic() - started
    assert result["OK"] is False
    assert result["Errno"] == errno.EFBIG
    assert f"announced a reply of {10 * 1024**3} bytes" in result["Message"]
    assert f"max_reply_size={256 * MiB}" in result["Message"]
    assert took < 2, took


def test_an_unannounced_reply_is_cut_at_the_limit(server_pki: ServerPKI, proxy_env: None) -> None:
    with bare_server(server_pki, [(r"/.*", Chunked, {"size": MiB, "count": 8})]) as server:
        result = TornadoClient(server.url(), timeout=10, max_reply_size=2 * MiB).echo("x")
    assert result["OK"] is False
    assert result["Errno"] == errno.EFBIG
    assert "is larger than the client accepts (max_reply_size=2097152)" in result["Message"]


def test_a_gzip_bomb_is_cut_once_decompressed_without_inflating_it(
    server_pki: ServerPKI, proxy_env: None
) -> None:
    bomb = gzip_bomb(64 * MiB)
    assert len(bomb) < 200 * 1024
    with bare_server(server_pki, [(r"/.*", Gzipped, {"body": bomb})]) as server:
        client = TornadoClient(server.url(), timeout=10, max_reply_size=4 * MiB)
        client.ping()  # the session and its TLS connection exist before measuring
        tracemalloc.start()
        try:
            result = client.echo("x")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result["OK"] is False
    assert result["Errno"] == errno.EFBIG
    assert "larger once decompressed (gzip)" in result["Message"]
    assert peak < 16 * MiB, peak


def test_a_gzip_reply_under_the_limit_is_decoded(server_pki: ServerPKI, proxy_env: None) -> None:
    with bare_server(server_pki, [(r"/.*", Gzipped, {"body": gzip_bomb(MiB)})]) as server:
        result = TornadoClient(server.url(), timeout=10, max_reply_size=2 * MiB).execute_rpc("x")
    assert result == {"OK": True, "Value": "a" * MiB}


def test_a_broken_gzip_reply_is_an_s_error(server_pki: ServerPKI, proxy_env: None) -> None:
    with bare_server(server_pki, [(r"/.*", Gzipped, {"body": b"not gzip at all"})]) as server:
        result = TornadoClient(server.url(), timeout=10).echo("x")
    assert result["OK"] is False
    assert result["Errno"] == errno.EPROTO
    assert "undecodable body" in result["Message"]


def test_the_error_answer_of_a_download_is_bounded(
    server_pki: ServerPKI, proxy_env: None, tmp_path: Path
) -> None:
    route = [(r"/.*", Gzipped, {"body": gzip_bomb(16 * MiB), "status": 500})]
    with bare_server(server_pki, route) as server:
        dest = tmp_path / "dest"
        result = TornadoClient(server.url(), max_reply_size=MiB).receiveFile(dest, "f")
    assert result["OK"] is False
    assert result["Errno"] == errno.EFBIG
    assert not dest.exists()


def test_a_download_is_not_bounded_by_max_reply_size(
    server_pki: ServerPKI, proxy_env: None, tmp_path: Path
) -> None:
    with bare_server(server_pki, [(r"/.*", Chunked, {"size": MiB, "count": 3})]) as server:
        dest = tmp_path / "dest"
        result = TornadoClient(server.url(), max_reply_size=MiB).receiveFile(dest, "f")
    assert result == {"OK": True, "Value": None}
    assert dest.stat().st_size == 3 * MiB
