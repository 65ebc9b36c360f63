"""The development PKI and its PEM files."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.identity.conftest import USER_DN, KeyPool, Pki
from tornadoservice.identity import pem
from tornadoservice.identity.dn import dirac_dn
from tornadoservice.identity.pem import (
    PemError,
    load_pem_chain,
    load_private_key,
    write_certificates,
    write_private_key,
    write_secret_file,
)
from tornadoservice.identity.pki import (
    generate_key,
    make_ca,
    make_crl,
    make_host_cert,
    make_user_cert,
)


def extension(
    cert: x509.Certificate, kind: type[x509.ExtensionType]
) -> x509.Extension[x509.ExtensionType]:
    return cert.extensions.get_extension_for_class(kind)


def test_ca(pki: Pki) -> None:
    assert dirac_dn(pki.ca.subject) == "/O=DIRAC CI/CN=DIRAC CI Signing Certification Authority"
    assert pki.ca.issuer == pki.ca.subject
    constraints = extension(pki.ca, x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    usage = extension(pki.ca, x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    pki.ca.verify_directly_issued_by(pki.ca)


def test_intermediate_ca(pki: Pki, ec_key: ec.EllipticCurvePrivateKey) -> None:
    sub, _ = make_ca("Sub CA", parent=(pki.ca, pki.ca_key), key=ec_key, days=10)
    assert dirac_dn(sub.subject) == "/O=DIRAC CI/CN=Sub CA"
    sub.verify_directly_issued_by(pki.ca)
    assert sub.not_valid_after_utc - sub.not_valid_before_utc < dt.timedelta(days=11)


def test_host_certificate(pki: Pki) -> None:
    cert = pki.host.cert
    assert dirac_dn(cert.subject) == "/C=ch/O=DIRAC/OU=DIRAC CI/CN=localhost"
    san = extension(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert list(extension(cert, x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ]
    assert not extension(cert, x509.BasicConstraints).value.ca
    cert.verify_directly_issued_by(pki.ca)


def test_host_certificate_names(pki: Pki, ec_key: ec.EllipticCurvePrivateKey) -> None:
    by_name, _ = make_host_cert(
        pki.ca, pki.ca_key, "vobox.example.org", key=ec_key, base_dn="/O=Grid"
    )
    assert dirac_dn(by_name.subject) == "/O=Grid/CN=vobox.example.org"
    san = extension(by_name, x509.SubjectAlternativeName).value
    assert list(san) == [x509.DNSName("vobox.example.org")]
    by_ip, _ = make_host_cert(
        pki.ca, pki.ca_key, "10.0.0.1", ip_addresses=["10.0.0.1", "::1"], key=ec_key
    )
    san = extension(by_ip, x509.SubjectAlternativeName).value
    assert list(san) == [
        x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    with pytest.raises(ValueError, match="at least one"):
        make_host_cert(pki.ca, pki.ca_key, "x", dns_names=[], key=ec_key)


def test_user_certificate(pki: Pki) -> None:
    cert = pki.user.cert
    assert dirac_dn(cert.subject) == USER_DN
    assert list(extension(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert extension(cert, x509.KeyUsage).value.digital_signature
    cert.verify_directly_issued_by(pki.ca)


def test_validity_overrides(pki: Pki, ec_key: ec.EllipticCurvePrivateKey) -> None:
    start = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    cert, _ = make_user_cert(
        pki.ca,
        pki.ca_key,
        "/CN=later",
        key=ec_key,
        not_before=start,
        not_after=start + dt.timedelta(days=1),
    )
    assert cert.not_valid_before_utc == start
    with pytest.raises(ValueError, match="end after it starts"):
        make_user_cert(
            pki.ca, pki.ca_key, "/CN=never", key=ec_key, not_before=start, not_after=start
        )


def test_crl(pki: Pki) -> None:
    crl = make_crl(pki.ca, pki.ca_key, [11, 12], days=3, number=7)
    assert crl.issuer == pki.ca.subject
    assert {entry.serial_number for entry in crl} == {11, 12}
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 7
    assert crl.is_signature_valid(pki.ca.public_key())
    assert crl.next_update_utc is not None


def test_generate_key() -> None:
    assert isinstance(generate_key("ec"), ec.EllipticCurvePrivateKey)
    with pytest.raises(ValueError, match="unknown key kind"):
        generate_key("dsa")


def test_default_rsa_key(pki: Pki) -> None:
    _, key = make_user_cert(pki.ca, pki.ca_key, "/CN=fresh")
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048


# --- PEM files ----------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_keys_are_0600_even_with_a_permissive_umask(pki: Pki, tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        path = write_private_key(tmp_path / "key.pem", pki.user.key)
    finally:
        os.umask(previous)
    assert mode(path) == 0o600
    assert load_private_key(path).public_key() == pki.user.key.public_key()


def test_a_world_readable_file_is_replaced_not_rewritten(pki: Pki, tmp_path: Path) -> None:
    target = tmp_path / "key.pem"
    target.write_text("old")
    target.chmod(0o644)
    write_private_key(target, pki.user.key)
    assert mode(target) == 0o600
    assert [path.name for path in tmp_path.iterdir()] == ["key.pem"]


def test_failed_write_leaves_no_temporary_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(source: str, target: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pem.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_secret_file(tmp_path / "key.pem", b"secret")
    assert list(tmp_path.iterdir()) == []


def test_certificates_are_0644(pki: Pki, tmp_path: Path) -> None:
    path = write_certificates(tmp_path / "chain.pem", [pki.user.cert, pki.ca])
    assert mode(path) == 0o644
    assert load_pem_chain(path) == ([pki.user.cert, pki.ca], None)
    assert load_pem_chain(write_certificates(tmp_path / "one.pem", pki.ca)) == ([pki.ca], None)


def test_load_pem_chain_errors(tmp_path: Path, keys: KeyPool) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("nothing here")
    with pytest.raises(PemError, match="no PEM certificate"):
        load_pem_chain(empty)
    with pytest.raises(PemError, match="no usable PEM private key"):
        load_private_key(empty)
    dsa_file = tmp_path / "dsa.pem"
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    dsa_file.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(PemError, match="unsupported private key type"):
        load_private_key(dsa_file)
