"""identity_from_chain: DIRAC's reading of a verified chain, and where we deliberately differ."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.identity.conftest import (
    USER_DN,
    Credential,
    KeyPool,
    Pki,
    legacy_proxy,
)
from tests.support.testdata import DIRAC_TESTDATA
from tornadoservice.identity.pem import load_pem_chain
from tornadoservice.identity.pki import make_ca, make_user_cert
from tornadoservice.identity.proxy import (
    DIRAC_GROUP_OID,
    PROXY_CERT_INFO_OID,
    ProxyInfo,
    encode_proxy_cert_info,
    make_proxy,
)
from tornadoservice.identity.x509 import IdentityError, X509Identity, identity_from_chain

CA_DN = "/O=DIRAC Computing/CN=DIRAC Computing Signing Certification Authority"


def load_testdata(path: str) -> list[x509.Certificate]:
    certs, _ = load_pem_chain(DIRAC_TESTDATA / path)
    return certs


@pytest.fixture(scope="module")
def dirac_ca() -> x509.Certificate:
    return load_testdata("ca/ca.cert.pem")[0]


# --- the DIRAC test vectors (EXPECTED.md) -------------------------------------------------


def test_dirac_voms_proxy(dirac_ca: x509.Certificate) -> None:
    identity = identity_from_chain([*load_testdata("voms/proxy.pem"), dirac_ca])
    assert identity == X509Identity(
        subject="/O=Dirac Computing/O=CERN/CN=MrUser/CN=2436405021",
        issuer="/O=Dirac Computing/O=CERN/CN=MrUser",
        dn="/O=Dirac Computing/O=CERN/CN=MrUser",
        is_proxy=True,
        is_limited_proxy=False,
        not_after=dt.datetime(2029, 1, 9, 21, 54, 37, tzinfo=dt.UTC),
        group=None,
        vo="fakevo",
        fqans=("/fakevo/Role=user/Capability=NULL",),
    )
    proxy = load_testdata("voms/proxy.pem")[0]
    assert proxy.not_valid_before_utc == dt.datetime(2023, 4, 28, 13, 49, 37, tzinfo=dt.UTC)


def test_dirac_voms_proxy_without_the_ca() -> None:
    # What a client sends (the unverified chain) parses the same way.
    identity = identity_from_chain(load_testdata("voms/proxy.pem"))
    assert identity.dn == "/O=Dirac Computing/O=CERN/CN=MrUser"


def test_expired_voms_attributes_are_dropped(dirac_ca: x509.Certificate) -> None:
    later = dt.datetime(2029, 6, 1, tzinfo=dt.UTC)
    identity = identity_from_chain([*load_testdata("voms/proxy.pem"), dirac_ca], now=later)
    assert (identity.vo, identity.fqans) == (None, ())


@pytest.mark.parametrize(
    ("path", "dn", "not_after"),
    [
        (
            "user/usercert.pem",
            "/O=Dirac Computing/O=CERN/CN=MrUser",
            dt.datetime(2037, 10, 21, 9, 15, 14, tzinfo=dt.UTC),
        ),
        (
            "host/hostcert.pem",
            "/O=Dirac Computing/O=CERN/CN=VOBox",
            dt.datetime(2037, 10, 21, 9, 18, 17, tzinfo=dt.UTC),
        ),
    ],
)
def test_dirac_certificates(
    path: str, dn: str, not_after: dt.datetime, dirac_ca: x509.Certificate
) -> None:
    identity = identity_from_chain([*load_testdata(path), dirac_ca])
    assert identity == X509Identity(
        subject=dn,
        issuer=CA_DN,
        dn=dn,
        is_proxy=False,
        is_limited_proxy=False,
        not_after=not_after,
    )


def test_dirac_ca_alone(dirac_ca: x509.Certificate) -> None:
    identity = identity_from_chain([dirac_ca])
    assert identity.dn == identity.subject == identity.issuer == CA_DN
    # The CA expires last of the chain; alone it bounds the chain itself.
    assert identity.not_after == dirac_ca.not_valid_after_utc


# --- our own proxies ----------------------------------------------------------------------


def chain_of(credential: Credential, pki: Pki) -> list[x509.Certificate]:
    return [*credential.chain, pki.ca]


def test_group_from_the_first_proxy_generation(
    pki: Pki, keys: KeyPool, user_proxy: Credential
) -> None:
    relabelled = pki.proxy(user_proxy, "relabelled", keys, group="dirac_admin")
    identity = identity_from_chain(chain_of(relabelled, pki))
    assert identity.group == "dirac_user"
    assert identity.dn == USER_DN
    assert identity.issuer == f"{USER_DN}/CN={user_proxy.cert.serial_number}"


def test_group_from_a_later_proxy_when_the_first_has_none(pki: Pki, keys: KeyPool) -> None:
    plain = pki.proxy(pki.user, "plain", keys)
    assert identity_from_chain(chain_of(plain, pki)).group is None
    labelled = pki.proxy(plain, "labelled", keys, group="dirac_user")
    assert identity_from_chain(chain_of(labelled, pki)).group == "dirac_user"


def test_limited_anywhere_in_the_chain(pki: Pki, keys: KeyPool) -> None:
    limited = pki.proxy(pki.user, "limited", keys, limited=True)
    child = pki.proxy(limited, "limited-child", keys)
    for credential in (limited, child):
        identity = identity_from_chain(chain_of(credential, pki))
        assert identity.is_proxy and identity.is_limited_proxy and identity.dn == USER_DN


def test_independent_proxy_has_its_own_identity(pki: Pki, keys: KeyPool) -> None:
    parent = pki.proxy(pki.user, "parent", keys, group="dirac_user")
    independent = pki.proxy(parent, "independent", keys, independent=True, group="own_group")
    below = pki.proxy(independent, "below-independent", keys)
    independent_dn = f"{USER_DN}/CN={parent.cert.serial_number}/CN={independent.cert.serial_number}"
    for credential in (independent, below):
        identity = identity_from_chain(chain_of(credential, pki))
        assert identity.dn == independent_dn
        # Only proxies acting for that identity count: the parent's group is someone else's.
        assert identity.group == "own_group"


def test_not_after_is_the_earliest_of_the_chain(pki: Pki, keys: KeyPool) -> None:
    proxy = pki.proxy(pki.user, "short", keys)
    identity = identity_from_chain(chain_of(proxy, pki))
    assert identity.not_after == proxy.cert.not_valid_after_utc
    assert 0 < identity.seconds_left() <= 24 * 3600
    assert identity.seconds_left(identity.not_after + dt.timedelta(seconds=5)) == 0


def test_legacy_proxies(pki: Pki, keys: KeyPool) -> None:
    plain, _ = legacy_proxy(pki, keys, "proxy")
    identity = identity_from_chain([plain, pki.user.cert, pki.ca])
    assert identity.is_proxy and not identity.is_limited_proxy and identity.dn == USER_DN
    limited, _ = legacy_proxy(pki, keys, "limited proxy")
    assert identity_from_chain([limited, pki.user.cert, pki.ca]).is_limited_proxy


# --- refused chains -----------------------------------------------------------------------


def custom_proxy(
    pki: Pki,
    keys: KeyPool,
    extensions: list[tuple[str, bytes]],
    *,
    subject: x509.Name | None = None,
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    now = dt.datetime.now(dt.UTC)
    key = keys.next()
    if subject is None:
        subject = x509.Name(
            [
                *pki.user.cert.subject.rdns,
                x509.RelativeDistinguishedName(
                    [x509.NameAttribute(x509.NameOID.COMMON_NAME, "42")]
                ),
            ]
        )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(pki.user.cert.subject)
        .public_key(key.public_key())
        .serial_number(42)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(hours=1))
    )
    for oid, value in extensions:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value), critical=False
        )
    return builder.sign(pki.user.key, hashes.SHA256()), key


def test_empty_chain() -> None:
    with pytest.raises(IdentityError, match="empty"):
        identity_from_chain([])


def test_broken_link(pki: Pki, user_proxy: Credential) -> None:
    with pytest.raises(IdentityError, match="was not issued by"):
        identity_from_chain([user_proxy.cert, pki.revoked.cert, pki.ca])


def test_proxy_without_its_issuer(user_proxy: Credential) -> None:
    with pytest.raises(IdentityError, match="not the certificate that issued them"):
        identity_from_chain([user_proxy.cert])


def test_unknown_policy_language_is_refused(pki: Pki, keys: KeyPool) -> None:
    custom, _ = custom_proxy(
        pki, keys, [(PROXY_CERT_INFO_OID, encode_proxy_cert_info(ProxyInfo("1.2.3.4")))]
    )
    with pytest.raises(IdentityError, match=r"unsupported policy language 1\.2\.3\.4"):
        identity_from_chain([custom, pki.user.cert, pki.ca])


def test_malformed_proxy_cert_info_is_refused(pki: Pki, keys: KeyPool) -> None:
    broken, _ = custom_proxy(pki, keys, [(PROXY_CERT_INFO_OID, b"\x30\x00")])
    with pytest.raises(IdentityError, match="malformed proxyCertInfo"):
        identity_from_chain([broken, pki.user.cert, pki.ca])


def test_malformed_group_is_refused(pki: Pki, keys: KeyPool) -> None:
    info = encode_proxy_cert_info(ProxyInfo("1.3.6.1.5.5.7.21.1"))
    broken, _ = custom_proxy(
        pki, keys, [(PROXY_CERT_INFO_OID, info), (DIRAC_GROUP_OID, b"\x04\x01x")]
    )
    with pytest.raises(IdentityError, match="malformed DIRAC group"):
        identity_from_chain([broken, pki.user.cert, pki.ca])


def test_malformed_voms_is_refused(pki: Pki, keys: KeyPool) -> None:
    info = encode_proxy_cert_info(ProxyInfo("1.3.6.1.5.5.7.21.1"))
    broken, _ = custom_proxy(
        pki, keys, [(PROXY_CERT_INFO_OID, info), ("1.3.6.1.4.1.8005.100.100.5", b"\x30\x00")]
    )
    with pytest.raises(IdentityError, match="malformed VOMS"):
        identity_from_chain([broken, pki.user.cert, pki.ca])


def test_badly_named_proxy_is_refused(pki: Pki, keys: KeyPool) -> None:
    info = encode_proxy_cert_info(ProxyInfo("1.3.6.1.5.5.7.21.1"))
    wrong = x509.Name(
        [
            *pki.user.cert.subject.rdns,
            x509.RelativeDistinguishedName(
                [x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "x")]
            ),
        ]
    )
    misnamed, _ = custom_proxy(pki, keys, [(PROXY_CERT_INFO_OID, info)], subject=wrong)
    with pytest.raises(IdentityError, match="not named after its issuer plus one CN"):
        identity_from_chain([misnamed, pki.user.cert, pki.ca])


def test_path_length_constraint(pki: Pki, keys: KeyPool) -> None:
    info = encode_proxy_cert_info(ProxyInfo("1.3.6.1.5.5.7.21.1", path_length=0))
    constrained_cert, key = custom_proxy(pki, keys, [(PROXY_CERT_INFO_OID, info)])
    child, _ = make_proxy(constrained_cert, key, [pki.user.cert], key=keys.next())
    assert identity_from_chain([constrained_cert, pki.user.cert, pki.ca]).is_proxy
    with pytest.raises(IdentityError, match="allows 0 proxies below it"):
        identity_from_chain([child, constrained_cert, pki.user.cert, pki.ca])


def test_identity_uses_openssl_name_matching(pki: Pki, keys: KeyPool) -> None:
    # A CA re-encoded with different case still issued the user, as far as OpenSSL goes.
    upper_ca, upper_key = make_ca(
        "DIRAC CI SIGNING CERTIFICATION AUTHORITY", base_dn="/O=dirac ci", key=keys.next()
    )
    user, _ = make_user_cert(upper_ca, upper_key, "/CN=x", key=keys.next())
    identity = identity_from_chain([user, pki.ca])
    assert identity.issuer == "/O=dirac ci/CN=DIRAC CI SIGNING CERTIFICATION AUTHORITY"
