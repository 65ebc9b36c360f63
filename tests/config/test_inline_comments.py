"""A '#' after blank space inside a .cfg value is refused: diraccfg would keep it in the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from tornadoservice.config import ConfigError, ConfigTree


@pytest.mark.parametrize(
    ("line", "comment"),
    [
        ("HandlerPath = catalog.py   # relative to this .cfg", "# relative to this .cfg"),
        ("TrustedProxies = 10.0.0.5, 10.0.0.6\t# the balancers", "# the balancers"),
        ("Users += bob # and bob", "# and bob"),
        ("Port = 8443 #", "#"),
    ],
)
def test_inline_comment_is_refused_with_file_and_line(
    tmp_path: Path, line: str, comment: str
) -> None:
    path = tmp_path / "dirac.cfg"
    path.write_text(f"S\n{{\n  Users = alice\n  {line}\n}}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        ConfigTree.load(path)
    assert info.value.line == 4
    assert str(info.value).startswith(f"{path}:4: the value of ")
    assert f"ends in {comment!r}" in str(info.value)
    assert "put the comment on a line of its own" in str(info.value)


def test_hash_glued_to_a_value_is_data(tmp_path: Path) -> None:
    path = tmp_path / "dirac.cfg"
    path.write_text(
        "# a comment line\nS\n{\n  # another\n  Url = https://host/#frag\n  Tag = a#b\n}\n",
        encoding="utf-8",
    )
    assert ConfigTree.load(path).as_dict() == {"S": {"Url": "https://host/#frag", "Tag": "a#b"}}


def test_yaml_comments_and_quoted_hashes_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "dirac.yaml"
    path.write_text('S:\n  Port: 8443  # a real YAML comment\n  Tag: "a # b"\n', encoding="utf-8")
    assert ConfigTree.load(path).as_dict() == {"S": {"Port": "8443", "Tag": "a # b"}}
