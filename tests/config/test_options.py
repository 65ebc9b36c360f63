"""Strict option readers (config/options.py): defaults only for absent options, errors naming
option, value and file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tornadoservice.config.options import (
    OptionError,
    byte_size,
    check_host,
    flag,
    listen_address,
    seconds,
    whole_number,
)
from tornadoservice.config.tree import ConfigTree

PATH = "/Systems/Tornado/Option"


def tree_with(tmp_path: Path, value: str | None) -> ConfigTree:
    """A tree loaded from a file (so the option has an origin) with ``Option = value``."""
    body = "" if value is None else f"    Option = {value}\n"
    file = tmp_path / "site.cfg"
    file.write_text(f"Systems\n{{\n  Tornado\n  {{\n{body}  }}\n}}\n")
    return ConfigTree.load(file)


@pytest.mark.parametrize("value", [None, "", "   "])
def test_absent_or_empty_gives_the_default(tmp_path: Path, value: str | None) -> None:
    tree = tree_with(tmp_path, value)
    assert whole_number(tree, PATH, 7) == 7
    assert byte_size(tree, PATH, 1024) == 1024
    assert seconds(tree, PATH, 2.5) == 2.5
    assert flag(tree, PATH, True) is True
    assert listen_address(tree, PATH) == ""


def test_good_values_are_read(tmp_path: Path) -> None:
    assert whole_number(tree_with(tmp_path, "12"), PATH, 7) == 12
    assert whole_number(tree_with(tmp_path, "0"), PATH, 7, minimum=0) == 0
    assert byte_size(tree_with(tmp_path, "10485760"), PATH, 1) == 10485760
    assert seconds(tree_with(tmp_path, "0.5"), PATH, 1.0) == 0.5
    assert seconds(tree_with(tmp_path, "0"), PATH, 1.0, allow_zero=True) == 0.0
    assert flag(tree_with(tmp_path, "Yes"), PATH, False) is True
    assert flag(tree_with(tmp_path, "false"), PATH, True) is False
    assert listen_address(tree_with(tmp_path, "::1"), PATH) == "::1"
    assert listen_address(tree_with(tmp_path, "host-1.example.org"), PATH) == "host-1.example.org"


@pytest.mark.parametrize(
    ("read", "value", "problem"),
    [
        (lambda t: whole_number(t, PATH, 7), "abc", "not a whole number"),
        (lambda t: whole_number(t, PATH, 7), "0", "must be at least 1"),
        (lambda t: whole_number(t, PATH, 7), "2.5", "not a whole number"),
        (lambda t: whole_number(t, PATH, 7, maximum=9), "10", "must be from 1 to 9"),
        (lambda t: byte_size(t, PATH, 1), "10MB", "sizes are plain bytes: 10000000 for 10MB"),
        (lambda t: byte_size(t, PATH, 1), "10MiB", "sizes are plain bytes: 10485760 for 10MiB"),
        (lambda t: byte_size(t, PATH, 1), "lots", "not a whole number of bytes"),
        (lambda t: byte_size(t, PATH, 1), "-1", "must be at least 1 bytes"),
        (lambda t: seconds(t, PATH, 1.0), "soon", "not a number of seconds"),
        (lambda t: seconds(t, PATH, 1.0), "0", "must be more than 0 seconds"),
        (lambda t: seconds(t, PATH, 1.0, allow_zero=True), "-5", "must be 0 or more seconds"),
        (lambda t: seconds(t, PATH, 1.0), "inf", "must be more than 0 seconds"),
        (lambda t: seconds(t, PATH, 1.0), "nan", "must be more than 0 seconds"),
        (lambda t: flag(t, PATH, False), "maybe", "neither yes nor no"),
        (lambda t: listen_address(t, PATH), "nonsense..host", "not an IP address or a host"),
        (lambda t: listen_address(t, PATH), "-bad.example", "not an IP address or a host"),
    ],
)
def test_bad_values_name_option_value_and_file(
    tmp_path: Path, read: object, value: str, problem: str
) -> None:
    tree = tree_with(tmp_path, value)
    with pytest.raises(OptionError) as caught:
        read(tree)  # type: ignore[operator]
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'site.cfg'}: {PATH} = {value!r}: "), message
    assert problem in message


def test_an_option_set_in_code_has_no_file(tmp_path: Path) -> None:
    tree = ConfigTree.from_dict({"Systems": {"Tornado": {"Option": "abc"}}})
    with pytest.raises(OptionError, match=rf"^{PATH} = 'abc': not a whole number$"):
        whole_number(tree, PATH, 1)


@pytest.mark.parametrize(
    ("host", "usable"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("localhost.", True),
        ("a" * 63 + ".example", True),
        ("a" * 64 + ".example", False),
        ("nonsense..host", False),
        ("under_score", False),
        ("space host", False),
        ("", False),
    ],
)
def test_check_host(host: str, usable: bool) -> None:
    assert (check_host(host) is None) is usable


REPO = Path(__file__).resolve().parents[2]
_OPTION_LITERAL = re.compile(
    r"[\"'](/(?:Systems/Tornado|DIRAC|Registry|LocalSite)(?:/[A-Za-z-]+)+)(?=[\"'])"
)


def test_docs_configuration_lists_every_option_the_code_reads() -> None:
    """Every fixed option path written in the package appears in docs/configuration.md."""
    doc = (REPO / "docs" / "configuration.md").read_text()
    read: set[str] = set()
    for source in (REPO / "src" / "tornadoservice").rglob("*.py"):
        read.update(_OPTION_LITERAL.findall(source.read_text()))
    read.discard("/DIRAC/Security")  # a section, not an option
    assert len(read) > 25, sorted(read)  # the scan found them
    # An option as `/A/B`, a section as the start of its options' paths: `/Registry/Users/...
    missing = sorted(path for path in read if f"`{path}`" not in doc and f"`{path}/" not in doc)
    assert not missing, f"not in docs/configuration.md: {missing}"
    for security in ("Grid-Security", "CALocation", "CertFile", "KeyFile"):
        assert f"`/DIRAC/Security/{security}`" in doc  # read through locations._option
