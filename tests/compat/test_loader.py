"""ObjectLoader: the configured extensions first, then DIRAC, then the plain module path."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tornadoservice.compat.dirac import ObjectLoader
from tornadoservice.config.active import set_active
from tornadoservice.config.tree import ConfigTree
from tornadoservice.core.errors import EIMPERR

PACKAGES = ("ExtDIRAC", "DIRAC", "PlainSystem")


def _write(root: Path, module: str, text: str) -> None:
    parts = module.split(".")
    folder = root.joinpath(*parts[:-1])
    folder.mkdir(parents=True, exist_ok=True)
    for depth in range(1, len(parts)):
        (root.joinpath(*parts[:depth]) / "__init__.py").touch()
    (folder / f"{parts[-1]}.py").write_text(text)


@pytest.fixture
def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    _write(tmp_path, "ExtDIRAC.WorkSystem.DB.JobDB", "class JobDB:\n    origin = 'ext'\n")
    _write(tmp_path, "DIRAC.WorkSystem.DB.JobDB", "class JobDB:\n    origin = 'dirac'\n")
    _write(tmp_path, "DIRAC.WorkSystem.DB.TaskDB", "class TaskDB:\n    origin = 'dirac'\n")
    _write(tmp_path, "DIRAC.WorkSystem.DB.BrokenDB", "import no_such_module_here\n")
    _write(tmp_path, "DIRAC.WorkSystem.DB.RaisingDB", "raise RuntimeError('no db')\n")
    _write(tmp_path, "PlainSystem.Client.Thing", "class Thing:\n    origin = 'plain'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    set_active(ConfigTree.from_dict({"DIRAC": {"Extensions": "Ext"}}))
    yield tmp_path
    for name in list(sys.modules):
        if name.split(".")[0] in PACKAGES:
            del sys.modules[name]


def test_an_extension_wins_over_dirac(packages: Path) -> None:
    loader = ObjectLoader()
    assert loader.extension_packages() == ["Ext", "ExtDIRAC", "DIRAC"]
    result = loader.loadObject("WorkSystem.DB.JobDB", "JobDB")
    assert result["OK"] and result["Value"].origin == "ext"
    # objName defaults to the module's own name.
    assert loader.loadObject("WorkSystem.DB.JobDB")["Value"].origin == "ext"


def test_dirac_then_the_plain_module_path(packages: Path) -> None:
    loader = ObjectLoader()
    assert loader.loadObject("WorkSystem.DB.TaskDB")["Value"].origin == "dirac"
    assert loader.loadObject("PlainSystem.Client.Thing")["Value"].origin == "plain"
    assert loader.loadModule("WorkSystem.DB.TaskDB")["Value"].__name__ == (
        "DIRAC.WorkSystem.DB.TaskDB"
    )


def test_missing_module_or_object_is_an_s_error(packages: Path) -> None:
    loader = ObjectLoader()
    missing = loader.loadObject("WorkSystem.DB.NoDB")
    assert not missing["OK"] and missing["Errno"] == EIMPERR
    assert "No module WorkSystem.DB.NoDB" in missing["Message"]
    no_object = loader.loadObject("WorkSystem.DB.TaskDB", "Other")
    assert not no_object["OK"] and "has no Other" in no_object["Message"]


def test_a_broken_module_is_reported_not_skipped(packages: Path) -> None:
    loader = ObjectLoader()
    broken = loader.loadObject("WorkSystem.DB.BrokenDB")
    assert not broken["OK"] and "no_such_module_here" in broken["Message"]
    raising = loader.loadObject("WorkSystem.DB.RaisingDB")
    assert not raising["OK"] and "no db" in raising["Message"]
