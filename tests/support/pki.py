"""TLS material for server tests, named like DIRAC CI so bodies compare with the reference."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from tornadoservice.identity.cadir import write_hashed_ca_dir
from tornadoservice.identity.pem import PrivateKey, write_certificates, write_private_key
from tornadoservice.identity.pki import make_ca, make_crl, make_host_cert, make_user_cert
from tornadoservice.identity.proxy import make_proxy, write_proxy_file

CA_NAME = "DIRAC CI Signing Certification Authority"
CA_DN = f"/O=DIRAC CI/CN={CA_NAME}"
BASE_DN = "/C=ch/O=DIRAC/OU=DIRAC CI"
USER_DN = f"{BASE_DN}/CN=ciuser"
HOST_DN = f"{BASE_DN}/CN=localhost"
STRANGER_DN = f"{BASE_DN}/CN=stranger"
OTHER_HOST_DN = f"{BASE_DN}/CN=untrusted-host"


@dataclass(frozen=True)
class ClientCred:
    """What a client presents: a certificate file (a proxy file holds its key too) and a key."""

    cert: Path
    key: Path | None = None


@dataclass(frozen=True)
class ServerPKI:
    ca_dir: Path
    host_cert: Path
    host_key: Path
    user: ClientCred
    proxy: ClientCred
    limited_proxy: ClientCred
    proxy_no_group: ClientCred
    proxy_wrong_group: ClientCred
    proxy_without_chain: ClientCred
    stranger_proxy: ClientCred
    host: ClientCred
    untrusted_host: ClientCred
    foreign_user: ClientCred
    expired_user: ClientCred
    ca: x509.Certificate
    ca_key: PrivateKey
    user_serial: int


def _pair(folder: Path, name: str, cert: x509.Certificate, key: PrivateKey) -> ClientCred:
    return ClientCred(
        write_certificates(folder / f"{name}cert.pem", cert),
        write_private_key(folder / f"{name}key.pem", key),
    )


def _proxy(
    folder: Path,
    name: str,
    cert: x509.Certificate,
    key: PrivateKey,
    *,
    chain: bool = True,
    **kwargs: object,
) -> ClientCred:
    proxy_cert, proxy_key = make_proxy(cert, key, [cert], **kwargs)  # type: ignore[arg-type]
    path = write_proxy_file(folder / f"{name}.pem", proxy_cert, proxy_key, [cert] if chain else [])
    return ClientCred(path)


def make_server_pki(folder: Path) -> ServerPKI:
    ca, ca_key = make_ca(CA_NAME, base_dn="/O=DIRAC CI")
    ca_dir = folder / "certificates"
    write_hashed_ca_dir(ca_dir, [ca], [make_crl(ca, ca_key)])
    host, host_key = make_host_cert(
        ca, ca_key, "localhost", base_dn=BASE_DN, ip_addresses=["127.0.0.1", "::1"]
    )
    host_files = _pair(folder, "host", host, host_key)
    user, user_key = make_user_cert(ca, ca_key, USER_DN)
    stranger, stranger_key = make_user_cert(ca, ca_key, STRANGER_DN)
    other_host, other_host_key = make_host_cert(ca, ca_key, "untrusted-host", base_dn=BASE_DN)
    foreign_ca, foreign_key = make_ca("Some Other CA", base_dn="/O=Elsewhere")
    foreign, foreign_user_key = make_user_cert(foreign_ca, foreign_key, USER_DN)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    expired, expired_key = make_user_cert(
        ca, ca_key, USER_DN, not_before=past - dt.timedelta(days=10), not_after=past
    )
    return ServerPKI(
        ca_dir=ca_dir,
        host_cert=host_files.cert,
        host_key=host_files.key or folder,
        user=_pair(folder, "user", user, user_key),
        proxy=_proxy(folder, "proxy", user, user_key, group="dirac_user"),
        limited_proxy=_proxy(folder, "limited", user, user_key, group="dirac_user", limited=True),
        proxy_no_group=_proxy(folder, "nogroup", user, user_key),
        proxy_wrong_group=_proxy(folder, "wronggroup", user, user_key, group="dirac_admin"),
        proxy_without_chain=_proxy(folder, "nochain", user, user_key, chain=False),
        stranger_proxy=_proxy(folder, "stranger", stranger, stranger_key, group="dirac_user"),
        host=host_files,
        untrusted_host=_pair(folder, "otherhost", other_host, other_host_key),
        foreign_user=_pair(folder, "foreign", foreign, foreign_user_key),
        expired_user=_pair(folder, "expired", expired, expired_key),
        ca=ca,
        ca_key=ca_key,
        user_serial=user.serial_number,
    )


def registry_config(pki: ServerPKI) -> dict[str, object]:
    """A configuration like DIRAC's CI: ciuser in dirac_user, localhost a trusted host."""
    return {
        "DIRAC": {
            "VirtualOrganization": "dirac",
            "Security": {
                "CertFile": str(pki.host_cert),
                "KeyFile": str(pki.host_key),
                "CALocation": str(pki.ca_dir),
            },
        },
        "Registry": {
            "DefaultGroup": "dirac_user",
            "Users": {"ciuser": {"DN": USER_DN}},
            "Groups": {
                "dirac_user": {"Users": "ciuser", "Properties": "NormalUser", "VO": "dirac"},
                "dirac_admin": {"Users": "", "Properties": "ServiceAdministrator", "VO": "dirac"},
            },
            "Hosts": {
                "localhost": {
                    "DN": HOST_DN,
                    "Properties": "TrustedHost, CSAdministrator, JobAdministrator, "
                    "FullDelegation, ProxyManagement, Operator",
                },
                "untrusted-host": {"DN": OTHER_HOST_DN, "Properties": "Operator"},
            },
        },
    }
