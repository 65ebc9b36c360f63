"""RFC 3820 proxies as dirac-proxy-init makes them."""

from __future__ import annotations

import datetime as dt
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.identity.conftest import (
    USER_DN,
    Credential,
    KeyPool,
    Pki,
    legacy_proxy,
)
from tests.support.testdata import DIRAC_TESTDATA
from tornadoservice.identity.dn import dirac_dn
from tornadoservice.identity.pem import load_pem_chain
from tornadoservice.identity.pki import make_user_cert
from tornadoservice.identity.proxy import (
    DIRAC_GROUP_OID,
    POLICY_INDEPENDENT,
    POLICY_INHERIT_ALL,
    POLICY_LIMITED,
    PROXY_CERT_INFO_OID,
    ProxyError,
    ProxyInfo,
    decode_dirac_group,
    decode_proxy_cert_info,
    dirac_group,
    encode_dirac_group,
    encode_proxy_cert_info,
    make_proxy,
    proxy_info,
    write_proxy_file,
)


def raw_extension(cert: x509.Certificate, oid: str) -> x509.Extension[x509.ExtensionType]:
    return cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid))


def test_proxy_like_dirac_proxy_init(pki: Pki, user_proxy: Credential) -> None:
    proxy = user_proxy.cert
    serial = proxy.serial_number
    assert 0 < serial < 2**64
    assert dirac_dn(proxy.subject) == f"{USER_DN}/CN={serial}"
    assert proxy.issuer == pki.user.cert.subject
    proxy.verify_directly_issued_by(pki.user.cert)

    info = raw_extension(proxy, PROXY_CERT_INFO_OID)
    assert info.critical
    # SEQUENCE { SEQUENCE { id-ppl-inheritAll } }: no path length constraint, like DIRAC.
    assert info.value.public_bytes() == bytes.fromhex("300c300a06082b06010505071501")
    group = raw_extension(proxy, DIRAC_GROUP_OID)
    assert not group.critical
    assert group.value.public_bytes() == b"\x16\x0adirac_user"
    usage = proxy.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature and usage.value.key_encipherment
    assert usage.value.data_encipherment and not usage.value.key_cert_sign
    with pytest.raises(x509.ExtensionNotFound):
        proxy.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)

    lifetime = proxy.not_valid_after_utc - proxy.not_valid_before_utc
    assert dt.timedelta(hours=24) < lifetime <= dt.timedelta(hours=24, minutes=15)


def test_openssl_sees_an_rfc_proxy(user_proxy: Credential, tmp_path: Path) -> None:
    path = tmp_path / "proxy.pem"
    path.write_bytes(user_proxy.cert.public_bytes(serialization.Encoding.PEM))
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-text", "-in", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "Proxy Certificate Information: critical" in text
    assert "Policy Language: Inherit all" in text


def test_limited_and_independent_policies(pki: Pki, keys: KeyPool) -> None:
    limited, _ = make_proxy(pki.user.cert, pki.user.key, limited=True, key=keys.next())
    assert proxy_info(limited) == ProxyInfo(POLICY_LIMITED)
    independent, _ = make_proxy(pki.user.cert, pki.user.key, independent=True, key=keys.next())
    info = proxy_info(independent)
    assert info is not None and info.independent and not info.limited
    assert dirac_group(independent) is None
    with pytest.raises(ProxyError, match="either limited or independent"):
        make_proxy(pki.user.cert, pki.user.key, limited=True, independent=True, key=keys.next())


def test_a_proxy_of_a_limited_proxy_is_limited(pki: Pki, keys: KeyPool) -> None:
    limited = pki.proxy(pki.user, "limited-parent", keys, limited=True)
    child, _ = make_proxy(limited.cert, limited.key, limited.chain[1:], key=keys.next())
    info = proxy_info(child)
    assert info is not None and info.limited


def test_proxy_of_a_proxy(pki: Pki, keys: KeyPool, user_proxy: Credential) -> None:
    child, _ = make_proxy(user_proxy.cert, user_proxy.key, user_proxy.chain[1:], key=keys.next())
    assert (
        dirac_dn(child.subject) == f"{dirac_dn(user_proxy.cert.subject)}/CN={child.serial_number}"
    )
    child.verify_directly_issued_by(user_proxy.cert)
    # A child never outlives its parent.
    assert child.not_valid_after_utc <= user_proxy.cert.not_valid_after_utc


def test_lifetime_is_clamped_to_the_chain(pki: Pki, keys: KeyPool) -> None:
    soon = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)
    short_user, user_key = make_user_cert(
        pki.ca, pki.ca_key, "/CN=short", key=keys.next(), not_after=soon
    )
    proxy, _ = make_proxy(
        short_user, user_key, [pki.ca], lifetime=dt.timedelta(days=7), key=keys.next()
    )
    assert proxy.not_valid_after_utc == soon
    assert proxy.not_valid_before_utc >= short_user.not_valid_before_utc


def test_expired_issuer(pki: Pki, keys: KeyPool) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    old, old_key = make_user_cert(
        pki.ca,
        pki.ca_key,
        "/CN=old",
        key=keys.next(),
        not_before=past - dt.timedelta(days=1),
        not_after=past,
    )
    with pytest.raises(ProxyError, match="has expired"):
        make_proxy(old, old_key, key=keys.next())


def test_key_must_match_the_issuer(pki: Pki, keys: KeyPool) -> None:
    with pytest.raises(ProxyError, match="does not belong"):
        make_proxy(pki.user.cert, pki.revoked.key, key=keys.next())


def test_generates_a_key_of_the_requested_size(pki: Pki) -> None:
    proxy, key = make_proxy(pki.user.cert, pki.user.key, key_bits=2048)
    assert proxy.public_key() == key.public_key()
    assert key.key_size == 2048


def test_proxy_file_order_and_mode(pki: Pki, keys: KeyPool, tmp_path: Path) -> None:
    proxy, key = make_proxy(pki.user.cert, pki.user.key, group="dirac_user", key=keys.next())
    path = write_proxy_file(tmp_path / "x509up_u0", proxy, key, [pki.user.cert])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    blocks = [line for line in path.read_text().splitlines() if line.startswith("-----BEGIN")]
    assert blocks == [
        "-----BEGIN CERTIFICATE-----",
        "-----BEGIN PRIVATE KEY-----",
        "-----BEGIN CERTIFICATE-----",
    ]
    certs, loaded_key = load_pem_chain(path)
    assert certs == [proxy, pki.user.cert]
    assert loaded_key is not None and loaded_key.public_key() == key.public_key()


def test_dirac_testdata_proxy() -> None:
    certs, key = load_pem_chain(DIRAC_TESTDATA / "voms" / "proxy.pem")
    assert key is not None and key.public_key() == certs[0].public_key()
    # voms-proxy-fake writes a path length constraint of 1.
    assert proxy_info(certs[0]) == ProxyInfo(POLICY_INHERIT_ALL, path_length=1)
    assert proxy_info(certs[1]) is None
    assert dirac_group(certs[0]) is None


def test_legacy_proxies_are_recognised(pki: Pki, keys: KeyPool) -> None:
    plain, _ = legacy_proxy(pki, keys, "proxy")
    assert proxy_info(plain) == ProxyInfo(POLICY_INHERIT_ALL, legacy=True)
    limited, _ = legacy_proxy(pki, keys, "limited proxy")
    assert proxy_info(limited) == ProxyInfo(POLICY_LIMITED, legacy=True)
    assert proxy_info(legacy_proxy(pki, keys, "something")[0]) is None
    assert proxy_info(legacy_proxy(pki, keys, "proxy", issuer_name="/CN=someone else")[0]) is None


def test_certificates_that_are_no_proxies(pki: Pki, keys: KeyPool) -> None:
    last_not_cn, _ = make_user_cert(pki.ca, pki.ca_key, "/CN=x/O=y", key=keys.next())
    assert proxy_info(last_not_cn) is None
    multi_valued, _ = make_user_cert(pki.ca, pki.ca_key, "/O=y/CN=proxy+UID=u", key=keys.next())
    assert proxy_info(multi_valued) is None
    anonymous, _ = make_user_cert(pki.ca, pki.ca_key, x509.Name([]), key=keys.next())
    assert proxy_info(anonymous) is None


@pytest.mark.parametrize(
    "info",
    [
        ProxyInfo(POLICY_INHERIT_ALL),
        ProxyInfo(POLICY_LIMITED, path_length=0),
        ProxyInfo(POLICY_INDEPENDENT, path_length=200),
        ProxyInfo("1.2.3.4", path_length=127, policy=b"some policy"),
    ],
)
def test_proxy_cert_info_round_trips(info: ProxyInfo) -> None:
    assert decode_proxy_cert_info(encode_proxy_cert_info(info)) == info


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes.fromhex("3000"),
        bytes.fromhex("3003020101"),
        bytes.fromhex("30053003020101"),
        bytes.fromhex("3002 3000"),
        bytes.fromhex("300f 020101 300a 06032a0304 040100 0500"),
        bytes.fromhex("300f 0201ff 300a 06082b06010505071501"),
    ],
)
def test_malformed_proxy_cert_info(data: bytes) -> None:
    with pytest.raises(ProxyError, match="malformed proxyCertInfo"):
        decode_proxy_cert_info(data)


def test_negative_path_length_is_not_encoded() -> None:
    with pytest.raises(ProxyError, match="negative"):
        encode_proxy_cert_info(ProxyInfo(POLICY_INHERIT_ALL, path_length=-1))


def test_dirac_group_codec() -> None:
    assert decode_dirac_group(encode_dirac_group("lhcb_user")) == "lhcb_user"
    for bad in ("", "grüppe", "a\nb"):
        with pytest.raises(ProxyError, match="printable ASCII"):
            encode_dirac_group(bad)
    with pytest.raises(ProxyError, match="malformed DIRAC group"):
        decode_dirac_group(b"\x0c\x03abc")
