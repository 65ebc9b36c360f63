"""Credentials for testing a service: a CA, a host, two users with proxies, and signed tokens.

Everything lives in one folder, made by :func:`make_test_pki`. Private keys are 2048-bit RSA,
as OpenSSL's default security level requires; the user credentials are RFC 3820 proxies with a
DIRAC group, as a real client presents them.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tornadoservice.identity.cadir import write_hashed_ca_dir
from tornadoservice.identity.dn import dirac_dn
from tornadoservice.identity.pem import PrivateKey, write_certificates, write_private_key
from tornadoservice.identity.pki import make_ca, make_crl, make_host_cert, make_user_cert
from tornadoservice.identity.proxy import make_proxy, write_proxy_file

BASE_DN = "/C=ch/O=tornadoservice/OU=test"
USER_GROUP = "test_user"
ADMIN_GROUP = "test_admin"
TOKEN_ISSUER = "https://issuer.tornadoservice.test/"
TOKEN_AUDIENCE = "tornadoservice-test"


@dataclass(frozen=True, slots=True)
class Identity:
    """What a client presents: a proxy file, a certificate and key, or a bearer token."""

    name: str
    proxy: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    token: str | None = None
    dn: str | None = None
    as_host: bool = False
    """Send ``extraCredentials="hosts"``, as DIRAC's clients do with a host certificate."""

    def client_options(self) -> dict[str, Any]:
        """The :class:`~tornadoservice.TornadoClient` keyword arguments for this identity."""
        if self.token is not None:
            return {"token": self.token}
        if self.proxy is not None:
            return {"proxyLocation": str(self.proxy)}
        options: dict[str, Any] = {"cert_file": str(self.cert), "key_file": str(self.key)}
        if self.as_host:
            options["extraCredentials"] = "hosts"
        return options


@dataclass(frozen=True)
class TestPKI:
    """A CA directory, the server's host certificate and the identities that call it.

    ``user`` (alice, group ``test_user``), ``second_user`` (bob, ``test_user``), ``admin``
    (alice in ``test_admin``, which has ``ServiceAdministrator``), ``host`` (the server's own
    certificate, a trusted host) and ``stranger`` (a valid certificate the registry does not
    know: an anonymous visitor). :meth:`user_proxy` and :meth:`token` make more.
    """

    __test__ = False  # not a test class, whatever pytest's name matching thinks

    folder: Path
    ca_dir: Path
    host_cert: Path
    host_key: Path
    jwks_file: Path
    ca: x509.Certificate
    ca_key: PrivateKey
    signing_key: rsa.RSAPrivateKey
    user: Identity
    second_user: Identity
    admin: Identity
    host: Identity
    stranger: Identity

    def user_proxy(self, name: str, *, group: str | None = USER_GROUP) -> Identity:
        """A new user ``/…/CN=<name>`` with a proxy (add the DN to the registry to register it)."""
        return _user(self.folder, self.ca, self.ca_key, name, group)

    def token(
        self,
        subject: str = "alice",
        *,
        lifetime: int = 3600,
        audience: str = TOKEN_AUDIENCE,
        **claims: Any,
    ) -> Identity:
        """A bearer token from the test issuer; the registry maps ``sub`` through users' ``ID``."""
        now = int(time.time())
        payload = {
            "iss": TOKEN_ISSUER,
            "sub": subject,
            "aud": audience,
            "iat": now,
            "exp": now + lifetime,
            "jti": uuid.uuid4().hex,
            **claims,
        }
        signed = jwt.encode(payload, self.signing_key, algorithm="RS256", headers={"kid": "test"})
        return Identity(f"token:{subject}", token=signed)

    def registry(self) -> dict[str, Any]:
        """The default ``/Registry``: alice and bob, two groups, the host, the token issuer."""
        return {
            "DefaultGroup": USER_GROUP,
            "Users": {
                "alice": {"DN": self.user.dn, "ID": "alice"},
                "bob": {"DN": self.second_user.dn, "ID": "bob"},
            },
            "Groups": {
                USER_GROUP: {"Users": "alice, bob", "Properties": "NormalUser", "VO": "test"},
                ADMIN_GROUP: {"Users": "alice", "Properties": "ServiceAdministrator", "VO": "test"},
            },
            "Hosts": {"localhost": {"DN": self.host.dn, "Properties": "TrustedHost"}},
            "TokenIssuers": {
                "test": {
                    "Issuer": TOKEN_ISSUER,
                    "JWKSFile": str(self.jwks_file),
                    "Audience": TOKEN_AUDIENCE,
                    "Algorithms": "RS256",
                }
            },
        }

    def security(self) -> dict[str, str]:
        """``/DIRAC/Security`` for the server."""
        return {
            "CertFile": str(self.host_cert),
            "KeyFile": str(self.host_key),
            "CALocation": str(self.ca_dir),
        }


def _user(
    folder: Path, ca: x509.Certificate, ca_key: PrivateKey, name: str, group: str | None
) -> Identity:
    cert, key = make_user_cert(ca, ca_key, f"{BASE_DN}/CN={name}")
    proxy_cert, proxy_key = make_proxy(cert, key, [cert], group=group)
    tag = f"{name}-{group or 'nogroup'}"
    proxy = write_proxy_file(folder / f"{tag}-proxy.pem", proxy_cert, proxy_key, [cert])
    return Identity(name, proxy=proxy, dn=dirac_dn(cert.subject))


def make_test_pki(folder: Path) -> TestPKI:
    """Make the CA, its CRL, the host certificate, the users' proxies and a token key set."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = make_ca("tornadoservice test CA", base_dn="/O=tornadoservice test")
    ca_dir = folder / "certificates"
    write_hashed_ca_dir(ca_dir, [ca], [make_crl(ca, ca_key)])
    host, host_key = make_host_cert(
        ca, ca_key, "localhost", base_dn=BASE_DN, ip_addresses=["127.0.0.1", "::1"]
    )
    host_cert = write_certificates(folder / "hostcert.pem", host)
    host_key_path = write_private_key(folder / "hostkey.pem", host_key)
    signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(signing_key.public_key()))
    jwk.update(kid="test", use="sig", alg="RS256")
    jwks_file = folder / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [jwk]}), encoding="utf-8")
    stranger_cert, stranger_key = make_user_cert(ca, ca_key, f"{BASE_DN}/CN=stranger")
    return TestPKI(
        folder=folder,
        ca_dir=ca_dir,
        host_cert=host_cert,
        host_key=host_key_path,
        jwks_file=jwks_file,
        ca=ca,
        ca_key=ca_key,
        signing_key=signing_key,
        user=_user(folder, ca, ca_key, "alice", USER_GROUP),
        second_user=_user(folder, ca, ca_key, "bob", USER_GROUP),
        admin=_user(folder, ca, ca_key, "alice", ADMIN_GROUP),
        host=Identity(
            "host", cert=host_cert, key=host_key_path, dn=dirac_dn(host.subject), as_host=True
        ),
        stranger=Identity(
            "stranger",
            cert=write_certificates(folder / "strangercert.pem", stranger_cert),
            key=write_private_key(folder / "strangerkey.pem", stranger_key),
            dn=dirac_dn(stranger_cert.subject),
        ),
    )
