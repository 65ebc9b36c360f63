"""The port of ``tests/porting`` changed only imports: each handler, with its import statements
left out, is the same program as its DIRAC original (``tests/porting/original``), and every name
the original imports from a DIRAC module is imported under the same name from
``tornadoservice.compat.dirac``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tornadoservice.compat.dirac as compat

PORTING = Path(__file__).parents[1] / "porting"
PORTED = sorted((PORTING / "PortExtDIRAC").rglob("*Handler.py"))


def _split(path: Path) -> tuple[str, list[ast.ImportFrom]]:
    tree = ast.parse(path.read_text())
    imports = [node for node in tree.body if isinstance(node, ast.ImportFrom)]
    tree.body = [node for node in tree.body if not isinstance(node, ast.Import | ast.ImportFrom)]
    return ast.dump(tree), imports


def _names(imports: list[ast.ImportFrom], module_prefix: str) -> set[tuple[str, str | None]]:
    return {
        (alias.name, alias.asname)
        for node in imports
        if node.module is not None and node.module.split(".")[0] == module_prefix
        for alias in node.names
    }


def test_the_handlers_have_originals() -> None:
    assert [path.name for path in PORTED] == [
        "InventoryHandler.py",
        "TornadoCatalogHandler.py",
        "TornadoInventoryHandler.py",
    ]


@pytest.mark.parametrize("ported", PORTED, ids=lambda path: path.name)
def test_only_the_imports_changed(ported: Path) -> None:
    original = PORTING / "original" / ported.relative_to(PORTING)
    ported_code, ported_imports = _split(ported)
    original_code, original_imports = _split(original)
    assert ported_code == original_code
    from_dirac = _names(original_imports, "DIRAC")
    assert from_dirac, "the original imports from DIRAC"
    assert _names(ported_imports, "tornadoservice") == from_dirac
    # Imports of the extension's own modules are the same in both.
    assert _names(ported_imports, "PortExtDIRAC") == _names(original_imports, "PortExtDIRAC")
    for name, _ in from_dirac:
        assert name in compat.__all__
    for node in ported_imports:
        if node.module and node.module.startswith("tornadoservice"):
            assert node.module == "tornadoservice.compat.dirac"
