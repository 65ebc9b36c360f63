"""Registry: /Registry read once into lookup tables, with DIRAC 9's semantics."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from tornadoservice.config import ConfigTree, Group, Host, Registry, User

DATA = Path(__file__).parent / "data"
CIUSER = "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser"
ADMIN = "/C=ch/O=DIRAC/OU=DIRAC CI/CN=admin"
ADMIN_OTHER_CA = "/C=ch/O=Other CA/CN=admin"
LOCALHOST = "/C=ch/O=DIRAC/OU=DIRAC CI/CN=localhost"


@pytest.fixture(scope="module", params=["dirac.cfg", "dirac.yaml"])
def registry(request: pytest.FixtureRequest) -> Registry:
    return Registry.from_config(ConfigTree.load(DATA / request.param))


def registry_from(data: dict[str, Any]) -> Registry:
    return Registry.from_config(ConfigTree.from_dict(data))


def test_user_for_dn(registry: Registry) -> None:
    assert registry.user_for_dn(CIUSER) == "ciuser"
    # Both DNs of a comma-separated list.
    assert registry.user_for_dn(ADMIN) == "adminusername"
    assert registry.user_for_dn(ADMIN_OTHER_CA) == "adminusername"
    assert registry.user_for_dn(f"  {CIUSER} ") == "ciuser"
    assert registry.user_for_dn("/C=ch/O=DIRAC/OU=DIRAC CI/CN=nobody") is None
    # Exact comparison: no case folding, no prefix match.
    assert registry.user_for_dn(CIUSER.lower()) is None
    assert registry.user_for_dn(CIUSER + "/CN=proxy") is None
    # Hosts are not users.
    assert registry.user_for_dn(LOCALHOST) is None


def test_user_for_dn_in_group(registry: Registry) -> None:
    assert registry.user_for_dn(CIUSER, "dirac_user") == "ciuser"
    assert registry.user_for_dn(CIUSER, "dirac_admin") is None
    assert registry.user_for_dn(CIUSER, "no_such_group") is None
    assert registry.user_for_dn(ADMIN_OTHER_CA, "dirac_admin") == "adminusername"


def test_shared_dn_picks_first_user_of_the_group() -> None:
    dn = "/CN=shared"
    registry = registry_from(
        {
            "Registry": {
                "Users": {"alice": {"DN": dn}, "bob": {"DN": dn}, "carol": {"DN": "/CN=c"}},
                "Groups": {
                    "g1": {"Users": "bob, alice"},
                    "g2": {"Users": "alice, bob"},
                    "g3": {"Users": "carol, bob"},
                },
            }
        }
    )
    # Without a group: the first user in definition order.
    assert registry.user_for_dn(dn) == "alice"
    # With a group: the first one of the group's Users list, as DIRAC scans it.
    assert registry.user_for_dn(dn, "g1") == "bob"
    assert registry.user_for_dn(dn, "g2") == "alice"
    assert registry.user_for_dn(dn, "g3") == "bob"


def test_groups_for_user_sorted(registry: Registry) -> None:
    assert registry.groups_for_user("ciuser") == ("dirac_user", "lhcb_user", "prod")
    assert registry.groups_for_user("adminusername") == ("dirac_admin", "dirac_user", "prod")
    assert registry.groups_for_user("lonelyUser") == ()
    assert registry.groups_for_user("ghost") == ()
    assert registry.is_member("ciuser", "prod")
    assert not registry.is_member("trialUser", "prod")
    assert not registry.is_member("ciuser", "no_such_group")


def test_group_properties_keep_case_and_order(registry: Registry) -> None:
    assert registry.group_properties("dirac_user") == ("NormalUser",)
    assert registry.group_properties("dirac_admin") == (
        "AlarmsManagement",
        "ServiceAdministrator",
        "CSAdministrator",
        "JobAdministrator",
        "FullDelegation",
        "ProxyManagement",
        "Operator",
    )
    assert registry.group_properties("no_such_group") == ()


def test_group_vo_falls_back_to_dirac_virtual_organization(registry: Registry) -> None:
    assert registry.group_vo("lhcb_user") == "lhcb"
    assert registry.group_vo("dirac_user") == "dirac"  # from /DIRAC/VirtualOrganization
    assert registry.group_vo("no_such_group") is None
    assert registry.groups_in_vo("lhcb") == frozenset({"lhcb_user"})
    assert registry.groups_in_vo("dirac") == frozenset({"dirac_user", "dirac_admin", "prod"})
    assert registry.groups_in_vo("atlas") == frozenset()


def test_group_vo_without_fallback() -> None:
    registry = registry_from(
        {"Registry": {"Groups": {"g": {"Users": "u"}, "h": {"Users": "u", "VO": " "}}}}
    )
    assert registry.group_vo("g") is None
    assert registry.group_vo("h") is None  # blank counts as unset


def test_default_group(registry: Registry) -> None:
    # /Registry/DefaultGroup = dirac_user
    assert registry.default_groups == ("dirac_user",)
    assert registry.default_group_for_user("ciuser") == "dirac_user"
    # The user's own DefaultGroup comes first.
    assert registry.default_group_for_user("adminusername") == "dirac_admin"
    # No groups: no default group.
    assert registry.default_group_for_user("lonelyUser") is None
    assert registry.default_group_for_user("ghost") is None


@pytest.mark.parametrize(
    ("registry_section", "expected_default_groups", "expected"),
    [
        # Absent: DIRAC's default "user".
        ({}, ("user",), "user"),
        # A list: the first one the user belongs to.
        ({"DefaultGroup": "nope, beta, user"}, ("nope", "beta", "user"), "beta"),
        # Present but empty: no preference; the first of the user's groups by name.
        ({"DefaultGroup": ""}, (), "alpha"),
        # None matches: the first of the user's groups by name.
        ({"DefaultGroup": "nope"}, ("nope",), "alpha"),
    ],
)
def test_default_group_rules(
    registry_section: dict[str, str], expected_default_groups: tuple[str, ...], expected: str
) -> None:
    groups = {name: {"Users": "u"} for name in ("user", "beta", "alpha")}
    registry = registry_from(
        {"Registry": {**registry_section, "Users": {"u": {"DN": "/CN=u"}}, "Groups": groups}}
    )
    assert registry.default_groups == expected_default_groups
    assert registry.default_group_for_user("u") == expected


def test_hosts(registry: Registry) -> None:
    assert registry.host_for_dn(LOCALHOST) == "localhost"
    assert registry.host_for_dn(f" {LOCALHOST}") == "localhost"
    assert registry.host_for_dn(CIUSER) is None
    assert registry.host_properties("localhost") == (
        "TrustedHost",
        "CSAdministrator",
        "JobAdministrator",
        "FullDelegation",
        "ProxyManagement",
        "Operator",
    )
    assert registry.host_properties("worker.example.org") == ("GenericPilot",)
    assert registry.host_properties("ghost") == ()


def test_suspension_is_per_vo(registry: Registry) -> None:
    assert registry.is_suspended("suspendedUser", "dirac")
    assert not registry.is_suspended("suspendedUser", "lhcb")
    assert not registry.is_suspended("suspendedUser", None)
    assert not registry.is_suspended("ciuser", "dirac")
    assert not registry.is_suspended("ghost", "dirac")


def test_entities_are_frozen_dataclasses(registry: Registry) -> None:
    user = registry.users["adminusername"]
    assert user == User(
        name="adminusername",
        dns=(ADMIN, ADMIN_OTHER_CA),
        default_groups=("dirac_admin",),
        suspended_vos=(),
    )
    assert user.options["Email"] == "admin@example.org"
    assert registry.users["suspendedUser"].suspended_vos == ("dirac",)
    assert registry.groups["lhcb_user"] == Group(
        name="lhcb_user", users=("ciuser",), properties=("NormalUser",), vo="lhcb"
    )
    assert registry.hosts["worker.example.org"] == Host(
        name="worker.example.org",
        dns=("/C=ch/O=DIRAC/OU=DIRAC CI/CN=worker.example.org",),
        properties=("GenericPilot",),
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        user.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        registry.users["x"] = user  # type: ignore[index]
    with pytest.raises(TypeError):
        user.options["Email"] = "x"  # type: ignore[index]
    assert set(registry.groups) == {"dirac_user", "dirac_admin", "prod", "lhcb_user"}
    assert set(registry.hosts) == {"localhost", "worker.example.org"}


def test_registry_is_a_snapshot() -> None:
    tree = ConfigTree.from_dict({"Registry": {"Users": {"u": {"DN": "/CN=u"}}}})
    registry = Registry.from_config(tree)
    tree.set_option("/Registry/Users/u/DN", "/CN=other")
    assert registry.user_for_dn("/CN=u") == "u"
    assert Registry.from_config(tree).user_for_dn("/CN=u") is None


def test_empty_registry() -> None:
    registry = Registry.from_config(ConfigTree())
    assert registry.user_for_dn("/CN=x") is None
    assert registry.default_groups == ("user",)
    assert dict(registry.users) == {}


def test_registry_built_directly() -> None:
    registry = Registry(
        users=[User("u", ("/CN=u",))],
        groups=[Group("g", ("u",), ("P",), "vo")],
        hosts=[Host("h", ("/CN=h",), ("TrustedHost",))],
        default_groups=["g"],
    )
    assert registry.default_group_for_user("u") == "g"
    assert registry.host_for_dn("/CN=h") == "h"
    assert registry.groups_in_vo("vo") == frozenset({"g"})
