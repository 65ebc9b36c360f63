"""A throw-away PKI named like DIRAC CI: CA directory with CRL, host certificate, user proxy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tornadoservice.identity.cadir import write_hashed_ca_dir
from tornadoservice.identity.pem import write_certificates, write_private_key
from tornadoservice.identity.pki import make_ca, make_crl, make_host_cert, make_user_cert
from tornadoservice.identity.proxy import make_proxy, write_proxy_file

BASE_DN = "/C=ch/O=DIRAC/OU=DIRAC CI"
USER_DN = f"{BASE_DN}/CN=ciuser"
GROUP = "dirac_user"


@dataclass(frozen=True)
class BenchPKI:
    folder: Path

    @property
    def ca_dir(self) -> Path:
        return self.folder / "certificates"

    @property
    def host_cert(self) -> Path:
        return self.folder / "hostcert.pem"

    @property
    def host_key(self) -> Path:
        return self.folder / "hostkey.pem"

    @property
    def proxy(self) -> Path:
        """The client credential: an RFC 3820 proxy file (proxy, key, user certificate)."""
        return self.folder / "proxy.pem"


def make_pki(folder: Path) -> BenchPKI:
    pki = BenchPKI(folder)
    ca, ca_key = make_ca("DIRAC CI Signing Certification Authority", base_dn="/O=DIRAC CI")
    write_hashed_ca_dir(pki.ca_dir, [ca], [make_crl(ca, ca_key)])
    host, host_key = make_host_cert(
        ca, ca_key, "localhost", base_dn=BASE_DN, ip_addresses=["127.0.0.1"]
    )
    write_certificates(pki.host_cert, host)
    write_private_key(pki.host_key, host_key)
    user, user_key = make_user_cert(ca, ca_key, USER_DN)
    proxy, proxy_key = make_proxy(user, user_key, [user], group=GROUP)
    write_proxy_file(pki.proxy, proxy, proxy_key, [user])
    return pki


def service_config(pki: BenchPKI) -> dict[str, Any]:
    """The configuration of the tornadoservice target: ciuser registered in dirac_user."""
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
            "DefaultGroup": GROUP,
            "Users": {"ciuser": {"DN": USER_DN}},
            "Groups": {GROUP: {"Users": "ciuser", "Properties": "NormalUser", "VO": "dirac"}},
        },
        "Systems": {"Framework": {"Services": {"Bench": {"Protocol": "https"}}}},
    }
