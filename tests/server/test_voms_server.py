"""VOMS attributes of a real DIRAC VOMS proxy, verified against /DIRAC/Security/VOMSDir."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DUMMY, dummy_config
from tests.support.live_server import live_server
from tests.support.pki import ServerPKI
from tests.support.testdata import DIRAC_TESTDATA as TESTDATA
from tornadoservice import S_OK, TornadoService
from tornadoservice.identity.pem import load_pem_chain
from tornadoservice.identity.x509 import identity_from_chain


class VomsProbe(TornadoService):
    auth_hello = ["all"]

    def export_hello(self) -> dict[str, Any]:
        return S_OK("hello")


def voms_of(pki: ServerPKI, folder: Path, voms_server_cert: Path) -> dict[str, Any]:
    """What the server's VOMS trust makes of DIRAC's VOMS proxy chain.

    DIRAC's test proxy has a 1024-bit key, which OpenSSL refuses in any handshake at security
    level 2, so the chain is given to the same parser the handler calls, with the trust the
    server built from its configuration.
    """
    vomsdir = folder / "vomsdir" / "fakevo"
    vomsdir.mkdir(parents=True)
    shutil.copy(voms_server_cert, vomsdir / "server.pem")
    config = dummy_config(pki)
    config.set_option("/DIRAC/Security/VOMSDir", str(folder / "vomsdir"))
    with live_server(config, {DUMMY: VomsProbe}) as server:
        trust = server.server.state.voms_trust
    chain, _ = load_pem_chain(TESTDATA / "voms" / "proxy.pem")
    identity = identity_from_chain(chain, voms_trust=trust)
    return {"vo": identity.vo, "fqans": list(identity.fqans), "dn": identity.dn}


def test_voms_attributes_verified_by_the_configured_server(
    server_pki: ServerPKI, tmp_path: Path
) -> None:
    value = voms_of(server_pki, tmp_path, TESTDATA / "host" / "hostcert.pem")
    assert value == {
        "vo": "fakevo",
        "fqans": ["/fakevo/Role=user/Capability=NULL"],
        "dn": "/O=Dirac Computing/O=CERN/CN=MrUser",
    }


def test_voms_attributes_signed_by_an_untrusted_server_are_dropped(
    server_pki: ServerPKI, tmp_path: Path
) -> None:
    value = voms_of(server_pki, tmp_path, server_pki.host_cert)
    assert value["vo"] is None
    assert value["fqans"] == []
    assert value["dn"] == "/O=Dirac Computing/O=CERN/CN=MrUser"  # still MrUser, without VOMS


@pytest.mark.parametrize("content", ["", "not a certificate"])
def test_a_broken_vomsdir_stops_the_server_at_start(
    server_pki: ServerPKI, tmp_path: Path, content: str
) -> None:
    from tornadoservice.server.server import ServerStartError

    vomsdir = tmp_path / "vomsdir" / "fakevo"
    vomsdir.mkdir(parents=True)
    (vomsdir / "server.pem").write_text(content)
    config = dummy_config(server_pki)
    config.set_option("/DIRAC/Security/VOMSDir", str(tmp_path / "vomsdir"))
    with pytest.raises(ServerStartError, match="VOMSDir"), live_server(config, {DUMMY: VomsProbe}):
        pass
