"""``tornadoservice call``, ``get-file``, ``put-file`` (real processes) against hostile servers:
a redirect is never followed, ``--timeout`` bounds a trickling call, ``--max-reply-size`` a reply.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.support import assert_error, run_cli
from tests.client.conftest import bare_server
from tests.support.hostile import Gzipped, Hits, PlainHTTP, Redirect, Trickle, gzip_bomb
from tests.support.hostile import plain_http_server as plain_http
from tests.support.pki import ServerPKI
from tornadoservice.cli import call
from tornadoservice.client import rpc
from tornadoservice.identity.cadir import write_hashed_ca_dir
from tornadoservice.identity.pki import make_ca, make_crl


def credentials(pki: ServerPKI) -> list[str]:
    return ["--proxy", str(pki.proxy.cert), "--ca-dir", str(pki.ca_dir)]


@pytest.fixture
def redirecting(server_pki: ServerPKI) -> Iterator[tuple[str, PlainHTTP, Hits]]:
    """A server redirecting every request to a plain http:// server that records its hits."""
    with plain_http() as target:
        hits = Hits()
        route = [(r"/.*", Redirect, {"status": 307, "location": target.url(), "hits": hits})]
        with bare_server(server_pki, route) as server:
            yield server.url(), target, hits


def test_the_cli_default_reply_bound_is_the_clients() -> None:
    assert call.DEFAULT_MAX_REPLY_SIZE == rpc.DEFAULT_MAX_REPLY_SIZE


def test_call_refuses_a_redirect(
    server_pki: ServerPKI, redirecting: tuple[str, PlainHTTP, Hits]
) -> None:
    url, target, hits = redirecting
    result = run_cli("call", *credentials(server_pki), url, "echo", '"secret"')
    assert_error(result, 1, f"redirects to {target.url()}", "never follows a redirect")
    assert len(hits.paths) == 1
    assert target.hits.paths == []


def test_get_file_and_put_file_refuse_a_redirect(
    server_pki: ServerPKI, redirecting: tuple[str, PlainHTTP, Hits], tmp_path: Path
) -> None:
    url, target, hits = redirecting
    dest = tmp_path / "dest"
    got = run_cli("get-file", *credentials(server_pki), url, "file", dest)
    assert_error(got, 1, f"redirects to {target.url()}")
    assert not dest.exists()
    source = tmp_path / "source"
    source.write_bytes(b"upload body")
    put = run_cli("put-file", *credentials(server_pki), url, source, "file")
    assert_error(put, 1, f"redirects to {target.url()}")
    assert len(hits.paths) == 2
    assert target.hits.paths == []


def test_call_timeout_is_a_deadline_for_a_trickling_answer(server_pki: ServerPKI) -> None:
    with bare_server(server_pki, [(r"/.*", Trickle, {"interval": 0.2})]) as server:
        started = time.monotonic()
        result = run_cli("call", *credentials(server_pki), "--timeout", "1", server.url(), "x")
        took = time.monotonic() - started
    assert_error(result, 3, "no answer within 1 s", "not sent to another server")
    # The answer takes about 13 s; the process starts, calls for 1 s and reports.
    assert took < 6, took


def test_call_max_reply_size_stops_a_gzip_bomb(server_pki: ServerPKI) -> None:
    route = [(r"/.*", Gzipped, {"body": gzip_bomb(16 * 1024 * 1024)})]
    with bare_server(server_pki, route) as server:
        result = run_cli(
            "call", *credentials(server_pki), "--max-reply-size", "1048576", server.url(), "x"
        )
    assert_error(result, 1, "larger once decompressed (gzip)", "max_reply_size=1048576")


def test_ca_dir_wins_over_a_configured_grid_security(server_pki: ServerPKI, tmp_path: Path) -> None:
    other, other_key = make_ca("Unrelated CA", base_dn="/O=Elsewhere")
    write_hashed_ca_dir(tmp_path / "grid" / "certificates", [other], [make_crl(other, other_key)])
    config = tmp_path / "dirac.cfg"
    config.write_text(
        f"DIRAC\n{{\n  Security\n  {{\n    Grid-Security = {tmp_path / 'grid'}\n  }}\n}}\n"
    )
    with bare_server(server_pki, [(r"/.*", Trickle, {"interval": 0.0})]) as server:
        base = ["call", "--config", config, "--proxy", server_pki.proxy.cert]
        refused = run_cli(*base, server.url(), "x")
        trusted = run_cli(*base, "--ca-dir", server_pki.ca_dir, server.url(), "x")
    assert_error(refused, 3, "certificate verify failed")
    assert (trusted.returncode, trusted.stdout) == (0, "1\n"), trusted.stderr
