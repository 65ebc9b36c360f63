"""Operations: /Operations/Defaults with per-VO overrides, following reloads."""

from __future__ import annotations

from tornadoservice.compat.dirac import Operations
from tornadoservice.config.active import set_active
from tornadoservice.config.tree import ConfigTree

CONFIG = {
    "DIRAC": {},
    "Registry": {"Groups": {"lhcb_user": {"VO": "lhcb"}, "bare": {}}},
    "Operations": {
        "Defaults": {
            "Transfers": {"MaxFiles": "10", "Protocols": "https, root"},
            "Shifter": {"Admin": {"User": "admin"}},
        },
        "lhcb": {"Transfers": {"MaxFiles": "50"}, "Defaults": {"Transfers": {"Mode": "fast"}}},
    },
}


def test_defaults_and_vo_overrides() -> None:
    set_active(ConfigTree.from_dict(CONFIG))
    default = Operations()
    assert default.getValue("Transfers/MaxFiles", 0) == 10
    assert default.getValue("Transfers/Protocols", []) == ["https", "root"]
    assert default.getValue("Transfers/Mode", "slow") == "slow"
    lhcb = Operations(vo="lhcb")
    assert lhcb.getValue("Transfers/MaxFiles", 0) == 50
    assert lhcb.getValue("Transfers/Mode") == "fast"
    assert lhcb.getValue("Transfers/Protocols", []) == ["https", "root"]  # from Defaults
    assert Operations(group="lhcb_user").getValue("Transfers/MaxFiles", 0) == 50
    assert Operations(group="bare").getValue("Transfers/MaxFiles", 0) == 10
    assert lhcb.getOptionPath("Transfers/MaxFiles") == "/Operations/lhcb/Transfers/MaxFiles"
    assert lhcb.getOptionPath("Transfers/Nothing") == ""
    assert lhcb.getPath("Shifter/Admin") == "/Operations/Defaults/Shifter/Admin"


def test_sections_and_their_errors() -> None:
    set_active(ConfigTree.from_dict(CONFIG))
    lhcb = Operations(vo="lhcb")
    assert lhcb.getSections("Shifter")["Value"] == ["Admin"]
    assert lhcb.getOptions("Transfers")["Value"] == ["MaxFiles", "Protocols", "Mode"]
    assert lhcb.getOptionsDict("Shifter/Admin")["Value"] == {"User": "admin"}
    missing = lhcb.getSections("Nothing")
    assert not missing["OK"] and missing["Message"] == "Nothing in Operations does not exist"
    option = lhcb.getOptions("Transfers/MaxFiles")
    assert not option["OK"] and "is not a section" in option["Message"]


def test_the_single_vo_of_the_installation_and_reloads() -> None:
    config = {**CONFIG, "DIRAC": {"VirtualOrganization": "lhcb"}}
    set_active(ConfigTree.from_dict(config))
    operations = Operations()
    assert operations.getValue("Transfers/MaxFiles", 0) == 50
    changed = {**config, "Operations": {"lhcb": {"Transfers": {"MaxFiles": "7"}}}}
    set_active(ConfigTree.from_dict(changed))  # what a reload does
    assert operations.getValue("Transfers/MaxFiles", 0) == 7
