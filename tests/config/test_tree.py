"""ConfigTree: loading DIRAC .cfg and YAML files, merging, reading, and DIRAC's gConfig API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tornadoservice.config import ConfigError, ConfigTree, convert_value, split_list

DATA = Path(__file__).parent / "data"
DIRAC_CFG = DATA / "dirac.cfg"
DIRAC_YAML = DATA / "dirac.yaml"


@pytest.fixture(scope="module")
def tree() -> ConfigTree:
    return ConfigTree.load(DIRAC_CFG)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- a real dirac.cfg -------------------------------------------------------------------------


def test_real_cfg_values(tree: ConfigTree) -> None:
    assert tree.get("/DIRAC/Setup") == "dirac-JenkinsSetup"
    assert tree.get("/DIRAC/Security/CALocation") == "/opt/dirac/etc/grid-security/certificates"
    assert tree.get("/Systems/Tornado/Port") == "8443"
    assert tree.get("/Systems/Framework/Services/DummyTornado/Authorization/nobody") == "nobody"
    # Only the first '=' separates; a '#' glued to a value is data, not a comment.
    assert tree.get("/LocalSite/Tag") == "a=b#not-a-comment"
    # "+=" appends DIRAC-style.
    assert (
        tree.get("/Registry/Groups/dirac_user/Users")
        == "ciuser, adminusername, trialUser, suspendedUser"
    )


def test_real_cfg_structure(tree: ConfigTree) -> None:
    assert tree.sections() == [
        "DIRAC",
        "LocalSite",
        "Systems",
        "Registry",
        "Resources",
        "Operations",
    ]
    assert tree.sections("/Systems/Framework/Services") == [
        "SystemAdministrator",
        "ProxyManager",
        "DummyTornado",
    ]
    assert tree.options("/Systems/Framework/Services/ProxyManager/Authorization") == {
        "Default": "authenticated",
        "getProxy": "FullDelegation, LimitedDelegation, PrivateLimitedDelegation",
        "getVOMSProxy": "FullDelegation",
    }
    assert tree.has_section("/Resources/StorageElements/SE-1/AccessProtocol.1")
    assert not tree.has_section("/Systems/Tornado/Port")  # an option, not a section
    assert tree.has_option("/Systems/Tornado/Port")
    assert not tree.has_option("/Systems/Tornado")


def test_yaml_equivalent_gives_the_same_tree(tree: ConfigTree) -> None:
    assert ConfigTree.load(DIRAC_YAML).as_dict() == tree.as_dict()


def test_paths_are_normalised_like_dirac(tree: ConfigTree) -> None:
    assert tree.get("Systems/Tornado/Port") == "8443"
    assert tree.get("//Systems/ Tornado /Port/") == "8443"
    assert tree.sections("") == tree.sections("/")


def test_missing_paths_are_empty_not_errors(tree: ConfigTree) -> None:
    assert tree.get("/Systems/Nope/Port") is None
    assert tree.get("/Systems/Tornado") is None  # a section is not an option
    assert tree.get("/") is None
    assert tree.sections("/Systems/Nope") == []
    assert tree.options("/Systems/Nope") == {}
    assert tree.origin("/Systems/Nope/Port") is None
    assert tree.resolve_path("/Systems/Nope/Port") is None


def test_options_returns_a_copy(tree: ConfigTree) -> None:
    tree.options("/Systems/Tornado")["Port"] = "1"
    assert tree.get("/Systems/Tornado/Port") == "8443"


# --- origins and relative paths ---------------------------------------------------------------


def test_origin_and_relative_path_resolution(tmp_path: Path) -> None:
    base = write(tmp_path / "etc" / "base.cfg", "Svc\n{\n  HandlerPath = handlers/h.py\n}\n")
    site = write(
        tmp_path / "site" / "site.yaml",
        "Svc:\n  Other: x/y.py\n  Abs: /srv/h.py\n",
    )
    tree = ConfigTree.load(base, site)
    assert tree.origin("/Svc/HandlerPath") == base.absolute()
    assert tree.origin("/Svc/Other") == site.absolute()
    assert tree.resolve_path("/Svc/HandlerPath") == base.parent.absolute() / "handlers" / "h.py"
    assert tree.resolve_path("/Svc/Other") == site.parent.absolute() / "x" / "y.py"
    assert tree.resolve_path("/Svc/Abs") == Path("/srv/h.py")


def test_relative_file_names_are_recorded_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "conf" / "a.cfg", "A\n{\n  P = rel/file\n}\n")
    monkeypatch.chdir(tmp_path)
    tree = ConfigTree.load("conf/a.cfg")
    assert tree.origin("/A/P") == tmp_path / "conf" / "a.cfg"
    assert tree.resolve_path("/A/P") == tmp_path / "conf" / "rel" / "file"


def test_options_set_in_code_have_no_origin() -> None:
    tree = ConfigTree()
    tree.set_option("/Svc/HandlerPath", "pkg/h.py")
    assert tree.origin("/Svc/HandlerPath") is None
    assert tree.resolve_path("/Svc/HandlerPath") == Path("pkg/h.py")


def test_from_dict_origin(tmp_path: Path) -> None:
    tree = ConfigTree.from_dict({"Svc": {"HandlerPath": "h.py"}}, origin=tmp_path / "x.cfg")
    assert tree.resolve_path("/Svc/HandlerPath") == tmp_path / "h.py"
    assert ConfigTree.from_dict({"A": "1"}).origin("/A") is None


# --- merging ----------------------------------------------------------------------------------


def test_later_files_override_and_sections_merge(tmp_path: Path) -> None:
    first = write(
        tmp_path / "first.cfg",
        "Systems\n{\n  Tornado\n  {\n    Port = 8443\n    Keep = yes\n  }\n}\nOnlyFirst\n{\n}\n",
    )
    second = write(
        tmp_path / "second.yaml",
        "Systems:\n  Tornado:\n    Port: 9443\n  Framework:\n    Services:\n      Echo:\n"
        "        Protocol: https\n",
    )
    tree = ConfigTree.load(first, second)
    assert tree.as_dict() == {
        "Systems": {
            "Tornado": {"Port": "9443", "Keep": "yes"},
            "Framework": {"Services": {"Echo": {"Protocol": "https"}}},
        },
        "OnlyFirst": {},
    }
    assert tree.origin("/Systems/Tornado/Port") == second.absolute()
    assert tree.origin("/Systems/Tornado/Keep") == first.absolute()
    # The order of the files decides.
    assert ConfigTree.load(second, first).get("/Systems/Tornado/Port") == "8443"


def test_merge_in_place_and_copy() -> None:
    base = ConfigTree.from_dict({"A": {"x": "1", "y": "2"}})
    snapshot = base.copy()
    base.merge(ConfigTree.from_dict({"A": {"y": "3", "B": {"z": "4"}}}))
    assert base.as_dict() == {"A": {"x": "1", "y": "3", "B": {"z": "4"}}}
    assert snapshot.as_dict() == {"A": {"x": "1", "y": "2"}}
    snapshot.set_option("/A/x", "changed")
    assert base.get("/A/x") == "1"


def test_merged_sections_are_not_shared() -> None:
    base = ConfigTree()
    other = ConfigTree.from_dict({"A": {"x": "1"}})
    base.merge(other)
    other.set_option("/A/x", "2")
    assert base.get("/A/x") == "1"


def test_option_replaced_by_section_is_an_error(tmp_path: Path) -> None:
    first = write(tmp_path / "first.cfg", "A\n{\n  B = 1\n}\n")
    second = write(tmp_path / "second.cfg", "A\n{\n  B\n  {\n  }\n}\n")
    with pytest.raises(ConfigError) as info:
        ConfigTree.load(first, second)
    assert str(info.value) == (
        f"{second}: /A/B is a section here but was an option in {first.absolute()}"
    )


def test_section_replaced_by_option_is_an_error(tmp_path: Path) -> None:
    first = write(tmp_path / "first.cfg", "A\n{\n  B\n  {\n  }\n}\n")
    second = write(tmp_path / "second.yaml", "A:\n  B: 1\n")
    with pytest.raises(
        ConfigError, match=r"second\.yaml: /A/B is an option here but was a section"
    ):
        ConfigTree.load(first, second)


def test_merge_conflict_from_code() -> None:
    base = ConfigTree.from_dict({"A": {"B": {}}})
    with pytest.raises(ConfigError, match="/A/B is an option here but was a section earlier"):
        base.merge(ConfigTree.from_dict({"A": {"B": "1"}}))


# --- building in code -------------------------------------------------------------------------


def test_from_dict_normalises_values() -> None:
    data: dict[Any, Any] = {
        "S": {
            "str": "text",
            "int": 8443,
            "float": 1.5,
            "true": True,
            "false": False,
            "none": None,
            "list": ["a", 2, True],
            "tuple": ("x",),
            "empty": [],
        },
        8443: {"k": "v"},  # YAML-style dicts may have non-string keys
    }
    tree = ConfigTree.from_dict(data)
    assert tree.options("/S") == {
        "str": "text",
        "int": "8443",
        "float": "1.5",
        "true": "yes",
        "false": "no",
        "none": "",
        "list": "a, 2, yes",
        "tuple": "x",
        "empty": "",
    }
    assert tree.get("/8443/k") == "v"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"A": {"b": b"bytes"}}, "/A/b: unsupported value type bytes"),
        ({"A": {"b": [["nested"]]}}, "/A/b: unsupported value type list"),
        ({"A": {"b": object()}}, "/A/b: unsupported value type object"),
        ({"A": {"b/c": "1"}}, "/A/b/c: invalid name 'b/c'"),
        ({" ": "1"}, "/: invalid name ' '"),
    ],
)
def test_from_dict_rejects_what_cfg_cannot_hold(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        ConfigTree.from_dict(data)
    assert str(info.value) == message


def test_set_option_creates_sections_and_normalises() -> None:
    tree = ConfigTree()
    tree.set_option("/Systems/Tornado/Port", 8443)
    tree.set_option("Systems/Framework/URLs/Echo", ["https://a/x", "https://b/x"])
    tree.set_option("/DIRAC/Security/UseServerCertificate", True)
    assert tree.as_dict() == {
        "Systems": {
            "Tornado": {"Port": "8443"},
            "Framework": {"URLs": {"Echo": "https://a/x, https://b/x"}},
        },
        "DIRAC": {"Security": {"UseServerCertificate": "yes"}},
    }
    tree.set_option("/Systems/Tornado/Port", "9443")
    assert tree.getValue("/Systems/Tornado/Port", 0) == 9443


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/", "'/' is not an option path"),
        ("", "'' is not an option path"),
        ("/Systems/Tornado", "cannot set /Systems/Tornado: it is a section"),
        ("/Systems/Tornado/Port/X", "cannot set /Systems/Tornado/Port/X: /Systems/Tornado/Port is"),
    ],
)
def test_set_option_errors(path: str, message: str) -> None:
    tree = ConfigTree.from_dict({"Systems": {"Tornado": {"Port": 8443}}})
    with pytest.raises(ConfigError) as info:
        tree.set_option(path, "x")
    assert str(info.value).startswith(message)
    assert tree.as_dict() == {"Systems": {"Tornado": {"Port": "8443"}}}


# --- DIRAC's gConfig interface ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "default", "expected"),
    [
        ("a, b ,, c ,", [], ["a", "b", "c"]),
        ("a, b", ["x"], ["a", "b"]),
        ("", ["x"], []),
        ("a, b", (), ("a", "b")),
        ("a, b, a", set(), {"a", "b"}),
        ("a, b", list, ["a", "b"]),
        ("yes", False, True),
        ("Y", False, True),
        ("TRUE", False, True),
        ("1", False, True),
        ("true", bool, True),
        ("no", True, False),
        ("on", True, False),  # not one of DIRAC's words: false, not the default
        ("garbage", True, False),
        ("8443", 0, 8443),
        (" 8443 ", 0, 8443),
        ("8443", int, 8443),
        ("1.5", 0, 0),  # int("1.5") fails: the default
        ("abc", 7, 7),
        ("1.5", 0.0, 1.5),
        ("1e3", 1.0, 1000.0),
        ("nan-ish", 2.5, 2.5),
        ("text", "default", "text"),
        ("a:1, b, c : 3", {}, {"a": "1", "b": True, "c": "3"}),
        ("/abs/path", Path(), Path("/abs/path")),
    ],
)
def test_getvalue_conversions(value: str, default: object, expected: object) -> None:
    tree = ConfigTree.from_dict({"S": {"opt": value}})
    result = tree.getValue("/S/opt", default)
    assert result == expected
    assert type(result) is type(expected)


def test_getvalue_missing_and_raw(tree: ConfigTree) -> None:
    assert tree.getValue("/Systems/Tornado/Port") == "8443"
    assert tree.getValue("/Systems/Tornado/Missing") is None
    assert tree.getValue("/Systems/Tornado/Missing", 8443) == 8443
    assert tree.getValue("/Systems/Tornado/Missing", ["x"]) == ["x"]
    # As in DIRAC, a type given as the default comes back as is when the option is missing.
    assert tree.getValue("/Systems/Tornado/Missing", int) is int
    # A section is not an option.
    assert tree.getValue("/Systems/Tornado", "dflt") == "dflt"
    assert tree.getValue("/Systems/Framework/URLs/DummyTornado", []) == [
        "https://server.example.org:8443/Framework/DummyTornado",
        "https://backup.example.org:8443/Framework/DummyTornado",
    ]
    assert tree.getValue("/DIRAC/Security/UseServerCertificate", False) is True
    assert tree.getValue("/Systems/Framework/Services/DummyTornado/Timeout", 0.0) == 1.5


def test_getsections_getoptions_getoptionsdict(tree: ConfigTree) -> None:
    assert tree.getSections("/Systems/Framework") == {
        "OK": True,
        "Value": ["Services", "URLs", "Databases"],
    }
    assert tree.getOptions("/Systems/Framework/Databases/ProxyDB") == {
        "OK": True,
        "Value": ["Host", "Port", "DBName"],
    }
    assert tree.getOptionsDict("/Systems/Framework/Databases/ProxyDB") == {
        "OK": True,
        "Value": {"Host": "db.example.org", "Port": "3306", "DBName": "ProxyDB"},
    }
    assert tree.getSections("/Systems/Tornado") == {"OK": True, "Value": []}


@pytest.mark.parametrize("method", ["getSections", "getOptions", "getOptionsDict"])
@pytest.mark.parametrize("path", ["/Systems/Nope", "/Systems/Tornado/Port"])
def test_gconfig_errors_have_s_error_shape(tree: ConfigTree, method: str, path: str) -> None:
    assert getattr(tree, method)(path) == {
        "OK": False,
        "Errno": 0,
        "Message": f"Path {path} does not exist or it's not a section",
    }


def test_split_list_and_convert_value_helpers() -> None:
    assert split_list(" a,,b , ") == ["a", "b"]
    assert convert_value("x,y", ()) == ("x", "y")


# --- errors: always the file, and the line when there is one ----------------------------------


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.cfg"
    with pytest.raises(ConfigError) as info:
        ConfigTree.load(DIRAC_CFG, missing)
    assert str(info.value) == f"{missing}: no such file"
    assert isinstance(info.value, ValueError)
    assert (info.value.source, info.value.line) == (str(missing), None)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        ConfigTree.load(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a directory, not a configuration file"


def test_unreadable_file(tmp_path: Path) -> None:
    # Running as root defeats chmod; a dangling symlink loop is unreadable for anyone.
    loop = tmp_path / "loop.cfg"
    loop.symlink_to(loop)
    with pytest.raises(ConfigError, match=r"loop\.cfg: cannot read: "):
        ConfigTree.load(loop)


def test_not_utf8_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.cfg"
    path.write_bytes("A\n{\n  Name = Jos\xe9\n}\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        ConfigTree.load(path)
    assert str(info.value) == f"{path}:3: not UTF-8 text"


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.cfg"
    path.write_bytes(b"\xef\xbb\xbfA\n{\n  x = 1\n}\n")
    assert ConfigTree.load(path).get("/A/x") == "1"


CFG_ERRORS = [
    ("[Section]\nkey = value\n", 1, "cannot parse '[Section]': expected 'key = value',"),
    ("A\n{\n  just some words\n}\n", 3, "cannot parse 'just some words'"),
    ("A\n{\n  x = 1\n}\ntrailing words\n", 5, "cannot parse 'trailing words'"),
    ("A\nB\n{\n}\n", 1, "cannot parse 'A'"),
    ("A\n{\n  x = 1\n}\n}\n", 5, "'}' without a matching '{'"),
    ("A\n{\n  B\n  {\n    x = 1\n  }\n", 1, "section 'A' is never closed (missing '}')"),
    ("A {\n  B {\n  }\n  C {\n", 4, "section 'C' is never closed"),
    ("{\n}\n", 1, "'{' without a section name"),
    ("A { x = 1 }\n", 1, "unexpected text after '{': 'x = 1 }'"),
    # "=" takes the rest of the line, brace included: A stays open.
    ("A {\n  x = 1 }\n", 1, "section 'A' is never closed"),
    ("A {\n}}\n", 2, "unexpected text around '}': '}}'"),
    ("A {\n} # end of A\n", 2, "unexpected text around '}'"),
    ("A {\n  = 1\n}\n", 2, "option without a name: '= 1'"),
    ("A {\n  x += 1\n}\n", 2, "'+=' on 'x', which is not an option defined before"),
    ("A {\n  B {\n  }\n  B += 1\n}\n", 4, "'+=' on 'B', which is not an option defined before"),
    ("A {\n}\nA {\n}\n", 3, "'A' is already defined as section at line 1"),
    ("A = 1\nA {\n}\n", 2, "'A' is already defined as option at line 1"),
    ("A {\n}\nA = 1\n", 3, "'A' is already defined as section at line 1"),
    ("a/b = 1\n", 1, "option name 'a/b' must not contain '/'"),
    ("a/b {\n}\n", 1, "section name 'a/b' must not contain '/'"),
]


@pytest.mark.parametrize(("text", "line", "message"), CFG_ERRORS)
def test_cfg_syntax_errors_name_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = write(tmp_path / "bad.cfg", text)
    with pytest.raises(ConfigError) as info:
        ConfigTree.load(path)
    assert str(info.value).startswith(f"{path}:{line}: {message}")
    assert info.value.line == line


def test_cfg_accepts_dirac_variants(tmp_path: Path) -> None:
    path = write(
        tmp_path / "ok.cfg",
        "# comment\r\nA\r\n# comment between name and brace\r\n{\r\n"
        "  x = 1\r\n  x = 2\r\n  y = 1\r\n  y += 2\r\n  y+=3\r\n  Empty {}\r\n  z = {b}\r\n"
        "  Spaced Name {\r\n  }\r\n}\r\n",
    )
    assert ConfigTree.load(path).as_dict() == {
        "A": {"x": "2", "y": "1, 2, 3", "z": "{b}", "Empty": {}, "Spaced Name": {}}
    }


def test_empty_cfg_is_an_empty_tree(tmp_path: Path) -> None:
    assert ConfigTree.load(write(tmp_path / "empty.cfg", "# nothing\n\n")).as_dict() == {}


YAML_ERRORS = [
    ("A:\n  x: [1, 2\n", 3, "invalid YAML: "),
    ("A:\n  x: 1\n   y: 2\n", 3, "invalid YAML: "),
    ("A: {x: 1\n", 2, "invalid YAML: "),
    ("A: *nowhere\n", 1, "invalid YAML: found undefined alias 'nowhere'"),
    ("- a\n- b\n", 1, "the top level must be a mapping of sections and options"),
    ("just a string\n", 1, "the top level must be a mapping"),
    ("A:\n  x: 1\n  x: 2\n", 3, "duplicate key 'x' (first at line 2)"),
    ("A:\n  l:\n    - x: 1\n", 3, "list items must be plain values"),
    ("A:\n  l: [[1, 2]]\n", 2, "list items must be plain values"),
    ("A: 1\n---\nB: 2\n", 2, "invalid YAML: expected a single document in the stream, but found"),
    ("A:\n  a/b: 1\n", 2, "name 'a/b' must not contain '/'"),
    ("A:\n  ? [k]\n  : v\n", 2, "keys must be non-empty plain names"),
    ("A:\n  '': v\n", 2, "keys must be non-empty plain names"),
    ("A: &a\n  B: *a\n", 2, "recursive alias: a mapping contains itself"),
]


@pytest.mark.parametrize(("text", "line", "message"), YAML_ERRORS)
def test_yaml_errors_name_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError) as info:
        ConfigTree.load(path)
    assert str(info.value).startswith(f"{path}:{line}: {message}")


def test_yaml_control_character(tmp_path: Path) -> None:
    path = tmp_path / "ctl.yml"
    path.write_bytes(b"A:\n  x: 1\n  y: \x07\n")
    with pytest.raises(ConfigError) as info:
        ConfigTree.load(path)
    assert str(info.value) == f"{path}:3: invalid YAML: special characters are not allowed"


def test_yaml_scalars_are_normalised(tmp_path: Path) -> None:
    path = write(
        tmp_path / "values.yml",
        "base: &base\n  Inherited: yes\n"
        "S:\n  <<: *base\n  Off: off\n  Null: ~\n  Empty:\n  Int: 0x1F\n  Float: 1.5\n"
        "  Date: 2024-01-02\n  Quoted: 'yes'\n  8443: port\n  List: [a, 1, no, ~]\n",
    )
    assert ConfigTree.load(path).options("/S") == {
        "Inherited": "yes",
        "Off": "no",
        "Null": "",
        "Empty": "",
        "Int": "31",
        "Float": "1.5",
        "Date": "2024-01-02",
        "Quoted": "yes",
        "8443": "port",
        "List": "a, 1, no, ",
    }


def test_yaml_shared_anchor_is_not_recursion(tmp_path: Path) -> None:
    path = write(tmp_path / "alias.yaml", "A: &a\n  k: v\nB: *a\nC:\n  D: *a\n")
    assert ConfigTree.load(path).as_dict() == {
        "A": {"k": "v"},
        "B": {"k": "v"},
        "C": {"D": {"k": "v"}},
    }


def test_empty_yaml_is_an_empty_tree(tmp_path: Path) -> None:
    assert ConfigTree.load(write(tmp_path / "empty.yaml", "# nothing\n")).as_dict() == {}


def test_diraccfg_refusal_still_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class StricterCFG:
        def loadFromBuffer(self, text: str) -> None:
            raise KeyError("Option y has not been declared")

    monkeypatch.setattr("tornadoservice.config.formats.CFG", StricterCFG)
    path = write(tmp_path / "a.cfg", "A\n{\n}\n")
    with pytest.raises(ConfigError) as info:
        ConfigTree.load(path)
    assert str(info.value) == f"{path}: rejected by diraccfg: 'Option y has not been declared'"


def test_repr() -> None:
    assert repr(ConfigTree.from_dict({"A": {}, "B": "1"})) == "<ConfigTree sections=['A']>"


def test_config_error_formats() -> None:
    assert str(ConfigError("boom")) == "boom"
    assert str(ConfigError("boom", source="f.cfg")) == "f.cfg: boom"
    assert str(ConfigError("boom", source="f.cfg", line=3)) == "f.cfg:3: boom"
