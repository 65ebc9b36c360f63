"""Every test that docs/security.md names exists, so a row cannot point at nothing.

A row names tests as `path/test_x.py::test_name` (paths relative to tests/), `::other_name` for
another test of the same file, and `[case]` for a parametrized case.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "security.md"
_REFERENCE = re.compile(r"`([\w/]+\.py)?((?:::[\w\[\]\-,. =]+)?)`")


def _names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }


def cited_tests() -> list[tuple[int, str, str | None]]:
    """(line, file, test name or None) for each reference, `::x` resolved to the last file."""
    cited: list[tuple[int, str, str | None]] = []
    for number, line in enumerate(DOC.read_text(encoding="utf-8").splitlines(), start=1):
        current: str | None = None
        for match in _REFERENCE.finditer(line):
            path, test = match.group(1), match.group(2)
            if path and not Path(path).name.startswith("test_"):
                continue  # a source file named in the prose, not a test
            if path:
                current = path
            if current is None or not (path or test):
                continue
            name = test.removeprefix("::").split("[", 1)[0].strip() if test else None
            cited.append((number, current, name or None))
    return cited


def test_the_security_page_cites_tests() -> None:
    assert len(cited_tests()) > 100


def test_every_cited_test_exists() -> None:
    missing: list[str] = []
    cache: dict[str, set[str]] = {}
    for number, path, name in cited_tests():
        file = ROOT / "tests" / path
        if not file.is_file():
            missing.append(f"line {number}: no file tests/{path}")
            continue
        if name is not None and name not in cache.setdefault(path, _names(file)):
            missing.append(f"line {number}: no {name} in tests/{path}")
    assert not missing, "\n".join(missing)
