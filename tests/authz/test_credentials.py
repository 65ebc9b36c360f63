"""build_credentials: DIRAC's credential dict, byte for byte, and every refusal."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.authz.support import (
    ADMIN,
    CA,
    CIUSER,
    HOST_PROPERTIES,
    LOCALHOST,
    LONELY,
    NOW,
    STRANGER,
    SUSPENDED,
    WORKER,
    MakeIdentity,
)
from tornadoservice.authz import (
    AuthenticationError,
    AuthError,
    AuthorizationError,
    build_credentials,
    is_registered,
    visitor_credentials,
)
from tornadoservice.config import ConfigTree, Registry


def whoami_body(creds: dict[str, Any]) -> str:
    """What DIRAC's server sends for whoami: json.dumps of S_OK(credDict)."""
    return json.dumps({"OK": True, "Value": creds})


# --- the four whoami bodies of the wire reference (dirac-wire.md 5.2), byte for byte ------------


def test_proxy_matches_dirac_bytes(registry: Registry, make_identity: MakeIdentity) -> None:
    identity = make_identity(CIUSER, proxy=True, group="dirac_user", seconds_left=604792)
    creds = build_credentials(identity, registry, now=NOW)
    assert whoami_body(creds) == (
        '{"OK": true, "Value": {"subject":'
        ' "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser/CN=10987011010689215982",'
        ' "issuer": "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser", "secondsLeft": 604792, "isProxy": true,'
        ' "isLimitedProxy": false, "validDN": false, "validGroup": false,'
        ' "DN": "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser",'
        ' "identity": "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser",'
        ' "group": "dirac_user", "VO": "dirac", "properties": ["NormalUser"],'
        ' "username": "ciuser"}}'
    )


def test_plain_user_certificate_matches_dirac_bytes(
    registry: Registry, make_identity: MakeIdentity
) -> None:
    creds = build_credentials(make_identity(CIUSER), registry, now=NOW)
    assert whoami_body(creds) == (
        '{"OK": true, "Value": {"subject": "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser",'
        ' "issuer": "/O=DIRAC CI/CN=DIRAC CI Signing Certification Authority",'
        ' "secondsLeft": 2591991,'
        ' "isProxy": false, "isLimitedProxy": false, "validDN": false, "validGroup": false,'
        ' "DN": "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser", "properties": ["NormalUser"],'
        ' "group": "dirac_user", "username": "ciuser"}}'
    )


def test_host_acting_as_host_matches_dirac_bytes(
    registry: Registry, make_identity: MakeIdentity
) -> None:
    creds = build_credentials(
        make_identity(LOCALHOST), registry, extra_credentials="hosts", now=NOW
    )
    assert whoami_body(creds) == (
        '{"OK": true, "Value": {"subject": "/C=ch/O=DIRAC/OU=DIRAC CI/CN=localhost",'
        ' "issuer": "/O=DIRAC CI/CN=DIRAC CI Signing Certification Authority",'
        ' "secondsLeft": 2591991,'
        ' "isProxy": false, "isLimitedProxy": false, "validDN": false, "validGroup": false,'
        ' "DN": "/C=ch/O=DIRAC/OU=DIRAC CI/CN=localhost", "extraCredentials": "hosts",'
        ' "properties": ["TrustedHost", "CSAdministrator", "JobAdministrator", "FullDelegation",'
        ' "ProxyManagement", "Operator"], "group": "hosts", "username": "localhost"}}'
    )


def test_forwarding_matches_dirac_bytes(registry: Registry, make_identity: MakeIdentity) -> None:
    creds = build_credentials(
        make_identity(LOCALHOST, seconds_left=2591990),
        registry,
        extra_credentials=[CIUSER, "dirac_user"],
        now=NOW,
    )
    assert whoami_body(creds) == (
        '{"OK": true, "Value": {"subject": "/C=ch/O=DIRAC/OU=DIRAC CI/CN=localhost",'
        ' "issuer": "/O=DIRAC CI/CN=DIRAC CI Signing Certification Authority",'
        ' "secondsLeft": 2591990,'
        ' "isProxy": false, "isLimitedProxy": false, "validDN": false, "validGroup": false,'
        ' "DN": "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser", "properties": ["NormalUser"],'
        ' "group": "dirac_user", "username": "ciuser"}}'
    )


def test_limited_proxy(registry: Registry, make_identity: MakeIdentity) -> None:
    identity = make_identity(CIUSER, proxy=True, limited=True, group="dirac_user")
    creds = build_credentials(identity, registry, now=NOW)
    assert creds["isLimitedProxy"] is True
    assert creds["isProxy"] is True
    assert creds["username"] == "ciuser"


# --- users: groups, VOs, defaults --------------------------------------------------------------


def test_proxy_group_vo_from_registry(registry: Registry, make_identity: MakeIdentity) -> None:
    identity = make_identity(CIUSER, proxy=True, group="lhcb_user", vo="ignored")
    creds = build_credentials(identity, registry, now=NOW)
    assert (creds["group"], creds["VO"], creds["properties"]) == (
        "lhcb_user",
        "lhcb",
        ["NormalUser"],
    )


def test_proxy_vo_from_voms_when_registry_has_none(make_identity: MakeIdentity) -> None:
    registry = Registry.from_config(
        ConfigTree.from_dict(
            {"Registry": {"Users": {"u": {"DN": "/CN=u"}}, "Groups": {"g": {"Users": "u"}}}}
        )
    )
    with_voms = build_credentials(
        make_identity("/CN=u", proxy=True, group="g", vo="voms_vo"), registry
    )
    assert with_voms["VO"] == "voms_vo"
    without = build_credentials(make_identity("/CN=u", proxy=True, group="g"), registry)
    assert without["VO"] == ""
    assert without["properties"] == []
    assert without["username"] == "u"


def test_proxy_without_group_uses_default_group(
    registry: Registry, make_identity: MakeIdentity
) -> None:
    creds = build_credentials(make_identity(ADMIN, proxy=True), registry, now=NOW)
    assert list(creds) == [
        "subject",
        "issuer",
        "secondsLeft",
        "isProxy",
        "isLimitedProxy",
        "validDN",
        "validGroup",
        "DN",
        "identity",
        "properties",
        "group",
        "username",
    ]
    assert (creds["group"], creds["username"]) == ("dirac_user", "adminusername")


def test_proxy_for_another_group(registry: Registry, make_identity: MakeIdentity) -> None:
    creds = build_credentials(make_identity(ADMIN, proxy=True, group="dirac_admin"), registry)
    assert creds["properties"] == ["ServiceAdministrator", "Operator"]
    assert is_registered(creds)


def test_properties_are_a_fresh_list(registry: Registry, make_identity: MakeIdentity) -> None:
    first = build_credentials(make_identity(CIUSER), registry)
    first["properties"].append("Injected")
    assert build_credentials(make_identity(CIUSER), registry)["properties"] == ["NormalUser"]


def test_seconds_left_never_negative(registry: Registry, make_identity: MakeIdentity) -> None:
    creds = build_credentials(make_identity(CIUSER, seconds_left=-50), registry, now=NOW)
    assert creds["secondsLeft"] == 0


# --- anonymous visitors ------------------------------------------------------------------------

PLAIN_VISITOR_KEYS = [
    "subject",
    "issuer",
    "secondsLeft",
    "isProxy",
    "isLimitedProxy",
    "validDN",
    "validGroup",
    "DN",
    "properties",
    "username",
    "group",
]


@pytest.mark.parametrize(
    "dn",
    [
        STRANGER,  # unknown DN
        LONELY,  # registered user without any group
        LOCALHOST,  # a host certificate without extraCredentials is not a user
    ],
)
def test_unknown_identities_are_anonymous_visitors(
    registry: Registry, make_identity: MakeIdentity, dn: str
) -> None:
    creds = build_credentials(make_identity(dn), registry, now=NOW)
    assert list(creds) == PLAIN_VISITOR_KEYS
    assert (creds["DN"], creds["username"], creds["group"], creds["properties"]) == (
        dn,
        "anonymous",
        "visitor",
        [],
    )
    assert not is_registered(creds)


def test_unknown_proxy_with_group_is_a_visitor(
    registry: Registry, make_identity: MakeIdentity
) -> None:
    creds = build_credentials(make_identity(STRANGER, proxy=True, group="dirac_user"), registry)
    assert list(creds)[-5:] == ["identity", "group", "VO", "properties", "username"]
    assert (creds["group"], creds["VO"], creds["username"], creds["properties"]) == (
        "visitor",
        "dirac",
        "anonymous",
        [],
    )


def test_no_certificate_is_the_minimal_visitor(registry: Registry) -> None:
    creds = build_credentials(None, registry)
    assert creds == {"properties": [], "username": "anonymous", "group": "visitor"}
    assert creds == visitor_credentials()
    assert not is_registered(creds)


# --- hosts and forwarding ----------------------------------------------------------------------


def test_host_without_trusted_host_acts_as_itself(
    registry: Registry, make_identity: MakeIdentity
) -> None:
    creds = build_credentials(make_identity(WORKER), registry, extra_credentials="hosts")
    assert (creds["username"], creds["group"], creds["properties"]) == (
        "worker",
        "hosts",
        ["GenericPilot"],
    )
    assert is_registered(creds)


def test_forwarding_a_user_to_another_group(
    registry: Registry, make_identity: MakeIdentity
) -> None:
    creds = build_credentials(
        make_identity(LOCALHOST), registry, extra_credentials=(ADMIN, "dirac_admin")
    )
    assert (creds["DN"], creds["username"], creds["group"]) == (
        ADMIN,
        "adminusername",
        "dirac_admin",
    )
    assert creds["subject"] == LOCALHOST  # the host's certificate
    assert "extraCredentials" not in creds


def test_forwarding_a_host(registry: Registry, make_identity: MakeIdentity) -> None:
    creds = build_credentials(
        make_identity(LOCALHOST), registry, extra_credentials=[WORKER, "hosts"]
    )
    assert (creds["DN"], creds["username"], creds["group"], creds["properties"]) == (
        WORKER,
        "worker",
        "hosts",
        ["GenericPilot"],
    )


def test_forwarding_an_unknown_dn_gives_a_visitor(
    registry: Registry, make_identity: MakeIdentity
) -> None:
    creds = build_credentials(
        make_identity(LOCALHOST), registry, extra_credentials=[STRANGER, "dirac_user"]
    )
    assert (creds["DN"], creds["username"], creds["group"]) == (STRANGER, "anonymous", "visitor")


def test_trusted_host_property_is_case_insensitive(make_identity: MakeIdentity) -> None:
    registry = Registry.from_config(
        ConfigTree.from_dict(
            {
                "Registry": {
                    "Users": {"u": {"DN": "/CN=u"}},
                    "Groups": {"g": {"Users": "u"}},
                    "Hosts": {"h": {"DN": "/CN=h", "Properties": "trustedhost"}},
                }
            }
        )
    )
    creds = build_credentials(make_identity("/CN=h"), registry, extra_credentials=["/CN=u", "g"])
    assert creds["username"] == "u"


def test_proxy_carrying_the_hosts_group_is_the_host(
    registry: Registry, make_identity: MakeIdentity
) -> None:
    creds = build_credentials(make_identity(LOCALHOST, proxy=True, group="hosts"), registry)
    assert (creds["username"], creds["group"], creds["properties"]) == (
        "localhost",
        "hosts",
        HOST_PROPERTIES,
    )


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dn", "kwargs", "extra", "reason"),
    [
        # A proxy for a group the user is not a member of.
        (
            CIUSER,
            {"proxy": True, "group": "dirac_admin"},
            None,
            f"'{CIUSER}' is not a member of group 'dirac_admin'",
        ),
        (CIUSER, {"proxy": True, "group": "no_such_group"}, None, "is not a member of group"),
        # A suspended user, in the VO of the group they act in (the default group too).
        (
            SUSPENDED,
            {"proxy": True, "group": "dirac_user"},
            None,
            "user suspendedUser is suspended in VO dirac (group dirac_user)",
        ),
        (SUSPENDED, {}, None, "user suspendedUser is suspended in VO dirac"),
        # "hosts" from something that is not a registered host.
        (CIUSER, {}, "hosts", f"'{CIUSER}' asks to act as a host but is no registered host"),
        (STRANGER, {}, "hosts", "asks to act as a host but is no registered host"),
        # Forwarding from a non-trusted host, a user proxy, a user certificate, a stranger.
        (
            WORKER,
            {},
            [CIUSER, "dirac_user"],
            "host worker forwards credentials but lacks the TrustedHost property",
        ),
        (
            CIUSER,
            {"proxy": True, "group": "dirac_user"},
            [ADMIN, "dirac_admin"],
            f"'{CIUSER}' forwards credentials but is no registered host",
        ),
        (CIUSER, {}, [ADMIN, "dirac_admin"], "forwards credentials but is no registered host"),
        (STRANGER, {}, [ADMIN, "dirac_admin"], "forwards credentials but is no registered host"),
        # A trusted host forwarding a user into a group that user is not in, or a suspended one.
        (LOCALHOST, {}, [CIUSER, "dirac_admin"], "is not a member of group 'dirac_admin'"),
        (LOCALHOST, {}, [SUSPENDED, "dirac_user"], "user suspendedUser is suspended in VO dirac"),
        # Forwarding a "host" that is none.
        (LOCALHOST, {}, [CIUSER, "hosts"], "asks to act as a host but is no registered host"),
    ],
)
def test_refusals(
    registry: Registry,
    make_identity: MakeIdentity,
    dn: str,
    kwargs: dict[str, Any],
    extra: object,
    reason: str,
) -> None:
    with pytest.raises(AuthenticationError) as info:
        build_credentials(make_identity(dn, **kwargs), registry, extra_credentials=extra)
    assert reason in info.value.reason
    assert info.value.status == 401


def test_suspension_is_per_vo(registry: Registry, make_identity: MakeIdentity) -> None:
    # Suspended in "dirac" only: acting in the lhcb group is fine.
    identity = make_identity(SUSPENDED, proxy=True, group="lhcb_user")
    assert build_credentials(identity, registry)["username"] == "suspendedUser"


@pytest.mark.parametrize(
    "extra",
    [
        "foo",
        "",
        "Hosts",
        [CIUSER],
        [CIUSER, "dirac_user", "x"],
        [CIUSER, 1],
        [None, "dirac_user"],
        ["", "dirac_user"],
        [CIUSER, "  "],
        {"DN": CIUSER, "group": "dirac_user"},
        42,
        True,
        [],
    ],
)
def test_bad_extra_credentials(
    registry: Registry, make_identity: MakeIdentity, extra: object
) -> None:
    with pytest.raises(AuthenticationError, match="unsupported extraCredentials"):
        build_credentials(make_identity(LOCALHOST), registry, extra_credentials=extra)


def test_extra_credentials_without_certificate(registry: Registry) -> None:
    with pytest.raises(AuthenticationError, match="without a client certificate"):
        build_credentials(None, registry, extra_credentials="hosts")


def test_reasons_are_one_line_and_bounded(registry: Registry, make_identity: MakeIdentity) -> None:
    with pytest.raises(AuthenticationError) as info:
        build_credentials(
            make_identity(LOCALHOST), registry, extra_credentials="x" * 500 + "\nFAKE LOG LINE"
        )
    assert "\n" not in info.value.reason
    assert len(info.value.reason) < 250
    with pytest.raises(AuthenticationError) as info:
        build_credentials(
            make_identity("/CN=evil\nFAKE"), registry, extra_credentials=[CIUSER, "dirac_user"]
        )
    assert str(info.value) == "'/CN=evil\\nFAKE' forwards credentials but is no registered host"


def test_error_hierarchy() -> None:
    assert issubclass(AuthenticationError, AuthError)
    assert issubclass(AuthorizationError, AuthError)
    assert (AuthenticationError.status, AuthorizationError.status) == (401, 403)
    error = AuthorizationError("line one\nline two\ttab")
    assert error.reason == "line one\\nline two\\ttab"
    assert str(error) == error.reason


def test_is_registered() -> None:
    assert is_registered({"username": "u", "group": "g"})
    assert is_registered({"username": "h", "group": "hosts"})
    assert not is_registered({"username": "anonymous", "group": "g"})
    assert not is_registered({"username": "u", "group": "visitor"})
    assert not is_registered({"username": "", "group": "g"})
    assert not is_registered({"properties": []})


def test_issuer_of_plain_certificate(registry: Registry, make_identity: MakeIdentity) -> None:
    assert build_credentials(make_identity(CIUSER), registry)["issuer"] == CA
