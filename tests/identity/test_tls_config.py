"""TLSConfigError: every way a context can be misconfigured gets a clear message."""

from __future__ import annotations

import datetime as dt
import logging
import os
import ssl
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.identity.conftest import KeyPool, Pki, write_credential
from tornadoservice.identity import tls
from tornadoservice.identity.pem import write_certificates, write_private_key
from tornadoservice.identity.pki import make_user_cert
from tornadoservice.identity.tls import TLSConfigError, client_ssl_context, server_ssl_context


def host_files(pki: Pki) -> tuple[Path, Path]:
    return pki.root / "hostcert.pem", pki.root / "hostkey.pem"


def test_missing_certificate_file(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(TLSConfigError, match=r"certificate file .*missing\.pem does not exist"):
        server_ssl_context(tmp_path / "missing.pem", host_files(pki)[1], pki.ca_dir)


def test_certificate_path_is_a_directory(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(TLSConfigError, match="is not a file"):
        server_ssl_context(tmp_path, host_files(pki)[1], pki.ca_dir)


def test_unreadable_key_file(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    cert_file, key_file = host_files(pki)
    real_access = os.access
    monkeypatch.setattr(
        tls.os, "access", lambda path, mode: Path(path) != key_file and real_access(path, mode)
    )
    with pytest.raises(TLSConfigError, match=r"key file .* is not readable"):
        server_ssl_context(cert_file, key_file, pki.ca_dir)


def test_key_not_matching_the_certificate(pki: Pki) -> None:
    with pytest.raises(TLSConfigError, match="does not belong to the certificate"):
        server_ssl_context(pki.root / "hostcert.pem", pki.user.path, pki.ca_dir)


def test_certificate_without_key(pki: Pki) -> None:
    with pytest.raises(TLSConfigError, match="has no private key"):
        server_ssl_context(pki.root / "hostcert.pem", None, pki.ca_dir)


def test_garbage_certificate_file(pki: Pki, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello")
    with pytest.raises(TLSConfigError, match="no PEM certificate"):
        server_ssl_context(garbage, host_files(pki)[1], pki.ca_dir)


def test_encrypted_key(pki: Pki, tmp_path: Path) -> None:
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        pki.host.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(TLSConfigError, match="encrypted"):
        server_ssl_context(host_files(pki)[0], encrypted, pki.ca_dir)


def test_small_key(pki: Pki, tmp_path: Path) -> None:
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    cert, _ = make_user_cert(pki.ca, pki.ca_key, "/CN=weak", key=weak_key)
    weak = write_credential(tmp_path, "weak", [cert], weak_key)
    with pytest.raises(TLSConfigError, match="1024-bit RSA; OpenSSL needs at least 2048"):
        server_ssl_context(weak.path, None, pki.ca_dir)


def test_small_ec_key(pki: Pki, tmp_path: Path) -> None:
    weak_key = ec.generate_private_key(ec.SECP192R1())
    cert, _ = make_user_cert(pki.ca, pki.ca_key, "/CN=weak", key=weak_key)
    weak = write_credential(tmp_path, "weak-ec", [cert], weak_key)
    with pytest.raises(TLSConfigError, match="192-bit EC key"):
        server_ssl_context(weak.path, None, pki.ca_dir)


def test_missing_ca_dir(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(TLSConfigError, match="does not exist or is not a directory"):
        server_ssl_context(*host_files(pki), tmp_path / "nowhere")


def test_unreadable_ca_dir(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tls.os, "access", lambda path, mode: Path(path) != pki.ca_dir)
    with pytest.raises(TLSConfigError, match="is not readable"):
        client_ssl_context(pki.ca_dir)


def test_unlistable_ca_dir(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: object) -> list[str]:
        raise PermissionError("denied")

    monkeypatch.setattr("tornadoservice.identity.cadir.os.listdir", refuse)
    with pytest.raises(TLSConfigError, match="cannot be read: denied"):
        server_ssl_context(*host_files(pki), pki.ca_dir)


def test_ca_dir_without_hashed_certificates(pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_bytes(pki.ca.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(TLSConfigError, match=r"no CA certificate named <hash>\.0"):
        server_ssl_context(*host_files(pki), tmp_path)


def test_key_file_without_certificate(pki: Pki) -> None:
    with pytest.raises(TLSConfigError, match="without a certificate"):
        client_ssl_context(pki.ca_dir, key_file=host_files(pki)[1])


def test_openssl_rejection_is_translated(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object) -> None:
        raise ssl.SSLError("simulated")

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", fail)
    with pytest.raises(TLSConfigError, match="OpenSSL cannot use"):
        server_ssl_context(*host_files(pki), pki.ca_dir)


def test_expired_server_certificate_is_logged(
    pki: Pki, tmp_path: Path, keys: KeyPool, caplog: pytest.LogCaptureFixture
) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert, key = make_user_cert(
        pki.ca,
        pki.ca_key,
        "/CN=old",
        key=keys.next(),
        not_before=past - dt.timedelta(days=1),
        not_after=past,
    )
    old = write_credential(tmp_path, "old", [cert], key)
    with caplog.at_level(logging.WARNING, logger="tornadoservice.identity.tls"):
        server_ssl_context(old.path, None, pki.ca_dir)
    assert "/CN=old) is not valid now" in caplog.text


def test_separate_key_file_is_accepted(pki: Pki, tmp_path: Path) -> None:
    write_private_key(tmp_path / "userkey.pem", pki.user.key)
    write_certificates(tmp_path / "usercert.pem", pki.user.cert)
    context = client_ssl_context(pki.ca_dir, tmp_path / "usercert.pem", tmp_path / "userkey.pem")
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
