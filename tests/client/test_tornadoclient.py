"""TornadoClient against the DummyTornado over real HTTPS: results, rpcStub, each keyword."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from tornado.web import RequestHandler

from tests.client.conftest import bare_server, client_config
from tests.conftest import DUMMY
from tests.support.live_server import LiveServer
from tests.support.pki import HOST_DN, USER_DN, ServerPKI
from tornadoservice import TornadoClient, decode, encode
from tornadoservice.client import executeRPCStub, set_default_config
from tornadoservice.identity.cadir import write_hashed_ca_dir
from tornadoservice.identity.pki import make_ca, make_crl

DEFAULT_STUB_KWARGS = {"timeout": 600, "useAccessToken": False}


@pytest.fixture
def default_config(server_pki: ServerPKI, dummy_server: LiveServer) -> Iterator[None]:
    set_default_config(client_config(server_pki, {DUMMY: [dummy_server.url(DUMMY)]}))
    yield
    set_default_config(None)


def test_attribute_call_carries_diracs_rpc_stub(dummy_server: LiveServer, proxy_env: None) -> None:
    url = dummy_server.url(DUMMY)
    result = TornadoClient(url).echo("hello")
    assert result == {
        "OK": True,
        "Value": "hello",
        "rpcStub": ((url, DEFAULT_STUB_KWARGS), "echo", ["hello"]),
    }


def test_execute_rpc_and_types_round_trip(dummy_server: LiveServer, proxy_env: None) -> None:
    client = TornadoClient(dummy_server.url(DUMMY))
    assert client.executeRPC("add", 1, 2)["Value"] == 3
    value = client.types()["Value"]
    assert value == {
        "dt": dt.datetime(2024, 1, 2, 3, 4, 5),
        "date": dt.date(2024, 1, 2),
        "bytes": b"\x00\xffz",
        "tuple": [1, 2],
        "float": 1.5,
        "none": None,
    }


def test_service_name_resolves_from_the_configuration(
    dummy_server: LiveServer, proxy_env: None, server_pki: ServerPKI
) -> None:
    config = client_config(server_pki, {DUMMY: [dummy_server.url(DUMMY)]})
    result = TornadoClient(DUMMY, config=config).add(2, 3)
    assert result["Value"] == 5
    assert result["rpcStub"] == ((DUMMY, DEFAULT_STUB_KWARGS), "add", [2, 3])


def test_default_configuration_and_stub_replay(
    dummy_server: LiveServer, proxy_env: None, default_config: None
) -> None:
    result = TornadoClient(DUMMY, timeout=30).add(4, 5)
    assert result["Value"] == 9
    stub = result["rpcStub"]
    assert stub == ((DUMMY, {"timeout": 30, "useAccessToken": False}), "add", [4, 5])
    assert executeRPCStub(stub)["Value"] == 9
    # Stubs are stored as JSON: a decoded one (lists, not tuples) replays too.
    replayed = TornadoClient(DUMMY).executeRPCStub(decode(encode(stub))[0])
    assert (replayed["Value"], replayed["rpcStub"]) == (9, stub)


def test_unknown_keyword_arguments_are_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"unexpected keyword arguments: bogus, useCertificate$"):
        TornadoClient("Framework/DummyTornado", useCertificate=True, bogus=1)
    with pytest.raises(TypeError, match="delegatedDN and delegatedGroup go together"):
        TornadoClient("Framework/DummyTornado", delegatedDN=USER_DN)


def test_a_bad_stub_is_an_s_error() -> None:
    result = executeRPCStub(("Framework/DummyTornado", "echo", []))
    assert result["OK"] is False
    assert result["Errno"] == 22


def test_unresolvable_name_is_an_s_error(isolated_env: None, server_pki: ServerPKI) -> None:
    result = TornadoClient("Framework/Nowhere", config=client_config(server_pki)).ping()
    assert result["OK"] is False
    assert "/Systems/Framework/URLs/Nowhere is missing or empty" in result["Message"]
    assert result["rpcStub"] == (("Framework/Nowhere", DEFAULT_STUB_KWARGS), "ping", [])


def test_proxy_location(
    dummy_server: LiveServer, server_pki: ServerPKI, isolated_env: None
) -> None:
    config = client_config(server_pki)
    client = TornadoClient(
        dummy_server.url(DUMMY), proxyLocation=str(server_pki.proxy.cert), config=config
    )
    value = client.whoami()["Value"]
    assert (value["DN"], value["group"], value["isProxy"]) == (USER_DN, "dirac_user", True)
    assert client.whoami()["rpcStub"][0][1]["proxyLocation"] == str(server_pki.proxy.cert)


def test_cert_file_and_key_file_present_a_user_certificate(
    dummy_server: LiveServer, server_pki: ServerPKI, isolated_env: None
) -> None:
    assert server_pki.user.key is not None
    client = TornadoClient(
        dummy_server.url(DUMMY),
        cert_file=str(server_pki.user.cert),
        key_file=str(server_pki.user.key),
        config=client_config(server_pki),
    )
    value = client.whoami()["Value"]
    assert (value["DN"], value["isProxy"]) == (USER_DN, False)


def test_unusable_credentials_are_an_s_error(
    server_pki: ServerPKI, isolated_env: None, tmp_path: Path
) -> None:
    client = TornadoClient(
        "https://127.0.0.1:1/A/B",
        proxyLocation=str(tmp_path / "no-proxy"),
        config=client_config(server_pki),
    )
    result = client.ping()
    assert (result["OK"], result["Errno"]) == (False, 22)
    assert "no-proxy" in result["Message"]


def test_use_certificates_acts_as_the_host(
    dummy_server: LiveServer, server_pki: ServerPKI, isolated_env: None
) -> None:
    client = TornadoClient(
        dummy_server.url(DUMMY), useCertificates=True, config=client_config(server_pki)
    )
    result = client.whoami()
    assert result["Value"]["DN"] == HOST_DN
    assert result["Value"]["group"] == "hosts"
    assert "useCertificates" not in result["rpcStub"][0][1]


def test_delegation_calls_as_the_user(
    dummy_server: LiveServer, server_pki: ServerPKI, isolated_env: None
) -> None:
    client = TornadoClient(
        dummy_server.url(DUMMY),
        useCertificates=True,
        delegatedDN=USER_DN,
        delegatedGroup="dirac_user",
        config=client_config(server_pki),
    )
    result = client.whoami()
    assert (result["Value"]["DN"], result["Value"]["group"]) == (USER_DN, "dirac_user")
    assert result["rpcStub"][0][1] == {
        **DEFAULT_STUB_KWARGS,
        "delegatedDN": USER_DN,
        "delegatedGroup": "dirac_user",
    }


class FormEcho(RequestHandler):
    """Answers the form fields and the Authorization header it got, as an S_OK."""

    def post(self) -> None:
        fields = [
            [k, v.decode()] for k, values in self.request.body_arguments.items() for v in values
        ]
        value = {
            "body": self.request.body.decode(),
            "fields": fields,
            "authorization": self.request.headers.get("Authorization"),
        }
        self.set_header("Content-Type", "application/json")
        self.finish(encode({"OK": True, "Value": value}))


@pytest.fixture(scope="module")
def form_echo(server_pki: ServerPKI) -> Iterator[str]:
    with bare_server(server_pki, [(r"/.*", FormEcho)]) as server:
        yield server.url()


def echoed(url: str, pki: ServerPKI, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("config", client_config(pki))
    result = TornadoClient(url, **kwargs).whoami()
    assert result["OK"], result
    value: dict[str, Any] = result["Value"]
    return value


def test_wire_fields_are_diracs(form_echo: str, server_pki: ServerPKI, proxy_env: None) -> None:
    # Reference 3.1, byte for byte.
    assert echoed(form_echo, server_pki)["body"] == (
        "method=whoami&args=%5B%5D&clientVO=dirac&clientSetup=None"
    )
    host = echoed(form_echo, server_pki, useCertificates=True)["fields"]
    assert ["extraCredentials", '"hosts"'] in host
    delegated = echoed(
        form_echo, server_pki, useCertificates=True, delegatedDN=USER_DN, delegatedGroup="g"
    )["fields"]
    assert ["extraCredentials", f'["{USER_DN}", "g"]'] in delegated
    explicit = echoed(form_echo, server_pki, extraCredentials="hosts", VO="lhcb")["fields"]
    assert ["extraCredentials", '"hosts"'] in explicit
    assert ["clientVO", "lhcb"] in explicit


def test_bearer_token_options(
    form_echo: str,
    server_pki: ServerPKI,
    proxy_env: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert echoed(form_echo, server_pki)["authorization"] is None
    client = TornadoClient(form_echo, token="tok-1", config=client_config(server_pki))
    result = client.whoami()
    assert result["Value"]["authorization"] == "Bearer tok-1"
    assert "tok-1" not in repr(result["rpcStub"]) + repr(client)
    token_file = tmp_path / "token"
    token_file.write_text("tok-2\n")
    assert echoed(form_echo, server_pki, token_file=str(token_file))["authorization"] == (
        "Bearer tok-2"
    )
    monkeypatch.setenv("BEARER_TOKEN_FILE", str(token_file))
    assert echoed(form_echo, server_pki, useAccessToken=True)["authorization"] == "Bearer tok-2"
    monkeypatch.setenv("BEARER_TOKEN", "tok-3")
    assert echoed(form_echo, server_pki, useAccessToken=True)["authorization"] == "Bearer tok-3"


def test_missing_token_file_is_an_s_error(server_pki: ServerPKI, tmp_path: Path) -> None:
    client = TornadoClient(
        "https://127.0.0.1:1/A/B",
        token_file=str(tmp_path / "none"),
        config=client_config(server_pki),
    )
    result = client.ping()
    assert result["OK"] is False
    assert "cannot read the token file" in result["Message"]


def test_skip_ca_check_is_unsafe_but_works(
    dummy_server: LiveServer, server_pki: ServerPKI, isolated_env: None, tmp_path: Path
) -> None:
    # A CA directory that does not hold the server's CA: verification must fail...
    other_ca, other_key = make_ca("Unrelated CA", base_dn="/O=Elsewhere")
    write_hashed_ca_dir(tmp_path / "cas", [other_ca], [make_crl(other_ca, other_key)])
    tree = client_config(server_pki)
    tree.set_option("/DIRAC/Security/CALocation", str(tmp_path / "cas"))
    url = dummy_server.url(DUMMY)
    proxy = str(server_pki.proxy.cert)
    refused = TornadoClient(url, proxyLocation=proxy, config=tree).ping()
    assert refused["OK"] is False
    assert "certificate verify failed" in refused["Message"]
    # ... unless told not to check, which urllib3 warns about on every request.
    with pytest.warns(urllib3.exceptions.InsecureRequestWarning):
        result = TornadoClient(url, proxyLocation=proxy, config=tree, skipCACheck=True).echo(1)
    assert result["Value"] == 1


def test_one_client_shared_by_many_threads(dummy_server: LiveServer, proxy_env: None) -> None:
    client = TornadoClient(dummy_server.url(DUMMY))
    errors: list[str] = []

    def work(worker: int) -> None:
        for index in range(10):
            result = client.add(worker, index)
            if result.get("Value") != worker + index:
                errors.append(f"{worker}+{index}: {result}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []


class ConnectionId(RequestHandler):
    """Answers which TLS connection (by its client port) carried the request."""

    def post(self) -> None:
        self.set_header("Content-Type", "application/json")
        port = self.request.connection.stream.socket.getpeername()[1]  # type: ignore[union-attr]
        self.finish(encode({"OK": True, "Value": port}))


def test_keep_alive_connections_are_reused(server_pki: ServerPKI, proxy_env: None) -> None:
    with bare_server(server_pki, [(r"/.*", ConnectionId)]) as server:
        client = TornadoClient(server.url())
        ports = {client.which()["Value"] for _ in range(20)}
        assert len(ports) == 1
        seen: set[int] = set()
        lock = threading.Lock()

        def work() -> None:
            for _ in range(10):
                port = client.which()["Value"]
                with lock:
                    seen.add(port)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        # At most one connection per concurrent thread (plus the first one), all kept alive.
        assert 1 <= len(seen) <= 9
        client.close()
