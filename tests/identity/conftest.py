"""Shared TLS material for the identity tests, made once per session (RSA keys are slow)."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tornadoservice.identity.cadir import write_hashed_ca_dir
from tornadoservice.identity.dn import parse_dirac_dn
from tornadoservice.identity.pem import PrivateKey, write_certificates, write_private_key
from tornadoservice.identity.pki import make_ca, make_crl, make_host_cert, make_user_cert
from tornadoservice.identity.proxy import make_proxy, write_proxy_file

USER_DN = "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser"
REVOKED_DN = "/C=ch/O=DIRAC/OU=DIRAC CI/CN=revoked"


class KeyPool:
    """Pre-generated RSA-2048 keys handed out in turn: a key may certify several test certs
    (fine for tests); a test taking at most ``size`` keys gets distinct ones."""

    def __init__(self, size: int) -> None:
        self._keys = [
            rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(size)
        ]
        self._cycle = itertools.cycle(self._keys)

    def next(self) -> rsa.RSAPrivateKey:
        return next(self._cycle)


@pytest.fixture(scope="session")
def keys() -> KeyPool:
    return KeyPool(6)


@pytest.fixture(scope="session")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass
class Credential:
    """A certificate chain (leaf first, without the root CA) and its key, plus files for it."""

    chain: list[x509.Certificate]
    key: PrivateKey
    path: Path
    """A PEM file with leaf, key, rest of chain (a proxy file; for a certificate, cert + key)."""

    @property
    def cert(self) -> x509.Certificate:
        return self.chain[0]


@dataclass
class Pki:
    root: Path
    ca: x509.Certificate
    ca_key: PrivateKey
    ca_dir: Path
    """Hashed: the CA and its CRL, which revokes the ``revoked`` user."""
    host: Credential
    user: Credential
    revoked: Credential
    other_ca: x509.Certificate
    other_ca_key: PrivateKey
    other_ca_dir: Path
    """Hashed: only ``other_ca``, without a CRL (revocation is not checked)."""
    stranger: Credential
    """A user of ``other_ca``, unknown to ``ca_dir``."""

    def proxy(
        self,
        issuer: Credential,
        name: str,
        keys: KeyPool,
        *,
        group: str | None = None,
        limited: bool = False,
        independent: bool = False,
        not_after: dt.datetime | None = None,
    ) -> Credential:
        cert, key = make_proxy(
            issuer.cert,
            issuer.key,
            issuer.chain[1:],
            group=group,
            limited=limited,
            independent=independent,
            key=keys.next(),
            not_after=not_after,
        )
        return write_credential(self.root, name, [cert, *issuer.chain], key)


def write_credential(
    root: Path, name: str, chain: list[x509.Certificate], key: PrivateKey
) -> Credential:
    """Write ``<name>.pem`` in DIRAC's proxy file order (leaf, key, rest of the chain)."""
    path = root / f"{name}.pem"
    write_proxy_file(path, chain[0], key, chain[1:])
    return Credential(chain, key, path)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    # Keys of its own, so that no test certificate made from the shared pool has a CA's or a
    # user's key by chance.
    keys = KeyPool(6)
    ca, ca_key = make_ca("DIRAC CI Signing Certification Authority", key=keys.next())
    other_ca, other_ca_key = make_ca("Somebody Else's CA", base_dn="/O=Elsewhere", key=keys.next())

    host_cert, host_key = make_host_cert(
        ca,
        ca_key,
        "localhost",
        dns_names=["localhost"],
        ip_addresses=["127.0.0.1"],
        key=keys.next(),
    )
    write_certificates(root / "hostcert.pem", host_cert)
    write_private_key(root / "hostkey.pem", host_key)
    user_cert, user_key = make_user_cert(ca, ca_key, USER_DN, key=keys.next())
    revoked_cert, revoked_key = make_user_cert(ca, ca_key, REVOKED_DN, key=keys.next())
    stranger_cert, stranger_key = make_user_cert(
        other_ca, other_ca_key, "/O=Elsewhere/CN=stranger", key=keys.next()
    )
    crl = make_crl(ca, ca_key, [revoked_cert.serial_number])
    ca_dir = root / "certificates"
    write_hashed_ca_dir(ca_dir, [ca], [crl])
    other_ca_dir = root / "other-certificates"
    write_hashed_ca_dir(other_ca_dir, [other_ca])
    return Pki(
        root=root,
        ca=ca,
        ca_key=ca_key,
        ca_dir=ca_dir,
        host=Credential([host_cert], host_key, root / "hostcert.pem"),
        user=write_credential(root, "user", [user_cert], user_key),
        revoked=write_credential(root, "revoked", [revoked_cert], revoked_key),
        other_ca=other_ca,
        other_ca_key=other_ca_key,
        other_ca_dir=other_ca_dir,
        stranger=write_credential(root, "stranger", [stranger_cert], stranger_key),
    )


def legacy_proxy(
    pki: Pki, keys: KeyPool, common_name: str, *, issuer_name: str | None = None
) -> tuple[x509.Certificate, PrivateKey]:
    """A pre-RFC (Globus GT2) proxy of the CI user: ``<user DN>/CN=<common_name>``, no
    proxyCertInfo. ``issuer_name`` overrides the issuer field (to break the naming rule)."""
    subject = x509.Name(
        [
            *pki.user.cert.subject.rdns,
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    issuer = pki.user.cert.subject if issuer_name is None else parse_dirac_dn(issuer_name)
    key = keys.next()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .sign(pki.user.key, hashes.SHA256())
    )
    return cert, key


@pytest.fixture(scope="session")
def user_proxy(pki: Pki, keys: KeyPool) -> Credential:
    """A ``dirac-proxy-init -g dirac_user`` style proxy of the CI user."""
    return pki.proxy(pki.user, "proxy", keys, group="dirac_user")
