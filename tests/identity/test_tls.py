"""Real TLS handshakes on 127.0.0.1 between server_ssl_context and client_ssl_context."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.identity.conftest import (
    USER_DN,
    Credential,
    KeyPool,
    Pki,
    legacy_proxy,
    write_credential,
)
from tests.identity.handshake import ClientSide, HandshakeServer, ServerSide, connect, serving
from tornadoservice.identity.cadir import write_hashed_ca_dir
from tornadoservice.identity.pki import make_ca, make_crl, make_user_cert
from tornadoservice.identity.tls import (
    PeerChainError,
    TLSConfigError,
    client_ssl_context,
    peer_chain,
    server_ssl_context,
)


@pytest.fixture(scope="module")
def server_context(pki: Pki) -> ssl.SSLContext:
    return server_ssl_context(pki.root / "hostcert.pem", pki.root / "hostkey.pem", pki.ca_dir)


@pytest.fixture
def server(server_context: ssl.SSLContext) -> Iterator[HandshakeServer]:
    with serving(server_context) as running:
        yield running


def client_for(pki: Pki, credential: Credential | None = None) -> ssl.SSLContext:
    return client_ssl_context(pki.ca_dir, None if credential is None else credential.path)


def accepted(server: HandshakeServer, client: ClientSide) -> dict[str, object]:
    seen = server.next_seen()
    assert seen.error is None, seen.error
    assert client.error is None, client.error
    assert client.report == seen.report
    assert client.report is not None
    return client.report


def refused(server: HandshakeServer, client: ClientSide, reason: str) -> ServerSide:
    seen = server.next_seen()
    assert client.report is None
    assert isinstance(client.error, ssl.SSLError | ConnectionError | EOFError), client.error
    assert seen.error is not None and reason in seen.error, seen.error
    return seen


# --- accepted callers ---------------------------------------------------------------------


def test_user_certificate_is_accepted_and_parsed(pki: Pki, server: HandshakeServer) -> None:
    client = connect(server, client_for(pki, pki.user))
    report = accepted(server, client)
    identity = report["identity"]
    assert identity == {
        "subject": USER_DN,
        "issuer": "/O=DIRAC CI/CN=DIRAC CI Signing Certification Authority",
        "dn": USER_DN,
        "is_proxy": False,
        "is_limited_proxy": False,
        "group": None,
        "seconds_left": identity["seconds_left"],
    }
    # The verified chain ends with the trusted CA, which the client did not send.
    assert report["chain"] == [
        pki.user.cert.subject.rfc4514_string(),
        pki.ca.subject.rfc4514_string(),
    ]
    # ... and the client verified the server against the same CA directory.
    assert client.peer_chain == [
        pki.host.cert.subject.rfc4514_string(),
        pki.ca.subject.rfc4514_string(),
    ]


def test_rfc3820_proxy_is_accepted_with_its_group(
    pki: Pki, server: HandshakeServer, user_proxy: Credential
) -> None:
    report = accepted(server, connect(server, client_for(pki, user_proxy)))
    identity = report["identity"]
    assert isinstance(identity, dict)
    assert identity["subject"] == f"{USER_DN}/CN={user_proxy.cert.serial_number}"
    assert identity["issuer"] == USER_DN
    assert identity["dn"] == USER_DN
    assert identity["is_proxy"] is True
    assert identity["is_limited_proxy"] is False
    assert identity["group"] == "dirac_user"
    assert 0 < identity["seconds_left"] <= 24 * 3600


def test_limited_proxy_is_accepted_and_flagged(
    pki: Pki, server: HandshakeServer, keys: KeyPool
) -> None:
    limited = pki.proxy(pki.user, "limited", keys, group="dirac_user", limited=True)
    identity = accepted(server, connect(server, client_for(pki, limited)))["identity"]
    assert isinstance(identity, dict)
    assert identity["is_limited_proxy"] is True
    assert identity["dn"] == USER_DN


def test_proxy_of_a_proxy_is_accepted(
    pki: Pki, server: HandshakeServer, keys: KeyPool, user_proxy: Credential
) -> None:
    second = pki.proxy(user_proxy, "proxy2", keys, group="other_group")
    report = accepted(server, connect(server, client_for(pki, second)))
    identity = report["identity"]
    assert isinstance(identity, dict)
    assert identity["dn"] == USER_DN
    assert identity["issuer"] == f"{USER_DN}/CN={user_proxy.cert.serial_number}"
    # DIRAC's rule: the group chosen when the user made the first proxy stays.
    assert identity["group"] == "dirac_user"
    assert len(report["chain"]) == 4


def test_independent_proxy_does_not_inherit_the_user_identity(
    pki: Pki, server: HandshakeServer, keys: KeyPool
) -> None:
    independent = pki.proxy(pki.user, "independent", keys, independent=True)
    identity = accepted(server, connect(server, client_for(pki, independent)))["identity"]
    assert isinstance(identity, dict)
    assert identity["is_proxy"] is True
    assert identity["dn"] == identity["subject"] != USER_DN


def test_host_certificate_is_accepted_as_a_client(pki: Pki, server: HandshakeServer) -> None:
    client_context = client_ssl_context(pki.ca_dir, pki.host.path, pki.root / "hostkey.pem")
    identity = accepted(server, connect(server, client_context))["identity"]
    assert isinstance(identity, dict)
    assert identity["dn"] == "/C=ch/O=DIRAC/OU=DIRAC CI/CN=localhost"


def test_no_client_certificate_completes_with_an_empty_chain(
    pki: Pki, server: HandshakeServer
) -> None:
    report = accepted(server, connect(server, client_for(pki)))
    assert report["chain"] == []
    assert report["identity"] is None


# --- refused callers ----------------------------------------------------------------------


def test_expired_user_certificate_is_refused(
    pki: Pki, server: HandshakeServer, keys: KeyPool
) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    cert, key = make_user_cert(
        pki.ca,
        pki.ca_key,
        "/C=ch/O=DIRAC/OU=DIRAC CI/CN=expired",
        key=keys.next(),
        not_before=past - dt.timedelta(days=30),
        not_after=past,
    )
    expired = write_credential(pki.root, "expired", [cert], key)
    refused(server, connect(server, client_for(pki, expired)), "certificate has expired")


def test_expired_proxy_is_refused(pki: Pki, server: HandshakeServer, keys: KeyPool) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    expired = pki.proxy(pki.user, "expired-proxy", keys, not_after=past)
    refused(server, connect(server, client_for(pki, expired)), "certificate has expired")


def test_unknown_ca_is_refused(pki: Pki, server: HandshakeServer) -> None:
    refused(
        server,
        connect(server, client_for(pki, pki.stranger)),
        "unable to get local issuer certificate",
    )


def test_revoked_user_is_refused(pki: Pki, server: HandshakeServer) -> None:
    refused(server, connect(server, client_for(pki, pki.revoked)), "certificate revoked")


def test_proxy_of_a_revoked_user_is_refused(
    pki: Pki, server: HandshakeServer, keys: KeyPool
) -> None:
    # OpenSSL never checks a proxy against a CRL: only CRL_CHECK_CHAIN looks at the user cert.
    proxy = pki.proxy(pki.revoked, "revoked-proxy", keys, group="dirac_user")
    refused(server, connect(server, client_for(pki, proxy)), "certificate revoked")


def test_proxy_sent_without_its_user_certificate_is_refused(
    pki: Pki, server: HandshakeServer, user_proxy: Credential
) -> None:
    alone = write_credential(pki.root, "proxy-alone", [user_proxy.cert], user_proxy.key)
    refused(
        server,
        connect(server, client_for(pki, alone)),
        "unable to get local issuer certificate",
    )


def test_legacy_globus_proxy_is_refused_by_openssl(
    pki: Pki, server: HandshakeServer, keys: KeyPool
) -> None:
    legacy, key = legacy_proxy(pki, keys, "proxy")
    credential = write_credential(pki.root, "legacy", [legacy, pki.user.cert], key)
    refused(server, connect(server, client_for(pki, credential)), "invalid CA certificate")


def test_1024_bit_proxy_is_refused(pki: Pki, server: HandshakeServer, tmp_path: Path) -> None:
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    from tornadoservice.identity.proxy import make_proxy

    cert, key = make_proxy(pki.user.cert, pki.user.key, key=weak_key)
    weak = write_credential(tmp_path, "weak", [cert, pki.user.cert], key)
    with pytest.raises(TLSConfigError, match="1024-bit RSA"):
        client_for(pki, weak)
    # Sent anyway, by a client that lowered its own security level, the server refuses it.
    legacy_client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    legacy_client.set_ciphers("DEFAULT:@SECLEVEL=0")
    legacy_client.load_verify_locations(capath=os.fspath(pki.ca_dir))
    legacy_client.load_cert_chain(weak.path)
    refused(server, connect(server, legacy_client), "key too weak")


# --- revocation policy --------------------------------------------------------------------


def test_crl_checking_fails_closed_for_a_ca_without_crl(
    pki: Pki, tmp_path: Path, keys: KeyPool
) -> None:
    ca_dir = tmp_path / "mixed"
    write_hashed_ca_dir(ca_dir, [pki.ca, pki.other_ca], [make_crl(pki.ca, pki.ca_key)])
    context = server_ssl_context(pki.root / "hostcert.pem", pki.root / "hostkey.pem", ca_dir)
    with serving(context) as server:
        client = client_ssl_context(pki.ca_dir, pki.stranger.path)
        refused(server, connect(server, client), "unable to get certificate CRL")
        accepted(server, connect(server, client_for(pki, pki.user)))


def test_expired_crl_refuses_its_users(pki: Pki, tmp_path: Path) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    stale = make_crl(pki.ca, pki.ca_key, last_update=past - dt.timedelta(days=1), next_update=past)
    ca_dir = tmp_path / "stale"
    write_hashed_ca_dir(ca_dir, [pki.ca], [stale])
    context = server_ssl_context(pki.root / "hostcert.pem", pki.root / "hostkey.pem", ca_dir)
    with serving(context) as server:
        refused(server, connect(server, client_for(pki, pki.user)), "CRL has expired")


def test_without_crl_check_a_revoked_user_gets_through(pki: Pki) -> None:
    context = server_ssl_context(
        pki.root / "hostcert.pem", pki.root / "hostkey.pem", pki.ca_dir, crl_check=False
    )
    with serving(context) as server:
        accepted(server, connect(server, client_for(pki, pki.revoked)))


def test_crl_problems_are_logged(
    pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    stale = make_crl(pki.ca, pki.ca_key, last_update=past - dt.timedelta(days=1), next_update=past)
    ca_dir = tmp_path / "report"
    write_hashed_ca_dir(ca_dir, [pki.ca, pki.other_ca], [stale])
    (ca_dir / "0badf00d.0").write_text("not a certificate")
    with caplog.at_level(logging.WARNING, logger="tornadoservice.identity.tls"):
        server_ssl_context(pki.root / "hostcert.pem", pki.root / "hostkey.pem", ca_dir)
    messages = caplog.text
    assert "CA /O=Elsewhere/CN=Somebody Else's CA has no CRL" in messages
    assert "has expired" in messages
    assert "0badf00d.0" in messages
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tornadoservice.identity.tls"):
        server_ssl_context(pki.root / "hostcert.pem", pki.root / "hostkey.pem", pki.other_ca_dir)
    assert "holds no CRL: revoked certificates are accepted" in caplog.text


# --- session resumption -------------------------------------------------------------------


def test_tls13_sessions_are_not_resumed(pki: Pki, server: HandshakeServer) -> None:
    context = client_for(pki, pki.user)
    first = connect(server, context)
    accepted(server, first)
    assert first.session is not None
    second = connect(server, context, session=first.session)
    report = accepted(server, second)
    assert report["version"] == "TLSv1.3"
    assert report["reused"] is False
    assert len(report["chain"]) == 2


def test_a_resumed_tls12_session_fails_instead_of_losing_the_chain(
    pki: Pki, server: HandshakeServer
) -> None:
    # Python cannot switch off OpenSSL's TLS 1.2 session-ID cache; a client that resumes must
    # not become anonymous.
    context = client_for(pki, pki.user)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    first = connect(server, context)
    assert accepted(server, first)["version"] == "TLSv1.2"
    second = connect(server, context, session=first.session)
    report = accepted(server, second)
    assert report["reused"] is True
    assert "resumed TLS session" in str(report["peer_chain_error"])


def test_tls13_minimum_rules_out_tls12(pki: Pki) -> None:
    context = server_ssl_context(
        pki.root / "hostcert.pem",
        pki.root / "hostkey.pem",
        pki.ca_dir,
        minimum_version=ssl.TLSVersion.TLSv1_3,
    )
    with serving(context) as server:
        client = client_for(pki, pki.user)
        client.maximum_version = ssl.TLSVersion.TLSv1_2
        result = connect(server, client)
        assert result.error is not None
        assert server.next_seen().error is not None


def test_server_context_settings(server_context: ssl.SSLContext) -> None:
    assert server_context.verify_mode == ssl.CERT_OPTIONAL
    assert server_context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert server_context.num_tickets == 0
    assert server_context.options & ssl.OP_NO_RENEGOTIATION
    assert server_context.options & ssl.OP_NO_TICKET
    flags = server_context.verify_flags
    assert flags & ssl.VERIFY_ALLOW_PROXY_CERTS
    assert flags & ssl.VERIFY_CRL_CHECK_CHAIN == ssl.VERIFY_CRL_CHECK_CHAIN
    assert not flags & ssl.VERIFY_X509_STRICT
    assert not flags & ssl.VERIFY_X509_PARTIAL_CHAIN


# --- the client side ----------------------------------------------------------------------


def test_client_checks_the_server_host_name(pki: Pki, server: HandshakeServer) -> None:
    result = connect(server, client_for(pki), hostname="elsewhere.example")
    assert isinstance(result.error, ssl.SSLCertVerificationError)
    assert "Hostname mismatch" in str(result.error)
    server.next_seen()


def test_client_refuses_a_server_from_another_ca(pki: Pki, server: HandshakeServer) -> None:
    result = connect(server, client_ssl_context(pki.other_ca_dir))
    assert isinstance(result.error, ssl.SSLCertVerificationError)
    server.next_seen()


def test_client_without_ca_dir_uses_the_system_store(pki: Pki, server: HandshakeServer) -> None:
    result = connect(server, client_ssl_context())
    assert isinstance(result.error, ssl.SSLCertVerificationError)
    server.next_seen()


# --- peer_chain on its own ----------------------------------------------------------------


def test_peer_chain_refuses_a_context_that_does_not_verify(pki: Pki) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO())
    with pytest.raises(PeerChainError, match="does not verify"):
        peer_chain(connection)


def test_peer_chain_before_the_handshake(pki: Pki) -> None:
    connection = client_for(pki).wrap_bio(
        ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="localhost"
    )
    with pytest.raises(PeerChainError, match="no completed TLS handshake"):
        peer_chain(connection)


def test_peer_chain_after_close(pki: Pki, server: HandshakeServer) -> None:
    raw = socket.create_connection(("127.0.0.1", server.port))
    connection = client_for(pki).wrap_socket(raw, server_hostname="localhost")
    assert len(peer_chain(connection)) == 2
    connection.close()
    with pytest.raises(PeerChainError, match="closed"):
        peer_chain(connection)
    server.next_seen()


class FakeNative:
    def __init__(self, chain: list[bytes] | None) -> None:
        self.chain = chain

    def get_verified_chain(self) -> list[FakeCertificate] | None:
        return None if self.chain is None else [FakeCertificate(der) for der in self.chain]


class FakeCertificate:
    def __init__(self, der: bytes) -> None:
        self.der = der

    def public_bytes(self, encoding: int) -> bytes:
        assert encoding == 2  # DER
        return self.der


class FakeConnection:
    """Stands in for an SSLSocket whose OpenSSL state a real handshake cannot produce."""

    def __init__(self, context: ssl.SSLContext, leaf: bytes, chain: list[bytes] | None) -> None:
        self.context = context
        self.leaf = leaf
        self._sslobj = FakeNative(chain)
        self.session_reused = False

    def getpeercert(self, binary_form: bool) -> bytes:
        return self.leaf


def test_peer_chain_without_a_verified_chain(pki: Pki, server_context: ssl.SSLContext) -> None:
    leaf = pki.user.cert.public_bytes(serialization.Encoding.DER)
    fake = FakeConnection(server_context, leaf, None)
    with pytest.raises(PeerChainError, match=r"there is no verified chain$"):
        peer_chain(fake)


def test_peer_chain_must_start_with_the_peer_certificate(
    pki: Pki, server_context: ssl.SSLContext
) -> None:
    leaf = pki.user.cert.public_bytes(serialization.Encoding.DER)
    other = pki.revoked.cert.public_bytes(serialization.Encoding.DER)
    fake = FakeConnection(server_context, leaf, [other])
    with pytest.raises(PeerChainError, match="does not start with the peer"):
        peer_chain(fake)
    ca = pki.ca.public_bytes(serialization.Encoding.DER)
    assert peer_chain(FakeConnection(server_context, leaf, [leaf, ca])) == [pki.user.cert, pki.ca]


def test_a_ca_rollover_pair_verifies_both_generations(
    pki: Pki, tmp_path: Path, keys: KeyPool
) -> None:
    # Two CAs with the same name share a hash: <hash>.0 and <hash>.1 are both searched.
    new_ca, new_ca_key = make_ca("DIRAC CI Signing Certification Authority", key=keys.next())
    cert, key = make_user_cert(
        new_ca, new_ca_key, "/C=ch/O=DIRAC/OU=DIRAC CI/CN=newuser", key=keys.next()
    )
    ca_dir = tmp_path / "rollover"
    written = write_hashed_ca_dir(
        ca_dir, [pki.ca, new_ca], [make_crl(pki.ca, pki.ca_key), make_crl(new_ca, new_ca_key)]
    )
    assert sorted(path.suffix for path in written) == [".0", ".1", ".r0", ".r1"]
    context = server_ssl_context(pki.root / "hostcert.pem", pki.root / "hostkey.pem", ca_dir)
    newcomer = write_credential(tmp_path, "newuser", [cert], key)
    with serving(context) as server:
        accepted(server, connect(server, client_for(pki, newcomer)))
        accepted(server, connect(server, client_for(pki, pki.user)))


def test_peer_chain_from_a_tornado_request(pki: Pki, user_proxy: Credential) -> None:
    """Tornado hands the handler an ``SSLSocket`` at ``request.connection.stream.socket``."""
    import asyncio
    import http.client
    import threading

    import tornado.httpserver
    import tornado.netutil
    import tornado.web

    from tornadoservice.identity.x509 import identity_from_chain

    class WhoAmI(tornado.web.RequestHandler):
        def get(self) -> None:
            stream = self.request.connection.stream
            chain = peer_chain(stream.socket)
            self.write(identity_from_chain(chain).dn if chain else "anonymous")

    context = server_ssl_context(pki.root / "hostcert.pem", pki.root / "hostkey.pem", pki.ca_dir)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    ports: list[int] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        server = tornado.httpserver.HTTPServer(
            tornado.web.Application([("/whoami", WhoAmI)]), ssl_options=context
        )
        listeners = tornado.netutil.bind_sockets(0, "127.0.0.1")
        server.add_sockets(listeners)
        ports.append(listeners[0].getsockname()[1])
        ready.set()
        loop.run_forever()
        server.stop()
        loop.run_until_complete(server.close_all_connections())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        answers = []
        for credential in (user_proxy, None):
            connection = http.client.HTTPSConnection(
                "localhost", ports[0], context=client_for(pki, credential), timeout=10
            )
            connection.request("GET", "/whoami")
            answers.append(connection.getresponse().read().decode())
            connection.close()
        assert answers == [USER_DN, "anonymous"]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
