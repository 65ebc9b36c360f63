"""CAs and CRLs are reloaded without a restart; a reload that fails keeps the previous set."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
import requests

from tests.conftest import DUMMY, dummy_config
from tests.support.dummy import DummyTornadoHandler
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import ServerPKI, make_server_pki
from tornadoservice.client.transport import make_session
from tornadoservice.identity.cadir import subject_hash, write_hashed_ca_dir
from tornadoservice.identity.pki import make_crl


def echo(pki: ServerPKI, server: LiveServer, cred_name: str) -> requests.Response:
    cred = getattr(pki, cred_name)
    with make_session(pki.ca_dir, cred.cert, cred.key) as session:
        return session.post(server.url(DUMMY), data={"method": "echo", "args": "[1]"}, timeout=30)


def reload(server: LiveServer) -> bool:
    async def run() -> bool:
        return server.server.reload_tls()

    return asyncio.run_coroutine_threadsafe(run(), server.loop).result(30)


@pytest.fixture
def own_pki(tmp_path: Path) -> ServerPKI:
    return make_server_pki(tmp_path)  # this test rewrites the CA directory


def test_a_new_crl_takes_effect_on_reload(
    own_pki: ServerPKI, caplog: pytest.LogCaptureFixture
) -> None:
    with live_server(dummy_config(own_pki), {DUMMY: DummyTornadoHandler}) as server:
        assert echo(own_pki, server, "user").status_code == 200
        revoking = make_crl(own_pki.ca, own_pki.ca_key, [own_pki.user_serial], number=2)
        write_hashed_ca_dir(own_pki.ca_dir, [own_pki.ca], [revoking])
        # The live context caches the CRL it read: the revoked user still gets in until reload.
        assert echo(own_pki, server, "user").status_code == 200
        caplog.set_level(logging.INFO, logger="tornadoservice.server")
        assert reload(server) is True
        with pytest.raises(requests.exceptions.SSLError):
            echo(own_pki, server, "user")
        # The proxy of the revoked user is refused too (OpenSSL's leaf-only check would miss it).
        with pytest.raises(requests.exceptions.SSLError):
            echo(own_pki, server, "proxy")
        assert echo(own_pki, server, "stranger_proxy").status_code == 200
    assert any("reloaded" in r.getMessage() for r in caplog.records)


def test_a_failed_reload_keeps_the_previous_set(
    own_pki: ServerPKI, caplog: pytest.LogCaptureFixture
) -> None:
    with live_server(dummy_config(own_pki), {DUMMY: DummyTornadoHandler}) as server:
        before = server.server.ssl_context
        crl_file = own_pki.ca_dir / f"{subject_hash(own_pki.ca.subject)}.r0"
        crl_file.write_text("-----BEGIN X509 CRL-----\ntruncated download\n")
        assert reload(server) is False
        assert server.server.ssl_context is before
        assert echo(own_pki, server, "proxy").status_code == 200
    assert any("keeping the previous set" in r.getMessage() for r in caplog.records)
