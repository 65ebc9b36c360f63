"""DIRAC's handler locations: the ``HandlerPath`` form under a package root on ``sys.path``, and
``<Extension>.<System>System.Service.Tornado<Service>Handler`` found without ``HandlerPath``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tornadoservice.config.tree import ConfigTree
from tornadoservice.server.app import services_from_config
from tornadoservice.server.loader import extension_packages
from tornadoservice.server.service import ServiceDefinitionError

PACKAGE_ROOT = Path(__file__).parents[1] / "porting"


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """``tests/porting`` and ``tmp_path`` on ``sys.path``; their modules forgotten afterwards."""
    monkeypatch.syspath_prepend(str(PACKAGE_ROOT))
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.split(".", 1)[0] in {"PortExtDIRAC", "BrokenExtDIRAC"}:
            del sys.modules[name]


def _config(service: dict[str, str], extensions: str | None = None) -> ConfigTree:
    tree: dict[str, object] = {
        "Systems": {"Porting": {"Services": {"Inventory": {"Protocol": "https", **service}}}}
    }
    if extensions is not None:
        tree["DIRAC"] = {"Extensions": extensions}
    return ConfigTree.from_dict(tree)


def test_dirac_form_handler_path_is_imported_from_the_package_root(installed: Path) -> None:
    path = "PortExtDIRAC/PortingSystem/Service/TornadoInventoryHandler.py"
    [spec] = services_from_config(_config({"HandlerPath": path}))
    # The class named as its module (DIRAC's rule), not the mixin the module imports.
    assert spec.handler.__name__ == "TornadoInventoryHandler"
    assert spec.handler.__module__ == "PortExtDIRAC.PortingSystem.Service.TornadoInventoryHandler"


def test_classic_handler_by_dirac_form_path(installed: Path) -> None:
    path = "PortExtDIRAC/PortingSystem/Service/InventoryHandler.py"
    [spec] = services_from_config(_config({"HandlerPath": path}))
    assert spec.handler.__name__ == "InventoryHandler"


def test_without_handler_path_the_extensions_are_searched(installed: Path) -> None:
    [spec] = services_from_config(_config({}, extensions="Other, PortExt"))
    assert spec.handler.__module__ == "PortExtDIRAC.PortingSystem.Service.TornadoInventoryHandler"


def test_without_handler_path_nor_extension_module_is_a_clear_error(installed: Path) -> None:
    with pytest.raises(ServiceDefinitionError) as info:
        services_from_config(_config({}, extensions="Other"))
    message = str(info.value)
    assert message.startswith("Porting/Inventory: no HandlerPath in /Systems/Porting/Services/")
    assert "<package>.PortingSystem.Service.TornadoInventoryHandler" in message
    assert "Other, OtherDIRAC, DIRAC" in message


def test_dirac_form_path_that_is_neither_file_nor_module(installed: Path) -> None:
    path = "PortExtDIRAC/PortingSystem/Service/TornadoNoSuchHandler.py"
    with pytest.raises(ServiceDefinitionError) as info:
        services_from_config(_config({"HandlerPath": path}))
    assert "does not exist, and no module" in str(info.value)
    assert "PortExtDIRAC.PortingSystem.Service.TornadoNoSuchHandler" in str(info.value)


def test_an_extension_handler_that_fails_to_import_is_reported(installed: Path) -> None:
    service_dir = installed / "BrokenExtDIRAC" / "PortingSystem" / "Service"
    service_dir.mkdir(parents=True)
    for folder in (service_dir, service_dir.parent, service_dir.parent.parent):
        (folder / "__init__.py").write_text("")
    (service_dir / "TornadoInventoryHandler.py").write_text("raise RuntimeError('no database')\n")
    with pytest.raises(ServiceDefinitionError) as info:
        services_from_config(_config({}, extensions="BrokenExt, PortExt"))
    message = str(info.value)
    assert "error while importing" in message
    assert "RuntimeError: no database" in message


def test_extension_packages_follow_diracs_naming() -> None:
    assert extension_packages("LHCb, FooDIRAC,, DIRAC") == [
        "LHCb",
        "LHCbDIRAC",
        "FooDIRAC",
        "DIRAC",
    ]
    assert extension_packages(None) == ["DIRAC"]
