"""VOMS attribute certificate verification: the DIRAC test vector, and ACs signed here."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from tests.identity.conftest import KeyPool, Pki
from tests.support.testdata import DIRAC_TESTDATA
from tornadoservice.identity import der
from tornadoservice.identity.pem import PrivateKey, load_pem_chain, write_certificates
from tornadoservice.identity.pki import make_host_cert
from tornadoservice.identity.proxy import (
    POLICY_INHERIT_ALL,
    PROXY_CERT_INFO_OID,
    ProxyInfo,
    encode_proxy_cert_info,
)
from tornadoservice.identity.voms import (
    AUTHORITY_KEY_IDENTIFIER_OID,
    NO_REV_AVAIL_OID,
    TARGET_INFORMATION_OID,
    VOMS_AC_CERTS_OID,
    VOMS_AC_OID,
    VOMS_FQAN_ATTRIBUTE_OID,
    VomsError,
    VomsTrust,
    VomsVerificationError,
    check_holder,
    parse_attribute_certificate,
    verify_voms,
)
from tornadoservice.identity.x509 import (
    UNVERIFIED_REASON,
    VomsResult,
    identity_from_chain,
    voms_from_chain,
)

SEQ = der.SEQUENCE
FQAN = "/fakevo/Role=user/Capability=NULL"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
SHA256_RSA = "1.2.840.113549.1.1.11"
SHA1_RSA = "1.2.840.113549.1.1.5"
SHA256_ECDSA = "1.2.840.10045.4.3.2"


def load(path: str) -> list[x509.Certificate]:
    certs, _ = load_pem_chain(DIRAC_TESTDATA / path)
    return certs


@pytest.fixture(scope="module")
def dirac_chain() -> list[x509.Certificate]:
    """The DIRAC VOMS proxy, its user certificate and their CA."""
    return [*load("voms/proxy.pem"), *load("ca/ca.cert.pem")]


@pytest.fixture(scope="module")
def dirac_ac(dirac_chain: list[x509.Certificate]) -> bytes:
    extension = dirac_chain[0].extensions.get_extension_for_oid(x509.ObjectIdentifier(VOMS_AC_OID))
    return extension.value.public_bytes()


@pytest.fixture(scope="module")
def vobox() -> x509.Certificate:
    return load("host/hostcert.pem")[0]


@pytest.fixture(scope="module")
def dirac_trust(vobox: x509.Certificate) -> VomsTrust:
    return VomsTrust.of({"fakevo": [vobox]})


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


# --- the DIRAC VOMS proxy -----------------------------------------------------------------


def test_dirac_ac_verifies_with_the_vobox_certificate(
    dirac_ac: bytes, dirac_chain: list[x509.Certificate], dirac_trust: VomsTrust
) -> None:
    attributes = verify_voms(dirac_ac, dirac_trust, holder=dirac_chain[1], now=NOW)
    assert (attributes.vo, attributes.fqans) == ("fakevo", (FQAN,))
    assert voms_from_chain(dirac_chain, dirac_trust, now=NOW) == VomsResult(
        "fakevo", (FQAN,), verified=True
    )
    identity = identity_from_chain(dirac_chain, now=NOW, voms_trust=dirac_trust)
    assert (identity.vo, identity.fqans) == ("fakevo", (FQAN,))
    # The AC carries the VOBox certificate; it is read, never trusted by itself.
    assert parse_attribute_certificate(dirac_ac).embedded_certificates == (
        load("host/hostcert.pem")[0],
    )


def test_without_trust_the_attributes_are_unverified_claims(
    dirac_chain: list[x509.Certificate],
) -> None:
    assert voms_from_chain(dirac_chain, None, now=NOW) == VomsResult(
        "fakevo", (FQAN,), verified=False, reason=UNVERIFIED_REASON
    )
    assert identity_from_chain(dirac_chain, now=NOW).vo == "fakevo"
    later = dt.datetime(2029, 6, 1, tzinfo=dt.UTC)
    result = voms_from_chain(dirac_chain, None, now=later)
    assert result is not None and result.vo is None and not result.verified


def test_a_chain_without_voms_has_no_result(pki: Pki) -> None:
    assert voms_from_chain([pki.user.cert, pki.ca], None) is None


def refused(
    chain: list[x509.Certificate], trust: VomsTrust, reason: str, *, now: dt.datetime = NOW
) -> None:
    result = voms_from_chain(chain, trust, now=now)
    assert result is not None
    assert (result.vo, result.fqans, result.verified) == (None, (), False)
    assert result.reason is not None and reason in result.reason, result.reason
    identity = identity_from_chain(chain, now=now, voms_trust=trust)
    assert (identity.vo, identity.fqans) == (None, ())


def test_dirac_ac_is_refused_with_another_servers_certificate(
    dirac_chain: list[x509.Certificate], pki: Pki
) -> None:
    refused(dirac_chain, VomsTrust.of({"fakevo": [pki.host.cert]}), "no trusted VOMS server")


def test_dirac_ac_is_refused_when_the_server_is_trusted_for_another_vo(
    dirac_chain: list[x509.Certificate], vobox: x509.Certificate
) -> None:
    refused(dirac_chain, VomsTrust.of({"othervo": [vobox]}), "for the VO 'fakevo'")


def impostor(
    pki: Pki, keys: KeyPool, subject: x509.Name, *, key_identifier: bytes | None = None
) -> x509.Certificate:
    """A certificate with ``subject`` and a key of ours (and, if given, that SKI)."""
    key = keys.next()
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(pki.ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
    )
    if key_identifier is not None:
        builder = builder.add_extension(x509.SubjectKeyIdentifier(key_identifier), False)
    return builder.sign(pki.ca_key, hashes.SHA256())


def test_dirac_ac_is_refused_with_a_certificate_of_the_same_name_and_another_key(
    dirac_chain: list[x509.Certificate], vobox: x509.Certificate, pki: Pki, keys: KeyPool
) -> None:
    # Another key: the AC's authorityKeyIdentifier rules it out.
    other_key = impostor(pki, keys, vobox.subject)
    refused(dirac_chain, VomsTrust.of({"fakevo": [other_key]}), "that is not trusted")
    # Even claiming the VOBox key identifier, the signature does not verify.
    vobox_ski = vobox.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    same_ski = impostor(pki, keys, vobox.subject, key_identifier=vobox_ski)
    refused(dirac_chain, VomsTrust.of({"fakevo": [same_ski]}), "signature does not verify")


def test_tampered_signature_is_refused(
    dirac_ac: bytes, dirac_chain: list[x509.Certificate], dirac_trust: VomsTrust
) -> None:
    # The extension ends with the AC's signature.
    with pytest.raises(VomsVerificationError, match="signature does not verify"):
        verify_voms(flip(dirac_ac, len(dirac_ac) - 5), dirac_trust, holder=dirac_chain[1], now=NOW)


def test_tampered_attributes_are_refused(
    dirac_ac: bytes, dirac_chain: list[x509.Certificate], dirac_trust: VomsTrust
) -> None:
    # Role=user becomes Role=usdr: same length, still well formed, no longer signed.
    tampered = dirac_ac.replace(b"Role=user", b"Role=usdr")
    assert tampered != dirac_ac
    with pytest.raises(VomsVerificationError, match="signature does not verify"):
        verify_voms(tampered, dirac_trust, holder=dirac_chain[1], now=NOW)


@pytest.mark.parametrize(
    "moment",
    [dt.datetime(2029, 6, 1, tzinfo=dt.UTC), dt.datetime(2023, 4, 28, 13, 0, tzinfo=dt.UTC)],
    ids=["expired", "not-yet-valid"],
)
def test_ac_outside_its_validity_is_refused(
    dirac_chain: list[x509.Certificate], dirac_trust: VomsTrust, moment: dt.datetime
) -> None:
    refused(dirac_chain, dirac_trust, "not at", now=moment)


def proxy_with_voms(
    pki: Pki, keys: KeyPool, ac: bytes, *, issuer: tuple[x509.Certificate, PrivateKey] | None = None
) -> list[x509.Certificate]:
    """A proxy of the CI user (or ``issuer``) carrying the VOMS extension ``ac``, chain to the CA."""
    issuer_cert, issuer_key = issuer or (pki.user.cert, pki.user.key)
    key = keys.next()
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name(
        [
            *issuer_cert.subject.rdns,
            x509.RelativeDistinguishedName([x509.NameAttribute(x509.NameOID.COMMON_NAME, "77")]),
        ]
    )
    proxy = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject)
        .public_key(key.public_key())
        .serial_number(77)
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.UnrecognizedExtension(
                x509.ObjectIdentifier(PROXY_CERT_INFO_OID),
                encode_proxy_cert_info(ProxyInfo(POLICY_INHERIT_ALL)),
            ),
            critical=True,
        )
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(VOMS_AC_OID), ac), critical=False
        )
        .sign(issuer_key, hashes.SHA256())
    )
    return [proxy, issuer_cert, pki.ca]


def test_dirac_ac_in_a_proxy_of_another_user_is_refused(
    dirac_ac: bytes, dirac_trust: VomsTrust, pki: Pki, keys: KeyPool
) -> None:
    chain = proxy_with_voms(pki, keys, dirac_ac)
    refused(chain, dirac_trust, "issued to certificate serial 4097")
    # DIRAC's reading (no trust) would hand the stolen attributes out.
    assert identity_from_chain(chain, now=NOW).vo == "fakevo"


def test_vomsdir_layout(
    tmp_path: Path, vobox: x509.Certificate, dirac_chain: list[x509.Certificate]
) -> None:
    write_certificates(tmp_path / "fakevo" / "vobox.pem", vobox)
    (tmp_path / "fakevo" / "fakeserver.lsc").write_text("/O=Dirac Computing/O=CERN/CN=VOBox\n")
    (tmp_path / "README").write_text("not a VO")
    trust = VomsTrust.from_vomsdir(tmp_path)
    assert list(trust.servers) == ["fakevo"]
    assert voms_from_chain(dirac_chain, trust, now=NOW) == VomsResult(
        "fakevo", (FQAN,), verified=True
    )
    (tmp_path / "othervo").mkdir()
    (tmp_path / "othervo" / "broken.pem").write_text("no certificate here")
    with pytest.raises(VomsError, match=r"broken\.pem"):
        VomsTrust.from_vomsdir(tmp_path)


# --- attribute certificates signed here ---------------------------------------------------


def general_time(moment: dt.datetime) -> bytes:
    return der.encode(der.GENERALIZED_TIME, moment.strftime("%Y%m%d%H%M%SZ").encode())


def directory_names(*names: x509.Name) -> bytes:
    return der.encode(SEQ, b"".join(der.encode(0xA4, name.public_bytes()) for name in names))


def extension_element(oid: str, value: bytes, *, critical: bool = False) -> bytes:
    flag = der.encode(der.BOOLEAN, b"\xff") if critical else b""
    return der.encode(SEQ, der.encode_oid(oid) + flag + der.encode(der.OCTET_STRING, value))


def algorithm(oid: str) -> bytes:
    return der.encode(SEQ, der.encode_oid(oid) + (b"" if "10045" in oid else b"\x05\x00"))


@dataclass
class AcSpec:
    """What to put in an attribute certificate made by :func:`make_ac`."""

    holder_names: tuple[x509.Name, ...]
    holder_serial: int
    holder_form: int = 0xA0
    """``[0]`` baseCertificateID; ``[1]`` entityName."""
    not_before: dt.datetime = NOW - dt.timedelta(hours=1)
    not_after: dt.datetime = NOW + dt.timedelta(hours=11)
    algorithm: str = SHA256_RSA
    inner_algorithm: str | None = None
    key_identifier: bool = True
    extra_extensions: tuple[bytes, ...] = ()
    unused_signature_bits: int = 0
    embed_certificate: bool = True
    authority_key_identifier: bytes | None = None
    """A whole AKI value replacing the one made from the server's SKI."""


@dataclass
class VomsServer:
    cert: x509.Certificate
    key: PrivateKey

    @property
    def trust(self) -> VomsTrust:
        return VomsTrust.of({"testvo": [self.cert]})

    def sign(self, data: bytes, oid: str) -> bytes:
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            return self.key.sign(data, ec.ECDSA(hashes.SHA256()))
        assert isinstance(self.key, rsa.RSAPrivateKey)
        digest = hashes.SHA1() if oid == SHA1_RSA else hashes.SHA256()
        return self.key.sign(data, padding.PKCS1v15(), digest)


def make_ac(server: VomsServer, spec: AcSpec) -> bytes:
    """A VOMS extension value holding one AC for ``testvo`` signed by ``server``."""
    holder_value = directory_names(*spec.holder_names)
    if spec.holder_form == 0xA0:
        holder_value += der.encode(
            der.INTEGER,
            spec.holder_serial.to_bytes(21, "big", signed=True).lstrip(b"\x00") or b"\x00",
        )
    holder = der.encode(SEQ, der.encode(spec.holder_form, holder_value))
    fqans = der.encode(SEQ, der.encode(der.OCTET_STRING, b"/testvo/Role=NULL/Capability=NULL"))
    authority = der.encode(0xA0, der.encode(0x86, b"testvo://voms.example.org:15000"))
    attribute = der.encode(
        SEQ,
        der.encode_oid(VOMS_FQAN_ATTRIBUTE_OID)
        + der.encode(der.SET, der.encode(SEQ, authority + fqans)),
    )
    extensions = [extension_element(NO_REV_AVAIL_OID, b"\x05\x00")]
    if spec.key_identifier:
        ski = server.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        aki = spec.authority_key_identifier or der.encode(SEQ, der.encode(0x80, ski.value.digest))
        extensions.append(extension_element(AUTHORITY_KEY_IDENTIFIER_OID, aki))
    if spec.embed_certificate:
        certs = der.encode(SEQ, der.encode(SEQ, server.cert.public_bytes(Encoding.DER)))
        extensions.append(extension_element(VOMS_AC_CERTS_OID, certs))
    extensions.extend(spec.extra_extensions)
    info = der.encode(
        SEQ,
        der.encode(der.INTEGER, b"\x01")
        + holder
        + der.encode(0xA0, directory_names(server.cert.subject))
        + algorithm(spec.inner_algorithm or spec.algorithm)
        + der.encode(der.INTEGER, b"\x2a")
        + der.encode(SEQ, general_time(spec.not_before) + general_time(spec.not_after))
        + der.encode(SEQ, attribute)
        + der.encode(SEQ, b"".join(extensions)),
    )
    signature = server.sign(info, spec.algorithm)
    bits = der.encode(der.BIT_STRING, bytes([spec.unused_signature_bits]) + signature)
    ac = der.encode(SEQ, info + algorithm(spec.algorithm) + bits)
    return der.encode(SEQ, der.encode(SEQ, ac))


@pytest.fixture(scope="module")
def server(pki: Pki, keys: KeyPool) -> VomsServer:
    cert, key = make_host_cert(pki.ca, pki.ca_key, "voms.example.org", key=keys.next())
    return VomsServer(cert, key)


def user_spec(pki: Pki, **changes: object) -> AcSpec:
    """An AC for the CI user, named the way VOMS servers do (subject + serial)."""
    spec = AcSpec((pki.user.cert.subject,), pki.user.cert.serial_number)
    for name, value in changes.items():
        setattr(spec, name, value)
    return spec


def test_an_ac_made_here_verifies(pki: Pki, server: VomsServer) -> None:
    attributes = verify_voms(
        make_ac(server, user_spec(pki)), server.trust, holder=pki.user.cert, now=NOW
    )
    assert (attributes.vo, attributes.fqans) == ("testvo", ("/testvo/Role=NULL/Capability=NULL",))


def test_the_holder_may_be_named_by_its_issuer_as_rfc_5755_says(
    pki: Pki, server: VomsServer
) -> None:
    ac = make_ac(server, user_spec(pki, holder_names=(pki.ca.subject,)))
    verify_voms(ac, server.trust, holder=pki.user.cert, now=NOW)


def test_without_an_authority_key_identifier_the_name_selects_the_certificate(
    pki: Pki, server: VomsServer
) -> None:
    ac = make_ac(server, user_spec(pki, key_identifier=False))
    verify_voms(ac, server.trust, holder=pki.user.cert, now=NOW)


def test_an_ecdsa_signed_ac_verifies(pki: Pki, ec_key: ec.EllipticCurvePrivateKey) -> None:
    cert, key = make_host_cert(pki.ca, pki.ca_key, "ec-voms.example.org", key=ec_key)
    server = VomsServer(cert, key)
    ac = make_ac(server, user_spec(pki, algorithm=SHA256_ECDSA))
    verify_voms(ac, server.trust, holder=pki.user.cert, now=NOW)
    # An RSA algorithm OID on an ECDSA signature does not pass.
    rsa_named = make_ac(server, user_spec(pki, algorithm=SHA256_RSA))
    with pytest.raises(VomsVerificationError, match="signature does not verify"):
        verify_voms(rsa_named, server.trust, holder=pki.user.cert, now=NOW)


def test_holder_with_another_name_is_refused(pki: Pki, server: VomsServer) -> None:
    ac = make_ac(server, user_spec(pki, holder_names=(pki.stranger.cert.subject,)))
    with pytest.raises(
        VomsVerificationError, match="the AC holder /O=Elsewhere/CN=stranger is not"
    ):
        verify_voms(ac, server.trust, holder=pki.user.cert, now=NOW)


def test_holder_with_another_serial_is_refused(pki: Pki, server: VomsServer) -> None:
    ac = make_ac(server, user_spec(pki, holder_serial=pki.user.cert.serial_number + 1))
    with pytest.raises(VomsVerificationError, match="issued to certificate serial"):
        verify_voms(ac, server.trust, holder=pki.user.cert, now=NOW)


def test_holder_with_two_names_is_refused(pki: Pki, server: VomsServer) -> None:
    names = (pki.user.cert.subject, pki.ca.subject)
    ac = make_ac(server, user_spec(pki, holder_names=names))
    with pytest.raises(VomsVerificationError, match="not one directory name"):
        verify_voms(ac, server.trust, holder=pki.user.cert, now=NOW)


def test_holder_named_by_entity_name_only_is_refused(pki: Pki, server: VomsServer) -> None:
    ac = make_ac(server, user_spec(pki, holder_form=0xA1))
    with pytest.raises(VomsVerificationError, match="baseCertificateID"):
        check_holder(parse_attribute_certificate(ac), pki.user.cert)


def test_malformed_holder_is_refused(pki: Pki, server: VomsServer) -> None:
    # baseCertificateID without its serial.
    ac = make_ac(server, user_spec(pki, holder_form=0xA0))
    parsed = parse_attribute_certificate(ac)
    broken = der.decode(der.encode(SEQ, der.encode(0xA0, directory_names(pki.user.cert.subject))))
    with pytest.raises(VomsVerificationError, match="malformed AC holder"):
        check_holder(replace(parsed, holder=broken), pki.user.cert)


def test_sha1_signature_is_refused(pki: Pki, server: VomsServer) -> None:
    ac = make_ac(server, user_spec(pki, algorithm=SHA1_RSA))
    with pytest.raises(VomsVerificationError, match=f"algorithm {SHA1_RSA} is not accepted"):
        verify_voms(ac, server.trust, holder=pki.user.cert, now=NOW)


def test_two_signature_algorithms_are_refused(pki: Pki, server: VomsServer) -> None:
    ac = make_ac(server, user_spec(pki, inner_algorithm="1.2.840.113549.1.1.12"))
    with pytest.raises(VomsVerificationError, match="two different signature algorithms"):
        verify_voms(ac, server.trust, holder=pki.user.cert, now=NOW)


def test_unknown_critical_extension_is_refused(pki: Pki, server: VomsServer) -> None:
    known = extension_element("1.2.3.4", b"\x05\x00")
    verify_voms(
        make_ac(server, user_spec(pki, extra_extensions=(known,))),
        server.trust,
        holder=pki.user.cert,
        now=NOW,
    )
    critical = extension_element("1.2.3.4", b"\x05\x00", critical=True)
    ac = make_ac(server, user_spec(pki, extra_extensions=(critical,)))
    with pytest.raises(VomsVerificationError, match=r"unknown critical extension 1\.2\.3\.4"):
        verify_voms(ac, server.trust, holder=pki.user.cert, now=NOW)


def test_target_restricted_ac_is_refused(pki: Pki, server: VomsServer) -> None:
    targets = extension_element(TARGET_INFORMATION_OID, der.encode(SEQ, b""), critical=True)
    ac = make_ac(server, user_spec(pki, extra_extensions=(targets,)))
    with pytest.raises(VomsVerificationError, match="restricted to targets"):
        verify_voms(ac, server.trust, holder=pki.user.cert, now=NOW)


def test_expired_voms_server_certificate_is_refused(pki: Pki, server: VomsServer) -> None:
    later = server.cert.not_valid_after_utc + dt.timedelta(days=1)
    spec = user_spec(
        pki, not_before=later - dt.timedelta(hours=1), not_after=later + dt.timedelta(hours=1)
    )
    with pytest.raises(VomsVerificationError, match="is not valid at"):
        verify_voms(make_ac(server, spec), server.trust, holder=pki.user.cert, now=later)


def test_signature_with_unused_bits_is_malformed(
    pki: Pki, server: VomsServer, keys: KeyPool
) -> None:
    ac = make_ac(server, user_spec(pki, unused_signature_bits=3))
    with pytest.raises(VomsError, match="whole number of bytes"):
        parse_attribute_certificate(ac)
    # In a chain, a malformed signature makes the attributes unverified, not the caller unknown.
    refused(proxy_with_voms(pki, keys, ac), server.trust, "whole number of bytes")


def test_a_proxy_with_a_valid_ac_of_its_own_user(
    pki: Pki, server: VomsServer, keys: KeyPool
) -> None:
    chain = proxy_with_voms(pki, keys, make_ac(server, user_spec(pki)))
    assert voms_from_chain(chain, server.trust, now=NOW) == VomsResult(
        "testvo", ("/testvo/Role=NULL/Capability=NULL",), verified=True
    )


def test_an_ac_without_embedded_certificates_verifies(pki: Pki, server: VomsServer) -> None:
    ac = make_ac(server, user_spec(pki, embed_certificate=False))
    assert parse_attribute_certificate(ac).embedded_certificates == ()
    verify_voms(ac, server.trust, holder=pki.user.cert, now=NOW)


def test_an_authority_key_identifier_by_issuer_and_serial_is_not_a_key_match(
    pki: Pki, server: VomsServer
) -> None:
    # authorityCertSerialNumber [2] only: nothing to compare with, the signature decides.
    aki = der.encode(SEQ, der.encode(0x82, b"\x01"))
    verify_voms(
        make_ac(server, user_spec(pki, authority_key_identifier=aki)),
        server.trust,
        holder=pki.user.cert,
        now=NOW,
    )


@pytest.mark.parametrize(
    "general_names",
    [
        der.encode(SEQ, der.encode(0xA4, x509.Name([]).public_bytes())),
        der.encode(SEQ, der.encode(0x86, b"https://example.org")),
        der.encode(SEQ, der.encode(0xA4, b"")),
    ],
    ids=["empty-name", "uri", "empty-directory-name"],
)
def test_holder_that_is_not_a_directory_name_is_refused(
    pki: Pki, server: VomsServer, general_names: bytes
) -> None:
    parsed = parse_attribute_certificate(make_ac(server, user_spec(pki)))
    serial = der.encode(der.INTEGER, b"\x01")
    holder = der.decode(der.encode(SEQ, der.encode(0xA0, general_names + serial)))
    one = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "one")])
    cert = impostor_with_serial(pki, one, 1)
    with pytest.raises(VomsVerificationError, match="not one directory name"):
        check_holder(replace(parsed, holder=holder), cert)


def impostor_with_serial(pki: Pki, subject: x509.Name, serial: int) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(pki.ca.subject)
        .public_key(pki.user.key.public_key())
        .serial_number(serial)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(pki.ca_key, hashes.SHA256())
    )
