"""The client as a DIRAC client: sendFile to a DIRAC 9.1-style server, Grid-Security, DIRAC's
keyword arguments and attributes."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.web import HTTPError, RequestHandler

from tests.client.conftest import bare_server, client_config
from tests.conftest import DUMMY, dummy_config
from tests.support.dummy import DummyTornadoHandler
from tests.support.hostile import Hits
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import HOST_DN, USER_DN, ServerPKI, registry_config
from tornadoservice import S_OK, TornadoClient, TornadoService, decode, encode
from tornadoservice.client import peers, tornadoclient
from tornadoservice.config.locations import ca_location, host_cert_and_key
from tornadoservice.config.tree import ConfigTree
from tornadoservice.identity.cadir import write_hashed_ca_dir
from tornadoservice.identity.pki import make_ca, make_crl
from tornadoservice.server import handler
from tornadoservice.server.server import TornadoServer


class DiracLikeServer(RequestHandler):
    """Reads a call as DIRAC 9.1's Tornado handler does: ``method`` from the query or the body,
    ``args`` from the form body only; a method that gets the wrong arguments is a 500 with
    Tornado's HTML page. No ``X-Tornadoservice-Version`` on its answers."""

    def initialize(self, hits: Hits) -> None:
        self.hits = hits

    def post(self, *_: str) -> None:
        method = self.get_argument("method")
        args, _ = decode(self.get_body_argument("args", "[]"))
        self.hits.paths.append(method)
        try:
            result = getattr(self, f"export_{method}")(*args)
        except TypeError as exc:
            raise HTTPError(500) from exc
        self.set_header("Content-Type", "application/json")
        self.finish(encode(result))

    def export_ping(self) -> dict[str, Any]:
        return S_OK({"name": "DiracLike"})

    def export_streamFromClient(
        self, fileId: str, token: str, size: int, data: bytes
    ) -> dict[str, Any]:
        return S_OK(
            {
                "fileId": fileId,
                "token": token,
                "size": size,
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )

    def log_exception(self, *args: object) -> None:
        """A 500 is what the test looks for."""


class StreamKind(TornadoService):
    """Ours: says whether the upload arrived as a stream."""

    auth_streamFromClient = ["authenticated"]

    def export_streamFromClient(self, fileId: str, token: str, size: int, data: Any) -> Any:
        digest = hashlib.sha256()
        while chunk := data.read(1024 * 1024):
            digest.update(chunk)
        return S_OK({"type": type(data).__name__, "sha256": digest.hexdigest()})


@pytest.fixture
def dirac_like(server_pki: ServerPKI) -> Iterator[tuple[str, Hits]]:
    hits = Hits()
    with bare_server(server_pki, [(r"/.*", DiracLikeServer, {"hits": hits})]) as server:
        yield server.url("Framework/DiracLike"), hits


def test_version_header_is_the_servers_and_on_every_answer(
    dummy_server: LiveServer, session_for: Any, server_pki: ServerPKI
) -> None:
    assert peers.VERSION_HEADER == handler.VERSION_HEADER
    session = session_for(server_pki.proxy)
    ok = session.post(dummy_server.url(DUMMY), data={"method": "ping"})
    missing = session.post(dummy_server.url(DUMMY), data={"method": "noSuchMethod"})
    anonymous = session_for(None).post(dummy_server.url(DUMMY), data={"method": "whoami"})
    assert (ok.status_code, missing.status_code, anonymous.status_code) == (200, 501, 401)
    for response in (ok, missing, anonymous):
        assert response.headers[peers.VERSION_HEADER]


def test_send_file_reaches_a_dirac_style_server_in_its_form(
    dirac_like: tuple[str, Hits], proxy_env: None, tmp_path: Path
) -> None:
    url, hits = dirac_like
    data = os.urandom(300 * 1024)
    path = tmp_path / "upload"
    path.write_bytes(data)
    result = TornadoClient(url).sendFile(path, "myFileId", "tok")
    assert result["OK"], result
    assert result["Value"] == {
        "fileId": "myFileId",
        "token": "tok",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    # One harmless ping to learn what the server is, then the upload, once.
    assert hits.paths == ["ping", "streamFromClient"]
    again = TornadoClient(url).sendFile(path, "second")
    assert again["OK"], again
    assert hits.paths == ["ping", "streamFromClient", "streamFromClient"]


def test_a_server_already_heard_from_is_not_pinged(
    dirac_like: tuple[str, Hits], proxy_env: None, tmp_path: Path
) -> None:
    url, hits = dirac_like
    client = TornadoClient(url)
    assert client.ping()["OK"]
    path = tmp_path / "upload"
    path.write_bytes(b"abc")
    assert client.sendFile(path, "f")["OK"]
    assert hits.paths == ["ping", "streamFromClient"]


def test_send_file_still_streams_to_our_server(
    server_pki: ServerPKI, proxy_env: None, tmp_path: Path
) -> None:
    data = os.urandom(2 * 1024 * 1024 + 3)
    path = tmp_path / "upload"
    path.write_bytes(data)
    with live_server(dummy_config(server_pki), {DUMMY: StreamKind}) as server:
        url = server.url(DUMMY)
        result = TornadoClient(url).sendFile(path, "f")
        assert tornadoclient.PEERS.streams_uploads(url) is True
    assert result["OK"], result
    assert result["Value"] == {"type": "UploadStream", "sha256": hashlib.sha256(data).hexdigest()}


# ---------------------------------------------------------------- /DIRAC/Security/Grid-Security
def grid_security_only(pki: ServerPKI) -> ConfigTree:
    """The test PKI's folder holds certificates/, hostcert.pem, hostkey.pem: a Grid-Security."""
    tree: dict[str, Any] = registry_config(pki)
    tree["DIRAC"]["Security"] = {"Grid-Security": str(pki.ca_dir.parent)}
    return ConfigTree.from_dict(tree)


def test_locations_read_grid_security_first(server_pki: ServerPKI, tmp_path: Path) -> None:
    tree = grid_security_only(server_pki)
    tree.set_option("/DIRAC/Security/CALocation", str(tmp_path))
    assert ca_location(tree) == server_pki.ca_dir
    assert host_cert_and_key(tree) == (server_pki.host_cert, server_pki.host_key)
    # Without <Grid-Security>/certificates, CALocation; servercert.pem comes before hostcert.pem.
    (tmp_path / "servercert.pem").write_bytes(b"")
    tree.set_option("/DIRAC/Security/Grid-Security", str(tmp_path))
    assert ca_location(tree) == tmp_path
    assert host_cert_and_key(tree)[0] == tmp_path / "servercert.pem"
    assert host_cert_and_key(tree)[1] == Path("/etc/grid-security/hostkey.pem")
    # CertFile and KeyFile win over Grid-Security.
    tree.set_option("/DIRAC/Security/CertFile", "/c.pem")
    assert host_cert_and_key(tree)[0] == Path("/c.pem")


def test_client_trusts_and_presents_from_grid_security(
    dummy_server: LiveServer, server_pki: ServerPKI, isolated_env: None
) -> None:
    client = TornadoClient(
        dummy_server.url(DUMMY), config=grid_security_only(server_pki), useCertificates=True
    )
    value = client.whoami()["Value"]
    assert value["DN"] == HOST_DN


def test_server_starts_from_grid_security_only(server_pki: ServerPKI, proxy_env: None) -> None:
    base = dummy_config(server_pki)
    tree = grid_security_only(server_pki)
    tree.set_option("/Systems/Framework/Services/DummyTornado/Protocol", "https")
    assert base.get("/DIRAC/Security/CertFile") and not tree.get("/DIRAC/Security/CertFile")
    server = TornadoServer(tree, handlers={DUMMY: DummyTornadoHandler}, port=0, host="127.0.0.1")
    assert server.tls_files() == (server_pki.host_cert, server_pki.host_key, server_pki.ca_dir)
    with live_server(tree, {DUMMY: DummyTornadoHandler}) as live:
        assert TornadoClient(live.url(DUMMY)).echo("gs")["Value"] == "gs"


# ---------------------------------------------------------------- DIRAC's keyword arguments
def test_dirac_keywords_without_meaning_here_are_accepted(
    dummy_server: LiveServer, proxy_env: None
) -> None:
    client = TornadoClient(
        dummy_server.url(DUMMY),
        keepAliveLapse=150,
        ignoreGateways=True,
        setup="Production",
        httpsClient=object,
    )
    result = client.echo("x")
    assert result["Value"] == "x"
    stub_kwargs = result["rpcStub"][0][1]
    assert "httpsClient" not in stub_kwargs
    assert stub_kwargs["setup"] == "Production"


def test_proxy_string_is_presented_and_its_file_removed(
    dummy_server: LiveServer,
    server_pki: ServerPKI,
    isolated_env: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    pem = server_pki.proxy.cert.read_text()
    client = TornadoClient(dummy_server.url(DUMMY), proxyString=pem, ca_dir=server_pki.ca_dir)
    result = client.whoami()
    assert (result["Value"]["DN"], result["Value"]["isProxy"]) == (USER_DN, True)
    assert "proxyString" not in result["rpcStub"][0][1]
    assert list(tmp_path.iterdir()) == []


def test_proxy_chain_object_is_dumped(
    dummy_server: LiveServer, server_pki: ServerPKI, isolated_env: None
) -> None:
    class Chain:
        def dumpAllToString(self) -> dict[str, Any]:
            return S_OK(server_pki.proxy.cert.read_bytes())

    client = TornadoClient(dummy_server.url(DUMMY), proxyChain=Chain(), ca_dir=server_pki.ca_dir)
    assert client.whoami()["Value"]["DN"] == USER_DN


def test_a_proxy_string_that_is_no_pem_is_an_s_error(
    dummy_server: LiveServer, server_pki: ServerPKI, isolated_env: None
) -> None:
    client = TornadoClient(
        dummy_server.url(DUMMY), proxyString="nonsense", ca_dir=server_pki.ca_dir
    )
    result = client.ping()
    assert (result["OK"], result["Errno"]) == (False, 22)
    assert "proxyString is not a PEM proxy" in result["Message"]


def test_ca_dir_keyword_is_trusted_and_only_it(
    dummy_server: LiveServer, server_pki: ServerPKI, isolated_env: None, tmp_path: Path
) -> None:
    url, proxy = dummy_server.url(DUMMY), str(server_pki.proxy.cert)
    assert TornadoClient(url, proxyLocation=proxy, ca_dir=server_pki.ca_dir).echo(1)["Value"] == 1
    other, other_key = make_ca("Unrelated CA", base_dn="/O=Elsewhere")
    write_hashed_ca_dir(tmp_path / "cas", [other], [make_crl(other, other_key)])
    # ca_dir wins over the configuration's CALocation, which would be trusted.
    refused = TornadoClient(
        url, proxyLocation=proxy, ca_dir=tmp_path / "cas", config=client_config(server_pki)
    ).ping()
    assert refused["OK"] is False
    assert "certificate verify failed" in refused["Message"]


def test_get_service_name_and_service_url_are_not_remote_calls(
    server_pki: ServerPKI, proxy_env: None
) -> None:
    hits = Hits()
    with bare_server(server_pki, [(r"/.*", DiracLikeServer, {"hits": hits})]) as server:
        config = client_config(server_pki, {"Framework/DiracLike": [server.url()]})
        client = TornadoClient("Framework/DiracLike", config=config)
        assert client.getServiceName() == "Framework/DiracLike"
        assert client.serviceURL == server.url()
        assert TornadoClient("No/Such", config=config).serviceURL == ""
    assert hits.paths == []
