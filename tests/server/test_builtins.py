"""ping, echo, whoami and the accessors, compared with what DIRAC answers (reference 5.1, 5.2)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable

import pytest
import requests

from tests.conftest import DUMMY
from tests.support.live_server import LiveServer
from tests.support.pki import CA_DN, HOST_DN, USER_DN, ClientCred, ServerPKI
from tornadoservice.wire.jencode import decode

Sessions = Callable[[ClientCred | None], requests.Session]

# Reference 5.2, with the values that depend on the certificates made for this run as patterns.
PROXY_WHOAMI = (
    '{"OK": true, "Value": {"subject": "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser/CN=<serial>", '
    '"issuer": "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser", "secondsLeft": <seconds>, "isProxy": true, '
    '"isLimitedProxy": <limited>, "validDN": false, "validGroup": false, '
    '"DN": "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser", "identity": "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser", '
    '"group": "dirac_user", "VO": "dirac", "properties": ["NormalUser"], "username": "ciuser"}}'
)
USER_WHOAMI = (
    '{"OK": true, "Value": {"subject": "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser", '
    '"issuer": "/O=DIRAC CI/CN=DIRAC CI Signing Certification Authority", "secondsLeft": <seconds>, '
    '"isProxy": false, "isLimitedProxy": false, "validDN": false, "validGroup": false, '
    '"DN": "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser", "properties": ["NormalUser"], '
    '"group": "dirac_user", "username": "ciuser"}}'
)
HOST_WHOAMI = (
    '{"OK": true, "Value": {"subject": "/C=ch/O=DIRAC/OU=DIRAC CI/CN=localhost", '
    '"issuer": "/O=DIRAC CI/CN=DIRAC CI Signing Certification Authority", "secondsLeft": <seconds>, '
    '"isProxy": false, "isLimitedProxy": false, "validDN": false, "validGroup": false, '
    '"DN": "/C=ch/O=DIRAC/OU=DIRAC CI/CN=localhost", "extraCredentials": "hosts", '
    '"properties": ["TrustedHost", "CSAdministrator", "JobAdministrator", "FullDelegation", '
    '"ProxyManagement", "Operator"], "group": "hosts", "username": "localhost"}}'
)
FORWARDED_WHOAMI = (
    '{"OK": true, "Value": {"subject": "/C=ch/O=DIRAC/OU=DIRAC CI/CN=localhost", '
    '"issuer": "/O=DIRAC CI/CN=DIRAC CI Signing Certification Authority", "secondsLeft": <seconds>, '
    '"isProxy": false, "isLimitedProxy": false, "validDN": false, "validGroup": false, '
    '"DN": "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser", "properties": ["NormalUser"], '
    '"group": "dirac_user", "username": "ciuser"}}'
)


def as_pattern(template: str) -> re.Pattern[str]:
    escaped = re.escape(template)
    for placeholder, regex in (("<serial>", r"\d+"), ("<seconds>", r"\d+"), ("<limited>", r"\w+")):
        escaped = escaped.replace(re.escape(placeholder), regex)
    return re.compile(escaped)


def whoami(session: requests.Session, server: LiveServer, **extra: str) -> str:
    response = session.post(server.url(DUMMY), data={"method": "whoami", **extra}, timeout=30)
    assert response.status_code == 200, response.text
    return response.text


def test_whoami_with_a_proxy_matches_dirac(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    body = whoami(session_for(server_pki.proxy), dummy_server)
    assert as_pattern(PROXY_WHOAMI.replace("<limited>", "false")).fullmatch(body), body
    seconds = json.loads(body)["Value"]["secondsLeft"]
    assert 23 * 3600 < seconds <= 24 * 3600  # the proxy lives 24 h


def test_whoami_with_a_limited_proxy(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    body = whoami(session_for(server_pki.limited_proxy), dummy_server)
    assert as_pattern(PROXY_WHOAMI.replace("<limited>", "true")).fullmatch(body), body


def test_whoami_with_a_user_certificate_matches_dirac(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    body = whoami(session_for(server_pki.user), dummy_server)
    assert as_pattern(USER_WHOAMI).fullmatch(body), body


def test_whoami_of_a_host_acting_as_host_matches_dirac(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    body = whoami(session_for(server_pki.host), dummy_server, extraCredentials='"hosts"')
    assert as_pattern(HOST_WHOAMI).fullmatch(body), body


def test_whoami_of_a_forwarded_user_matches_dirac(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    forwarded = json.dumps([USER_DN, "dirac_user"])
    body = whoami(session_for(server_pki.host), dummy_server, extraCredentials=forwarded)
    assert as_pattern(FORWARDED_WHOAMI).fullmatch(body), body


def test_ping_has_dirac_keys_and_types(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    response = session_for(server_pki.proxy).post(
        dummy_server.url(DUMMY), data={"method": "ping"}, timeout=30
    )
    value = decode(response.text)[0]["Value"]
    assert list(value) == [
        "version",
        "time",
        "host uptime",
        "service start time",
        "service uptime",
        "load",
        "name",
        "URL",
        "cpu times",
    ]
    assert isinstance(value["time"], dt.datetime)
    assert isinstance(value["service start time"], dt.datetime)
    assert value["service start time"] <= value["time"]
    assert value["name"] == DUMMY
    assert value["URL"] == f"https://127.0.0.1:{dummy_server.port}/{DUMMY}"
    assert re.fullmatch(r"\d+\.\d\d \d+\.\d\d \d+\.\d\d", value["load"])
    assert set(value["cpu times"]) == {
        "user time",
        "system time",
        "children user time",
        "children system time",
        "elapsed real time",
    }


@pytest.mark.parametrize("payload", ["hello", [1, "two", None], {"k": [1.5]}])
def test_echo_returns_its_argument(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI, payload: object
) -> None:
    response = session_for(server_pki.proxy).post(
        dummy_server.url(DUMMY), data={"method": "echo", "args": json.dumps([payload])}, timeout=30
    )
    assert json.loads(response.text) == {"OK": True, "Value": payload}


def test_accessors(dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI) -> None:
    response = session_for(server_pki.proxy).post(
        dummy_server.url(DUMMY), data={"method": "whereAmI"}, timeout=30
    )
    value = json.loads(response.text)["Value"]
    ip, port = value["address"]
    assert ip == "127.0.0.1" and port > 0
    assert value["formatted"] == f"(127.0.0.1:{port})[dirac_user:ciuser]"
    assert value["service"] == DUMMY
    assert value["url"].endswith(f":{dummy_server.port}/{DUMMY}")
    assert value["option"] == "hello"
    assert value["absolute"] == "dirac"
    assert value["registered"] is True
    assert value["thread_matches"] is True


def test_dn_constants_are_what_the_pki_made(server_pki: ServerPKI) -> None:
    from tornadoservice.identity.dn import dirac_dn
    from tornadoservice.identity.pem import load_pem_chain

    host, _ = load_pem_chain(server_pki.host_cert)
    assert dirac_dn(host[0].subject) == HOST_DN
    assert dirac_dn(host[0].issuer) == CA_DN
