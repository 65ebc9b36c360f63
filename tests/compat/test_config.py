"""gConfig, PathFinder, getServiceOption and CSGlobals over an active ConfigTree."""

from __future__ import annotations

import pytest

from tornadoservice.compat.dirac import (
    PathFinder,
    gConfig,
    getCSExtensions,
    getServiceOption,
    getVO,
    siteName,
)
from tornadoservice.config.active import set_active
from tornadoservice.config.tree import ConfigTree

CONFIG = {
    "DIRAC": {"VirtualOrganization": "lhcb", "Extensions": "LHCb, Other"},
    "Systems": {
        "DataManagement": {
            "Services": {
                "Catalog": {"Port": "9197", "Ratio": "0.5", "Enabled": "yes", "Names": "a, b ,,c"}
            },
            "Databases": {"CatalogDB": {"Host": "db"}},
            "URLs": {
                "Catalog": "https://one.example:9197/DataManagement/Catalog, https://two.example",
            },
            "FailoverURLs": {"Catalog": "https://three.example:1/DataManagement/Catalog"},
        }
    },
}


@pytest.fixture
def tree() -> ConfigTree:
    config = ConfigTree.from_dict(CONFIG)
    set_active(config)
    return config


def test_getvalue_converts_like_the_default(tree: ConfigTree) -> None:
    section = "/Systems/DataManagement/Services/Catalog"
    assert gConfig.getValue(f"{section}/Port", 0) == 9197
    assert gConfig.getValue(f"{section}/Port") == "9197"
    assert gConfig.getValue(f"{section}/Ratio", 1.0) == 0.5
    assert gConfig.getValue(f"{section}/Enabled", False) is True
    assert gConfig.getValue(f"{section}/Names", []) == ["a", "b", "c"]
    assert gConfig.getValue(f"{section}/Missing", "fallback") == "fallback"
    assert gConfig.getValue(f"{section}/Names", 3) == 3  # not an int: the default


def test_getoption_and_sections_answer_s_ok_or_s_error(tree: ConfigTree) -> None:
    section = "/Systems/DataManagement/Services/Catalog"
    assert gConfig.getOption(f"{section}/Port", 0) == {"OK": True, "Value": 9197}
    assert gConfig.getOption(f"{section}/Port")["Value"] == "9197"
    missing = gConfig.getOption(f"{section}/Nope")
    assert not missing["OK"] and "does not exist" in missing["Message"]
    assert gConfig.getSections("/Systems/DataManagement")["Value"] == [
        "Services",
        "Databases",
        "URLs",
        "FailoverURLs",
    ]
    assert not gConfig.getSections("/Nowhere")["OK"]
    assert gConfig.getOptions(section)["Value"] == ["Port", "Ratio", "Enabled", "Names"]
    assert gConfig.getOptionsDict("/Systems/DataManagement/Databases/CatalogDB")["Value"] == {
        "Host": "db"
    }
    nested = gConfig.getOptionsDictRecursively("/Systems/DataManagement/Databases")
    assert nested["Value"] == {"CatalogDB": {"Host": "db"}}
    assert not gConfig.getOptionsDictRecursively("/Nowhere")["OK"]
    assert gConfig.useServerCertificate() is False


def test_gconfig_follows_the_active_configuration(tree: ConfigTree) -> None:
    assert gConfig.getValue("/DIRAC/VirtualOrganization") == "lhcb"
    set_active(ConfigTree.from_dict({"DIRAC": {"VirtualOrganization": "other"}}))
    assert gConfig.getValue("/DIRAC/VirtualOrganization") == "other"


def test_outside_a_server_every_value_is_its_default() -> None:
    assert gConfig.getValue("/DIRAC/VirtualOrganization", "none") == "none"
    assert not gConfig.getSections("/Systems")["OK"]
    assert getVO() == ""
    assert PathFinder.getServiceURLs("DataManagement/Catalog") == []


def test_csglobals(tree: ConfigTree) -> None:
    assert getVO() == "lhcb"
    assert getCSExtensions() == ["LHCb", "Other"]


def test_site_name(tree: ConfigTree) -> None:
    assert siteName().startswith("DIRAC.Client.")
    tree.set_option("/LocalSite/Site", "LCG.CERN.ch")
    assert siteName() == "LCG.CERN.ch"


def test_pathfinder_sections(tree: ConfigTree) -> None:
    assert PathFinder.getSystemSection("DataManagement") == "/Systems/DataManagement"
    assert PathFinder.getSystemSection("DataManagement/Catalog") == "/Systems/DataManagement"
    assert (
        PathFinder.getServiceSection("DataManagement/Catalog")
        == "/Systems/DataManagement/Services/Catalog"
    )
    assert PathFinder.getAgentSection("WorkloadManagement/JobCleaningAgent") == (
        "/Systems/WorkloadManagement/Agents/JobCleaningAgent"
    )
    assert PathFinder.getDatabaseSection("DataManagement/CatalogDB") == (
        "/Systems/DataManagement/Databases/CatalogDB"
    )
    assert PathFinder.getExecutorSection("WorkloadManagement/Optimizers") == (
        "/Systems/WorkloadManagement/Executors/Optimizers"
    )
    assert PathFinder.getSystemURLSection("DataManagement") == "/Systems/DataManagement/URLs"
    assert PathFinder.divideFullName("DataManagement", "Catalog") == ("DataManagement", "Catalog")
    with pytest.raises(RuntimeError, match="must be with the form system/service"):
        PathFinder.divideFullName("JustOne")


def test_pathfinder_urls_are_completed_like_diracs(tree: ConfigTree) -> None:
    one = "https://one.example:9197/DataManagement/Catalog"
    two = "https://two.example:443/DataManagement/Catalog"  # port and path added
    assert PathFinder.getServiceURLs("DataManagement/Catalog") == [one, two]
    assert PathFinder.getServiceURL("DataManagement/Catalog") == f"{one},{two}"
    assert PathFinder.getServiceURLs("DataManagement/Catalog", failover=True)[-1] == (
        "https://three.example:1/DataManagement/Catalog"
    )
    assert sorted(PathFinder.getServiceURLs("DataManagement/Catalog", randomize=True)) == [
        one,
        two,
    ]
    assert PathFinder.getSystemURLs("DataManagement") == {"Catalog": [one, two]}
    assert PathFinder.getServiceURL("DataManagement/Unknown") == ""
    assert PathFinder.getGatewayURLs() is False
    with pytest.raises(RuntimeError, match="No port"):
        PathFinder.checkServiceURL("dips://host/A/B")
    with pytest.raises(RuntimeError, match="No path"):
        PathFinder.checkServiceURL("https://host:1")


def test_get_service_option(tree: ConfigTree) -> None:
    info = {
        "serviceName": "DataManagement/Catalog",
        "serviceSectionPath": "/Systems/DataManagement/Services/Catalog",
        "csPaths": ["/Systems/DataManagement/Services/Catalog"],
    }
    assert getServiceOption(info, "Port", 0) == 9197
    assert getServiceOption(info, "Names", []) == ["a", "b", "c"]
    assert getServiceOption(info, "Missing", "dflt") == "dflt"
    assert getServiceOption(info, "/DIRAC/VirtualOrganization", "") == "lhcb"
    # Without csPaths, the service section.
    assert getServiceOption({"serviceSectionPath": info["serviceSectionPath"]}, "Port", 0) == 9197
