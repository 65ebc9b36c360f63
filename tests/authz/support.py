"""Test data for authz: a registry like the DIRAC CI installation of the wire reference, and
identities as the TLS layer would hand them over."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from tornadoservice.identity.credentials import X509Identity

NOW = dt.datetime(2026, 11, 23, 9, 44, 7, tzinfo=dt.UTC)
CA = "/O=DIRAC CI/CN=DIRAC CI Signing Certification Authority"
CIUSER = "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser"
ADMIN = "/C=ch/O=DIRAC/OU=DIRAC CI/CN=admin"
SUSPENDED = "/C=ch/O=DIRAC/OU=DIRAC CI/CN=suspended"
LONELY = "/C=ch/O=DIRAC/OU=DIRAC CI/CN=lonely"
STRANGER = "/C=ch/O=DIRAC/OU=DIRAC CI/CN=stranger"
LOCALHOST = "/C=ch/O=DIRAC/OU=DIRAC CI/CN=localhost"
WORKER = "/C=ch/O=DIRAC/OU=DIRAC CI/CN=worker"
HOST_PROPERTIES = [
    "TrustedHost",
    "CSAdministrator",
    "JobAdministrator",
    "FullDelegation",
    "ProxyManagement",
    "Operator",
]

CONFIG: dict[str, Any] = {
    "DIRAC": {"VirtualOrganization": "dirac"},
    "Registry": {
        "DefaultGroup": "dirac_user",
        "Users": {
            "ciuser": {"DN": CIUSER},
            "adminusername": {"DN": ADMIN},
            "suspendedUser": {"DN": SUSPENDED, "Suspended": ["dirac"]},
            "lonelyUser": {"DN": LONELY},
        },
        "Groups": {
            "dirac_user": {
                "Users": ["ciuser", "adminusername", "suspendedUser"],
                "Properties": ["NormalUser"],
            },
            "dirac_admin": {
                "Users": ["adminusername"],
                "Properties": ["ServiceAdministrator", "Operator"],
            },
            "lhcb_user": {
                "Users": ["ciuser", "suspendedUser"],
                "Properties": ["NormalUser"],
                "VO": "lhcb",
            },
        },
        "Hosts": {
            "localhost": {"DN": LOCALHOST, "Properties": HOST_PROPERTIES},
            "worker": {"DN": WORKER, "Properties": ["GenericPilot"]},
        },
    },
}


MakeIdentity = Callable[..., X509Identity]


def make_test_identity(
    dn: str,
    *,
    proxy: bool = False,
    limited: bool = False,
    group: str | None = None,
    vo: str | None = None,
    seconds_left: int = 2591991,
    proxy_cn: str = "10987011010689215982",
) -> X509Identity:
    subject = f"{dn}/CN={proxy_cn}" if proxy else dn
    return X509Identity(
        subject=subject,
        issuer=dn if proxy else CA,
        dn=dn,
        is_proxy=proxy,
        is_limited_proxy=limited,
        not_after=NOW + dt.timedelta(seconds=seconds_left),
        group=group,
        vo=vo,
    )
