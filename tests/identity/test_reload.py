"""reload_server_context: new CRLs need a new context; unusable files keep the old one."""

from __future__ import annotations

import datetime as dt
import shutil
import ssl
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.identity.conftest import Credential, KeyPool, Pki, write_credential
from tests.identity.handshake import connect, serving
from tests.identity.test_tls import accepted, client_for, refused
from tornadoservice.identity.cadir import subject_hash, write_hashed_ca_dir
from tornadoservice.identity.pem import write_certificates, write_private_key
from tornadoservice.identity.pki import make_crl, make_host_cert, make_user_cert
from tornadoservice.identity.tls import reload_server_context, server_ssl_context


@dataclass
class Site:
    """A service's own copy of the CA directory and credentials, free to be changed."""

    ca_dir: Path
    cert: Path
    key: Path
    user: Credential

    def context(self) -> ssl.SSLContext:
        return server_ssl_context(self.cert, self.key, self.ca_dir)

    def reload(self, previous: ssl.SSLContext) -> tuple[ssl.SSLContext, str | None]:
        return reload_server_context(previous, self.cert, self.key, self.ca_dir)


@pytest.fixture
def site(pki: Pki, keys: KeyPool, tmp_path: Path) -> Site:
    ca_dir = tmp_path / "certificates"
    write_hashed_ca_dir(ca_dir, [pki.ca], [make_crl(pki.ca, pki.ca_key)])
    cert, key = make_user_cert(
        pki.ca, pki.ca_key, "/C=ch/O=DIRAC/OU=DIRAC CI/CN=soon-revoked", key=keys.next()
    )
    user = write_credential(tmp_path, "soon-revoked", [cert], key)
    return Site(ca_dir, pki.root / "hostcert.pem", pki.root / "hostkey.pem", user)


def user_is_accepted(pki: Pki, context: ssl.SSLContext, user: Credential) -> bool:
    with serving(context) as server:
        client = connect(server, client_for(pki, user))
        if client.error is None:
            accepted(server, client)
            return True
        refused(server, client, "certificate revoked")
        return False


def test_a_crl_updated_in_place_needs_a_new_context(pki: Pki, site: Site) -> None:
    old = site.context()
    assert user_is_accepted(pki, old, site.user)  # the old context has now read the CRL

    revoking = make_crl(pki.ca, pki.ca_key, [site.user.cert.serial_number], number=2)
    write_hashed_ca_dir(site.ca_dir, [pki.ca], [revoking])

    # The pitfall: the live context keeps the CRL it cached and still lets the user in.
    assert user_is_accepted(pki, old, site.user)
    new, reason = site.reload(old)
    assert reason is None
    assert new is not old
    assert not user_is_accepted(pki, new, site.user)


def test_a_missing_ca_dir_keeps_the_previous_context(pki: Pki, site: Site) -> None:
    old = site.context()
    shutil.rmtree(site.ca_dir)
    kept, reason = site.reload(old)
    assert kept is old
    assert reason is not None and "does not exist" in reason


def test_a_ca_dir_without_cas_keeps_the_previous_context(pki: Pki, site: Site) -> None:
    old = site.context()
    for entry in site.ca_dir.iterdir():
        entry.unlink()
    kept, reason = site.reload(old)
    assert kept is old
    assert reason is not None and "holds no CA certificate" in reason


def test_a_broken_crl_keeps_the_previous_context(pki: Pki, site: Site) -> None:
    old = site.context()
    # A running service has used its context, which has read and cached the good CRL. (One
    # that never needed this CA's CRL would read the broken file: OpenSSL loads them lazily.)
    assert user_is_accepted(pki, old, site.user)
    crl_file = site.ca_dir / f"{subject_hash(pki.ca.subject)}.r0"
    crl_file.write_text("-----BEGIN X509 CRL-----\ntruncated download\n")
    kept, reason = site.reload(old)
    assert kept is old
    assert reason is not None and crl_file.name in reason
    # The context kept still serves the user.
    assert user_is_accepted(pki, kept, site.user)


def test_a_key_that_does_not_match_keeps_the_previous_context(pki: Pki, site: Site) -> None:
    old = site.context()
    kept, reason = reload_server_context(old, site.cert, pki.user.path, site.ca_dir)
    assert kept is old
    assert reason is not None and "does not belong to the certificate" in reason


def test_a_renewed_host_certificate_is_picked_up(pki: Pki, site: Site, keys: KeyPool) -> None:
    old = site.context()
    renewed, key = make_host_cert(
        pki.ca,
        pki.ca_key,
        "localhost",
        base_dn="/C=ch/O=DIRAC/OU=Renewed",
        dns_names=["localhost"],
        key=keys.next(),
        not_after=dt.datetime.now(dt.UTC) + dt.timedelta(days=400),
    )
    site.cert, site.key = (
        site.cert.parent / "renewed-cert.pem",
        site.cert.parent / "renewed-key.pem",
    )
    write_certificates(site.cert, renewed)
    write_private_key(site.key, key)
    new, reason = site.reload(old)
    assert reason is None
    with serving(new) as server:
        client = connect(server, client_for(pki, site.user))
        accepted(server, client)
    assert client.peer_chain[0].startswith("CN=localhost,OU=Renewed")
