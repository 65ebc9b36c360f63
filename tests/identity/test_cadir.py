"""Subject hashes and hashed CA directories, checked against the openssl command."""

from __future__ import annotations

import datetime as dt
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from tests.identity.conftest import KeyPool, Pki
from tests.identity.openssl_oracle import openssl_subject_hash
from tests.support.testdata import DIRAC_TESTDATA
from tornadoservice.identity import cadir, der
from tornadoservice.identity.cadir import (
    inspect_ca_dir,
    names_match,
    subject_hash,
    write_hashed_ca_dir,
)
from tornadoservice.identity.pki import make_ca, make_crl, make_user_cert


def self_signed(name: x509.Name, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def rdn(*attributes: x509.NameAttribute[str]) -> x509.RelativeDistinguishedName:
    return x509.RelativeDistinguishedName(attributes)


def test_dirac_ca_hash_test_vector() -> None:
    ca = x509.load_pem_x509_certificate((DIRAC_TESTDATA / "ca" / "ca.cert.pem").read_bytes())
    assert subject_hash(ca.subject) == "b236481c"
    crl = x509.load_pem_x509_crl((DIRAC_TESTDATA / "ca" / "ca.crl.pem").read_bytes())
    assert subject_hash(crl.issuer) == "b236481c"


CN = NameOID.COMMON_NAME
HASH_CASES = {
    "plain": x509.Name([rdn(x509.NameAttribute(CN, "DIRAC CI CA"))]),
    "case and whitespace": x509.Name(
        [
            rdn(x509.NameAttribute(NameOID.ORGANIZATION_NAME, "  Mixed   CASE\tName ")),
            rdn(x509.NameAttribute(CN, "\nUPPER\n")),
        ]
    ),
    "non-ascii": x509.Name([rdn(x509.NameAttribute(CN, "Zoë ÜNÏCODE"))]),
    "string types": x509.Name(
        [
            rdn(x509.NameAttribute(NameOID.COUNTRY_NAME, "CH", _type=_ASN1Type.PrintableString)),
            rdn(x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bmp Ë", _type=_ASN1Type.BMPString)),
            rdn(x509.NameAttribute(NameOID.LOCALITY_NAME, "Tele TEX", _type=_ASN1Type.T61String)),
            rdn(x509.NameAttribute(CN, "Uni", _type=_ASN1Type.UniversalString)),
            rdn(x509.NameAttribute(NameOID.EMAIL_ADDRESS, "A@B.ORG")),
        ]
    ),
    "multi-valued": x509.Name(
        [
            rdn(
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ZZZ"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "a much longer unit"),
                x509.NameAttribute(CN, "B"),
            )
        ]
    ),
    "bit string value": x509.Name(
        [
            rdn(
                x509.NameAttribute(
                    NameOID.X500_UNIQUE_IDENTIFIER, b"\x00\x01", _type=_ASN1Type.BitString
                )
            ),
            rdn(x509.NameAttribute(CN, "Y")),
        ]
    ),
    "only spaces": x509.Name([rdn(x509.NameAttribute(CN, "   "))]),
}


@pytest.mark.parametrize("name", HASH_CASES.values(), ids=HASH_CASES.keys())
def test_subject_hash_matches_openssl(
    name: x509.Name, ec_key: ec.EllipticCurvePrivateKey, tmp_path: Path
) -> None:
    cert = self_signed(name, ec_key)
    assert subject_hash(cert.subject) == openssl_subject_hash(cert, tmp_path)


def test_names_match_like_openssl() -> None:
    first = x509.Name([rdn(x509.NameAttribute(CN, "Some  Name"))])
    second = x509.Name([rdn(x509.NameAttribute(CN, "some name", _type=_ASN1Type.PrintableString))])
    assert names_match(first, second)
    assert not names_match(first, x509.Name([rdn(x509.NameAttribute(CN, "other"))]))


def test_invalid_string_in_a_name() -> None:
    # cryptography never builds such a name; OpenSSL refuses to hash it, and so do we.
    with pytest.raises(der.DerError, match="invalid string"):
        cadir._canonical_value(der.decode(b"\x1e\x03\x00a\x00"))


def test_write_hashed_ca_dir(pki: Pki, keys: KeyPool, tmp_path: Path) -> None:
    directory = tmp_path / "certificates"
    directory.mkdir()
    (directory / "README").write_text("kept")
    (directory / "deadbeef.0").write_text("stale")
    (directory / "deadbeef.r3").write_text("stale")
    twin, twin_key = make_ca("DIRAC CI Signing Certification Authority", key=keys.next())
    crl = make_crl(pki.ca, pki.ca_key, [5])
    written = write_hashed_ca_dir(
        directory, [pki.ca, twin, pki.ca, pki.other_ca], [crl, crl, make_crl(twin, twin_key)]
    )
    ca_hash = subject_hash(pki.ca.subject)
    other_hash = subject_hash(pki.other_ca.subject)
    assert sorted(path.name for path in written) == sorted(
        [f"{ca_hash}.0", f"{ca_hash}.1", f"{other_hash}.0", f"{ca_hash}.r0", f"{ca_hash}.r1"]
    )
    assert sorted(path.name for path in directory.iterdir()) == sorted(
        ["README", *(path.name for path in written)]
    )
    assert x509.load_pem_x509_certificate((directory / f"{ca_hash}.1").read_bytes()) == twin
    assert x509.load_pem_x509_crl((directory / f"{ca_hash}.r0").read_bytes()) == crl
    assert stat.S_IMODE((directory / f"{ca_hash}.0").stat().st_mode) == 0o644


def test_openssl_verifies_against_a_written_directory(pki: Pki, tmp_path: Path) -> None:
    leaf = tmp_path / "user.pem"
    leaf.write_bytes(pki.user.cert.public_bytes(serialization.Encoding.PEM))
    result = subprocess.run(
        ["openssl", "verify", "-crl_check", "-CApath", str(pki.ca_dir), str(leaf)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    revoked = tmp_path / "revoked.pem"
    revoked.write_bytes(pki.revoked.cert.public_bytes(serialization.Encoding.PEM))
    result = subprocess.run(
        ["openssl", "verify", "-crl_check", "-CApath", str(pki.ca_dir), str(revoked)],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "certificate revoked" in result.stdout + result.stderr


def test_inspect_ca_dir(pki: Pki, tmp_path: Path) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    stale = make_crl(pki.ca, pki.ca_key, last_update=past - dt.timedelta(days=1), next_update=past)
    directory = tmp_path / "inspect"
    write_hashed_ca_dir(directory, [pki.ca, pki.other_ca], [stale])
    (directory / "0badf00d.r0").write_text("junk")
    (directory / "notes.txt").write_text("ignored")
    report = inspect_ca_dir(directory)
    assert report.ca_count == 2
    assert report.crl_count == 1
    assert report.cas_without_crl == ("/O=Elsewhere/CN=Somebody Else's CA",)
    assert report.expired_crls == ("/O=DIRAC CI/CN=DIRAC CI Signing Certification Authority",)
    assert report.unreadable == ("0badf00d.r0",)
    fresh = inspect_ca_dir(directory, now=past - dt.timedelta(hours=2))
    assert fresh.expired_crls == ()


def test_dirac_testdata_directory(tmp_path: Path) -> None:
    source = DIRAC_TESTDATA / "ca"
    # The testdata's hashed names are symbolic links stored as plain text files.
    assert inspect_ca_dir(source).unreadable == ("b236481c.0", "b236481c.r0")
    ca = x509.load_pem_x509_certificate((source / "ca.cert.pem").read_bytes())
    crl = x509.load_pem_x509_crl((source / "ca.crl.pem").read_bytes())
    written = write_hashed_ca_dir(tmp_path, [ca], [crl])
    assert [path.name for path in written] == ["b236481c.0", "b236481c.r0"]
    report = inspect_ca_dir(tmp_path)
    assert (report.ca_count, report.crl_count, report.cas_without_crl) == (1, 1, ())
    assert report.expired_crls == report.unreadable == ()


def test_user_issued_by_a_hashed_ca(pki: Pki, keys: KeyPool) -> None:
    cert, _ = make_user_cert(pki.ca, pki.ca_key, "/CN=x", key=keys.next())
    assert subject_hash(cert.issuer) == subject_hash(pki.ca.subject)
