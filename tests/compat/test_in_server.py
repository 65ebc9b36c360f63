"""compat.dirac inside a running server, over real HTTPS: gConfig, Registry, getServiceOption,
a DISET-style handler, and a service-to-service call by System/Service name."""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.compat.handlers import CallerHandler, ClassicHandler, ConfigReaderHandler
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import HOST_DN, USER_DN, ServerPKI, registry_config
from tornadoservice.client.tornadoclient import TornadoClient
from tornadoservice.compat.dirac import Client, Registry, gConfig
from tornadoservice.config.active import active_config, clear_active
from tornadoservice.config.tree import ConfigTree
from tornadoservice.core.errors import ENOAUTH
from tornadoservice.server.server import TornadoServer

HANDLERS = {
    "Framework/ConfigReader": ConfigReaderHandler,
    "Framework/Classic": ClassicHandler,
    "Framework/Caller": CallerHandler,
}


def _config(pki: ServerPKI, *, use_server_certificate: bool) -> ConfigTree:
    tree: dict[str, Any] = registry_config(pki)
    tree["DIRAC"]["Security"]["UseServerCertificate"] = use_server_certificate
    service = {"Protocol": "https"}
    tree["Systems"] = {
        "Framework": {
            "Services": {
                "ConfigReader": {**service, "MaxItems": "25", "Colours": "red, green"},
                "Classic": service,
                "Caller": service,
            }
        }
    }
    return ConfigTree.from_dict(tree)


@pytest.fixture(scope="module")
def server(server_pki: ServerPKI) -> Iterator[LiveServer]:
    with live_server(_config(server_pki, use_server_certificate=True), HANDLERS) as running:
        # The port is known once listening: the caller finds its peer by this option.
        running.server.config.set_option(
            "/Systems/Framework/URLs/ConfigReader", running.url("Framework/ConfigReader")
        )
        yield running


def _client(pki: ServerPKI, server: LiveServer, service: str) -> TornadoClient:
    config = ConfigTree.from_dict({"DIRAC": {"Security": {"CALocation": str(pki.ca_dir)}}})
    return TornadoClient(server.url(service), config=config, proxyLocation=str(pki.proxy.cert))


def test_handler_reads_gconfig_registry_and_service_options(
    server_pki: ServerPKI, server: LiveServer
) -> None:
    result = _client(server_pki, server, "Framework/ConfigReader").describe()
    assert result["OK"], result
    assert result["Value"] == {
        "maxItems": 25,  # getServiceOption converted it like its default (an int)
        "section": "/Systems/Framework/Services/ConfigReader",
        "colours": ["red", "green"],
        "user": "ciuser",
        "groups": ["dirac_user"],
        "vo": "dirac",
        "isNormalUser": True,
    }


def test_registry_error_reaches_the_client_as_s_error(
    server_pki: ServerPKI, server: LiveServer
) -> None:
    client = _client(server_pki, server, "Framework/ConfigReader")
    assert client.lookup(USER_DN) == {**client.lookup(USER_DN), "OK": True, "Value": "ciuser"}
    refused = client.lookup("/CN=nobody")
    assert not refused["OK"]
    assert refused["Errno"] == ENOAUTH
    assert "No username found for dn /CN=nobody" in refused["Message"]


def test_diset_style_request_handler_is_served(server_pki: ServerPKI, server: LiveServer) -> None:
    result = _client(server_pki, server, "Framework/Classic").hello("world")
    assert result["OK"] and result["Value"] == "hello world"


def test_handler_calls_another_service_with_the_host_certificate(
    server_pki: ServerPKI, server: LiveServer
) -> None:
    # TornadoClient("Framework/ConfigReader") inside the handler: resolved with the server's
    # configuration, and presented as the host (UseServerCertificate = yes).
    result = _client(server_pki, server, "Framework/Caller").callOther()
    assert result["OK"], result
    caller = result["Value"]
    assert caller["DN"] == HOST_DN
    assert caller["group"] == "hosts"
    assert caller["username"] == "localhost"


def test_a_dirac_style_client_subclass_calls_another_service(
    server_pki: ServerPKI, server: LiveServer
) -> None:
    result = _client(server_pki, server, "Framework/Caller").callWithClient()
    assert result["OK"], result
    assert result["Value"]["DN"] == HOST_DN


def test_client_keyword_arguments_and_per_call_overrides(
    server_pki: ServerPKI, server: LiveServer
) -> None:
    config = ConfigTree.from_dict({"DIRAC": {"Security": {"CALocation": str(server_pki.ca_dir)}}})
    client_kwargs = {"config": config, "proxyLocation": str(server_pki.proxy.cert)}
    client = Client(url=server.url("Framework/Classic"), timeout=30, **client_kwargs)
    assert client.getServer() == server.url("Framework/Classic")
    assert client.getClientKWArgs() == client_kwargs
    assert client.timeout == 30
    assert client.hello("you") == {**client.hello("you"), "OK": True, "Value": "hello you"}
    other = Client(**client_kwargs)
    assert other.whoami(url=server.url("Framework/ConfigReader"))["Value"]["username"] == "ciuser"
    rpc = TornadoClient(server.url("Framework/Classic"), **client_kwargs)
    assert other.hello("rpc", rpc=rpc)["Value"] == "hello rpc"
    nowhere = Client().hello("x")
    assert not nowhere["OK"] and nowhere["Errno"] == errno.EINVAL


def test_without_use_server_certificate_the_inner_call_has_no_host_credential(
    server_pki: ServerPKI,
) -> None:
    # The same call fails without the option: the handler has no proxy of its own, so the
    # peer refuses an anonymous whoami. This is what would pass if the option were ignored.
    with live_server(_config(server_pki, use_server_certificate=False), HANDLERS) as running:
        running.server.config.set_option(
            "/Systems/Framework/URLs/ConfigReader", running.url("Framework/ConfigReader")
        )
        result = _client(server_pki, running, "Framework/Caller").callOther()
    # The handler returns the inner call's result: refused, no credential was presented.
    assert not result["OK"]
    assert result["Errno"] == errno.EACCES and "No access to" in result["Message"], result


def test_the_active_configuration_follows_the_server(server_pki: ServerPKI) -> None:
    config = _config(server_pki, use_server_certificate=False)
    before = active_config()
    with live_server(config, HANDLERS):
        assert active_config() is config
        assert gConfig.getValue("/Systems/Framework/Services/ConfigReader/MaxItems", 0) == 25
    assert active_config() is before  # withdrawn when it stopped


def test_gconfig_and_registry_follow_a_configuration_reload(
    server_pki: ServerPKI, tmp_path: Path
) -> None:
    base = _config(server_pki, use_server_certificate=False).as_dict()
    path = tmp_path / "dirac.yaml"
    path.write_text(json.dumps(base))  # JSON is YAML
    server = TornadoServer(ConfigTree.load(path), handlers=HANDLERS, config_files=[path])
    try:
        assert gConfig.getValue("/Systems/Framework/Services/ConfigReader/MaxItems", 0) == 25
        assert Registry.getUsernameForDN(USER_DN)["Value"] == "ciuser"
        base["Systems"]["Framework"]["Services"]["ConfigReader"]["MaxItems"] = "40"
        base["Registry"]["Users"]["renamed"] = base["Registry"]["Users"].pop("ciuser")
        path.write_text(json.dumps(base))
        assert server.reload_config()
        assert gConfig.getValue("/Systems/Framework/Services/ConfigReader/MaxItems", 0) == 40
        assert Registry.getUsernameForDN(USER_DN)["Value"] == "renamed"
    finally:
        clear_active(server)


def test_use_server_certificate_yields_to_credentials_asked_for(
    server_pki: ServerPKI, server: LiveServer
) -> None:
    security = {
        "CALocation": str(server_pki.ca_dir),
        "CertFile": str(server_pki.host_cert),
        "KeyFile": str(server_pki.host_key),
        "UseServerCertificate": "yes",
    }
    config = ConfigTree.from_dict({"DIRAC": {"Security": security}})
    url = server.url("Framework/ConfigReader")
    proxy = str(server_pki.proxy.cert)

    def caller(**kwargs: Any) -> str:
        result = TornadoClient(url, config=config, **kwargs).whoami()
        assert result["OK"], result
        return str(result["Value"]["username"])

    assert caller() == "localhost"  # the option: the host certificate
    assert caller(proxyLocation=proxy) == "ciuser"  # an explicit proxy wins
    assert caller(useCertificates=False, proxyLocation=proxy) == "ciuser"
    assert caller(useCertificates=True) == "localhost"
