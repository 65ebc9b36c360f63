"""SIGHUP makes a running ``serve`` re-read its configuration, CAs and CRLs."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import requests

from tests.cli.support import DEMO_READY, running_server
from tornadoservice.client.transport import make_session
from tornadoservice.identity.cadir import write_hashed_ca_dir
from tornadoservice.identity.pem import load_pem_chain, load_private_key
from tornadoservice.identity.pki import make_crl


def whoami(url: str, state: Path) -> requests.Response:
    with make_session(state / "pki" / "certificates", state / "user-proxy.pem") as session:
        return session.post(url, data={"method": "whoami"}, timeout=30)


def test_sighup_applies_a_new_crl_without_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    args: list[str | Path] = ["serve", "--state-dir", state, "--port", "0"]
    with running_server(args, output_dir=tmp_path / "logs") as server:
        server.wait_for(DEMO_READY)
        url = server.demo_url()
        assert whoami(url, state).status_code == 200
        ca, _ = load_pem_chain(state / "pki" / "ca" / "ca.cert.pem")
        ca_key = load_private_key(state / "pki" / "ca" / "ca.key.pem")
        user, _ = load_pem_chain(state / "pki" / "users" / "demo" / "usercert.pem")
        revoking = make_crl(ca[0], ca_key, [user[0].serial_number], number=2)
        write_hashed_ca_dir(state / "pki" / "certificates", [ca[0]], [revoking])
        server.send_signal(signal.SIGHUP)
        server.wait_for("reloaded the host certificate, CAs and CRLs", stream="stderr")
        server.wait_for("configuration reloaded from", stream="stderr")
        with pytest.raises(requests.exceptions.SSLError):
            whoami(url, state)  # the proxy of the now revoked demo user
        assert server.process.poll() is None  # still serving
        server.send_signal(signal.SIGTERM)
        assert server.wait_exit() == 0
