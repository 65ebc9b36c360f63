"""``tornadoservice pki init/host/user`` and ``tornadoservice proxy-init``."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509

from tests.cli.conftest import USER_DN, CliPKI
from tests.cli.support import assert_error, run_cli
from tornadoservice.identity.pem import load_pem_chain
from tornadoservice.identity.x509 import identity_from_chain


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _snapshot(directory: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file()}


def test_files_exist_and_keys_are_private(cli_pki: CliPKI) -> None:
    for key in (cli_pki.ca_key, cli_pki.host_key, cli_pki.user_key):
        assert _mode(key) == 0o600, key
    for proxy in (cli_pki.proxy, cli_pki.limited_proxy):
        assert _mode(proxy) == 0o600, proxy  # a proxy file holds its private key
    for cert in (cli_pki.ca_cert, cli_pki.host_cert, cli_pki.user_cert):
        assert cert.is_file()
    assert len(list(cli_pki.ca_dir.glob("*.0"))) == 1
    assert len(list(cli_pki.ca_dir.glob("*.r0"))) == 1


def test_host_certificate_names(cli_pki: CliPKI) -> None:
    [cert], _ = load_pem_chain(cli_pki.host_cert)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]


@pytest.mark.parametrize(
    ("limited", "lifetime"),
    [(False, dt.timedelta(hours=12)), (True, dt.timedelta(hours=24))],
    ids=["proxy", "limited"],
)
def test_proxy_identity(cli_pki: CliPKI, limited: bool, lifetime: dt.timedelta) -> None:
    chain, key = load_pem_chain(cli_pki.limited_proxy if limited else cli_pki.proxy)
    assert key is not None
    assert len(chain) == 2  # the proxy, then the user certificate it was made from
    identity = identity_from_chain(chain)
    assert identity.dn == USER_DN
    assert identity.subject.startswith(f"{USER_DN}/CN=")
    assert identity.issuer == USER_DN
    assert identity.is_proxy
    assert identity.is_limited_proxy is limited
    assert identity.group == "dirac_user"
    left = identity.not_after - dt.datetime.now(dt.UTC)
    assert lifetime - dt.timedelta(minutes=10) < left <= lifetime


def test_init_refuses_an_existing_ca(cli_pki: CliPKI) -> None:
    before = _snapshot(cli_pki.directory)
    assert_error(run_cli("pki", "init", cli_pki.directory), 1, "already holds a CA")
    assert _snapshot(cli_pki.directory) == before


@pytest.mark.parametrize("dn", ["CN=no-leading-slash", "/C=ch/CN"])
def test_user_with_a_malformed_dn(cli_pki: CliPKI, dn: str) -> None:
    before = _snapshot(cli_pki.directory)
    assert_error(run_cli("pki", "user", cli_pki.directory, dn), 1, "bad DN", repr(dn))
    assert _snapshot(cli_pki.directory) == before


def test_host_without_a_ca(tmp_path: Path) -> None:
    assert_error(run_cli("pki", "host", tmp_path / "none", "localhost"), 1, "holds no CA")


def test_proxy_lifetime_must_be_hours_and_minutes(cli_pki: CliPKI, tmp_path: Path) -> None:
    out = tmp_path / "proxy.pem"
    keys: list[str | Path] = ["--cert", cli_pki.user_cert, "--key", cli_pki.user_key]
    result = run_cli("proxy-init", *keys, "--valid", "25", "--out", out)
    assert_error(result, 2, "--valid must be HH:MM")
    assert not out.exists()


@pytest.mark.parametrize("missing", ["cert", "key"])
def test_proxy_from_a_missing_file(cli_pki: CliPKI, tmp_path: Path, missing: str) -> None:
    out, absent = tmp_path / "proxy.pem", tmp_path / "absent.pem"
    cert = absent if missing == "cert" else cli_pki.user_cert
    key = absent if missing == "key" else cli_pki.user_key
    result = run_cli("proxy-init", "--cert", cert, "--key", key, "--out", out)
    assert_error(result, 1, str(absent), "No such file")
    assert not out.exists()
