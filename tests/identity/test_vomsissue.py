"""VOMS attribute certificates signed by the development VOMS server (identity.vomsissue)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from tests.identity.conftest import KeyPool, Pki
from tornadoservice.identity.devpki import DevPKI, DevPKIError
from tornadoservice.identity.pem import PrivateKey, load_private_key
from tornadoservice.identity.pki import make_host_cert
from tornadoservice.identity.proxy import make_proxy, write_proxy_file
from tornadoservice.identity.voms import VomsTrust, VomsVerificationError, verify_voms
from tornadoservice.identity.vomsissue import VomsIssueError, issue_voms_extension
from tornadoservice.identity.x509 import VomsResult, identity_from_chain, voms_from_chain

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
HOUR = dt.timedelta(hours=1)
FQANS = ("/testvo/Role=production/Capability=NULL", "/testvo/analysis/Role=NULL/Capability=NULL")


@pytest.fixture(scope="module")
def voms_server(pki: Pki, keys: KeyPool) -> tuple[x509.Certificate, PrivateKey]:
    return make_host_cert(pki.ca, pki.ca_key, "voms.example.org", key=keys.next())


def issue(
    server: tuple[x509.Certificate, PrivateKey], holder: x509.Certificate, **changes: object
) -> bytes:
    options: dict[str, object] = {
        "vo": "testvo",
        "fqans": FQANS,
        "not_before": NOW - HOUR,
        "not_after": NOW + HOUR,
        **changes,
    }
    return issue_voms_extension(server[0], server[1], holder, **options)  # type: ignore[arg-type]


def test_an_issued_ac_verifies_for_its_holder(
    pki: Pki, voms_server: tuple[x509.Certificate, PrivateKey]
) -> None:
    trust = VomsTrust.of({"testvo": [voms_server[0]]})
    attributes = verify_voms(
        issue(voms_server, pki.user.cert), trust, holder=pki.user.cert, now=NOW
    )
    assert (attributes.vo, attributes.fqans) == ("testvo", FQANS)
    # Another user cannot use it: the holder is bound by issuer and serial.
    with pytest.raises(VomsVerificationError, match="issued to certificate serial"):
        verify_voms(issue(voms_server, pki.user.cert), trust, holder=pki.revoked.cert, now=NOW)
    # After its end, it is refused.
    with pytest.raises(VomsVerificationError, match="not at"):
        verify_voms(
            issue(voms_server, pki.user.cert), trust, holder=pki.user.cert, now=NOW + 2 * HOUR
        )


def test_the_default_fqan_is_plain_membership(
    pki: Pki, voms_server: tuple[x509.Certificate, PrivateKey]
) -> None:
    trust = VomsTrust.of({"testvo": [voms_server[0]]})
    ac = issue(voms_server, pki.user.cert, fqans=())
    assert verify_voms(ac, trust, holder=pki.user.cert, now=NOW).fqans == (
        "/testvo/Role=NULL/Capability=NULL",
    )


def test_an_ecdsa_voms_server_signs_too(pki: Pki, ec_key: ec.EllipticCurvePrivateKey) -> None:
    server = make_host_cert(pki.ca, pki.ca_key, "ec-voms.example.org", key=ec_key)
    trust = VomsTrust.of({"testvo": [server[0]]})
    verify_voms(issue(server, pki.user.cert), trust, holder=pki.user.cert, now=NOW)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"vo": "bad vo"}, "is not a VO name"),
        ({"vo": "../etc"}, "is not a VO name"),
        ({"fqans": ("/othervo/Role=NULL",)}, "is not in the VO 'testvo'"),
        ({"fqans": ("/testvo2/Role=NULL",)}, "is not in the VO 'testvo'"),
        ({"fqans": ("/testvo/Role=a b",)}, "is not in the VO"),
        ({"not_after": NOW - 2 * HOUR}, "would end before it starts"),
    ],
)
def test_requests_a_voms_server_would_refuse(
    pki: Pki,
    voms_server: tuple[x509.Certificate, PrivateKey],
    changes: dict[str, object],
    message: str,
) -> None:
    with pytest.raises(VomsIssueError, match=message):
        issue(voms_server, pki.user.cert, **changes)


def test_a_key_that_is_not_the_servers_is_refused(
    pki: Pki, voms_server: tuple[x509.Certificate, PrivateKey], keys: KeyPool
) -> None:
    with pytest.raises(VomsIssueError, match="does not belong"):
        issue((voms_server[0], keys.next()), pki.user.cert)


def test_dev_pki_voms_server_and_vomsdir(tmp_path: Path) -> None:
    dev = DevPKI(tmp_path / "pki")
    dev.create()
    user = dev.issue_user("/O=tornadoservice/CN=alice")
    dev.issue_voms("testvo", host="voms.localhost")
    assert sorted(p.name for p in (dev.voms_dir() / "testvo").iterdir()) == [
        "voms.localhost.lsc",
        "voms.localhost.pem",
    ]
    trust = VomsTrust.from_vomsdir(dev.voms_dir())
    server_cert, server_key = dev.load_voms("testvo")
    user_cert = x509.load_pem_x509_certificate(user.cert.read_bytes())
    user_key = load_private_key(user.key)

    def sign(start: dt.datetime, end: dt.datetime) -> bytes:
        return issue_voms_extension(
            server_cert, server_key, user_cert, "testvo", FQANS, not_before=start, not_after=end
        )

    proxy, proxy_key = make_proxy(user_cert, user_key, [user_cert], group="g", voms=sign)
    chain = [proxy, user_cert]
    assert voms_from_chain(chain, trust) == VomsResult("testvo", FQANS, verified=True)
    assert identity_from_chain(chain, voms_trust=trust).fqans == FQANS
    # The AC's validity is the proxy's.
    path = write_proxy_file(tmp_path / "proxy.pem", proxy, proxy_key, [user_cert])
    # Issuing the VO's server again replaces it: the old AC no longer verifies.
    dev.issue_voms("testvo", host="voms2.localhost")
    renewed = VomsTrust.from_vomsdir(dev.voms_dir())
    result = voms_from_chain(chain, renewed)
    assert result is not None and not result.verified
    assert [p.name for p in (dev.voms_dir() / "testvo").glob("*.pem")] == ["voms2.localhost.pem"]
    assert path.stat().st_mode & 0o077 == 0
    with pytest.raises(DevPKIError, match="no VOMS server for the VO 'othervo'"):
        dev.load_voms("othervo")
    with pytest.raises(DevPKIError, match="is not a VO name"):
        dev.issue_voms("../x")
