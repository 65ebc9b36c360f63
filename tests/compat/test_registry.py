"""The Registry helpers over an active registry, with DIRAC's result shapes."""

from __future__ import annotations

import pytest

from tornadoservice.compat.dirac import Registry
from tornadoservice.config.active import set_active
from tornadoservice.config.tree import ConfigTree

ALICE = "/DC=org/CN=alice"
ALICE_2 = "/DC=org/CN=alice second"
HOST = "/DC=org/CN=host.example"

CONFIG = {
    "Registry": {
        "DefaultGroup": "users",
        "BannedIPs": "10.0.0.1, 10.0.0.2",
        "DefaultVOMSAttribute": "/vo",
        "Users": {
            "alice": {"DN": f"{ALICE}, {ALICE_2}", "Email": "a@x, b@x", "ID": "sub-1"},
            "bob": {"DN": "/DC=org/CN=bob", "DefaultGroup": "admins"},
            "nodn": {"Email": "n@x"},
        },
        "Groups": {
            "users": {"Users": "alice, bob", "Properties": "NormalUser", "VO": "vo1"},
            "admins": {
                "Users": "bob",
                "Properties": "ServiceAdministrator, NormalUser",
                "VO": "vo2",
                "VOMSRole": "/vo2/Role=admin",
            },
            "empty": {"Users": ""},
        },
        "Hosts": {"host.example": {"DN": HOST, "Properties": "TrustedHost, Operator"}},
        "VO": {"vo1": {"VOMSName": "vo1.org"}, "vo2": {}},
    }
}


@pytest.fixture(autouse=True)
def tree() -> ConfigTree:
    config = ConfigTree.from_dict(CONFIG)
    set_active(config)
    return config


def test_users_and_dns() -> None:
    assert Registry.getUsernameForDN(f" {ALICE_2} ") == {"OK": True, "Value": "alice"}
    assert Registry.getUsernameForDN(ALICE, ["bob"])["OK"] is False
    assert Registry.getUsernameForDN(ALICE, ["bob", "alice"])["Value"] == "alice"
    missing = Registry.getUsernameForDN("/CN=nobody")
    assert not missing["OK"] and missing["Message"] == "No username found for dn /CN=nobody"
    assert Registry.getDNForUsername("alice")["Value"] == [ALICE, ALICE_2]
    assert not Registry.getDNForUsername("nodn")["OK"]
    assert not Registry.getDNForUsername("ghost")["OK"]
    assert Registry.getUsernameForID("sub-1")["Value"] == "alice"
    assert not Registry.getUsernameForID("sub-1", ["bob"])["OK"]
    assert not Registry.getUsernameForID("sub-2")["OK"]
    assert Registry.getAllUsers() == ["alice", "bob", "nodn"]


def test_hosts() -> None:
    assert Registry.getHostnameForDN(HOST)["Value"] == "host.example"
    assert not Registry.getHostnameForDN(ALICE)["OK"]
    assert Registry.getDNForHost("host.example")["Value"] == [HOST]
    assert not Registry.getDNForHost("nohost")["OK"]
    assert Registry.getHosts()["Value"] == ["host.example"]
    assert Registry.getPropertiesForHost("host.example") == ["TrustedHost", "Operator"]
    assert Registry.getPropertiesForHost("nohost", ["x"]) == ["x"]
    assert Registry.hostHasProperties("host.example", "Operator") == ["Operator"]
    assert Registry.getHostOption("host.example", "Properties", []) == ["TrustedHost", "Operator"]


def test_groups() -> None:
    assert Registry.getGroupsForUser("bob")["Value"] == ["admins", "users"]
    assert not Registry.getGroupsForUser("nodn")["OK"]
    assert Registry.getGroupsForDN(ALICE)["Value"] == ["users"]
    assert not Registry.getGroupsForDN("/CN=nobody")["OK"]
    assert Registry.getAllGroups() == ["users", "admins", "empty"]
    assert Registry.getUsersInGroup("users") == ["alice", "bob"]
    assert Registry.getUsersInGroup("ghost") == []
    assert Registry.getUsersInGroup("ghost", ["d"]) == ["d"]
    assert Registry.getUsersInGroup("empty", ["d"]) == []  # Users is there, empty
    assert Registry.getGroupsWithProperty("NormalUser")["Value"] == ["admins", "users"]
    assert not Registry.getGroupsWithProperty("Nothing")["OK"]
    assert Registry.getGroupsWithVOMSAttribute("/vo2/Role=admin") == ["admins"]
    assert Registry.getDNsInGroup("admins") == ["/DC=org/CN=bob"]
    assert Registry.getEmailsForGroup("users") == [["a@x", "b@x"], []]
    assert Registry.getGroupOption("admins", "VO") == "vo2"


def test_default_groups() -> None:
    assert Registry.getDefaultUserGroup() == "users"
    assert Registry.findDefaultGroupForUser("bob")["Value"] == "admins"  # their own first
    assert Registry.findDefaultGroupForUser("alice")["Value"] == "users"
    assert not Registry.findDefaultGroupForUser("nodn")["OK"]
    assert Registry.findDefaultGroupForDN(ALICE)["Value"] == "users"
    assert not Registry.findDefaultGroupForDN("/CN=nobody")["OK"]


def test_properties() -> None:
    assert Registry.getPropertiesForGroup("admins") == ["ServiceAdministrator", "NormalUser"]
    assert Registry.getPropertiesForGroup("empty") == []
    assert Registry.getPropertiesForGroup("empty", ["d"]) == ["d"]
    assert Registry.getPropertiesForEntity("users") == ["NormalUser"]
    assert Registry.getPropertiesForEntity("hosts", dn=HOST) == ["TrustedHost", "Operator"]
    assert Registry.getPropertiesForEntity("hosts", name="host.example") == [
        "TrustedHost",
        "Operator",
    ]
    assert Registry.getPropertiesForEntity("hosts", dn=ALICE) == []
    assert Registry.groupHasProperties("admins", ["NormalUser", "Operator"]) == ["NormalUser"]


def test_vos_without_a_single_vo() -> None:
    assert Registry.getVOForGroup("admins") == "vo2"
    assert Registry.getVOForGroup("empty") == ""
    assert Registry.getVOs()["Value"] == ["vo1", "vo2"]
    assert Registry.getGroupsForVO("vo2")["Value"] == ["admins"]
    assert not Registry.getGroupsForVO("")["OK"]
    assert not Registry.getGroupsForVO("vo3")["OK"]
    assert Registry.getUsersInVO("vo1") == ["alice", "bob"]
    assert Registry.getUsersInVO("vo3", ["d"]) == ["d"]
    assert Registry.getDNsInVO("vo2") == ["/DC=org/CN=bob"]
    assert Registry.getVOOption("vo1", "VOMSName") == "vo1.org"
    assert Registry.getVOMSAttributeForGroup("admins") == "/vo2/Role=admin"
    assert Registry.getVOMSAttributeForGroup("users") == "/vo"
    assert Registry.getVOMSAttributeForGroup("ghost") == "/vo"
    assert Registry.getBannedIPs() == ["10.0.0.1", "10.0.0.2"]


def test_a_single_vo_installation() -> None:
    tree = ConfigTree.from_dict({**CONFIG, "DIRAC": {"VirtualOrganization": "only"}})
    set_active(tree)
    assert Registry.getVOs()["Value"] == ["only"]
    assert Registry.getGroupsForVO("anything")["Value"] == ["users", "admins", "empty"]
    assert Registry.getVOForGroup("empty") == "only"
    assert Registry.getVOForGroup("admins") == "vo2"


def test_outside_a_server_the_registry_is_empty() -> None:
    from tornadoservice.config.active import clear_active

    clear_active()
    assert Registry.getAllUsers() == []
    assert not Registry.getUsernameForDN(ALICE)["OK"]
    assert Registry.getPropertiesForGroup("users") == []
