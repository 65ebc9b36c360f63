"""Rules: compiling auth_ lists, deciding per credential dict, and DIRAC's precedence."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.authz.support import ADMIN, CIUSER, LOCALHOST, STRANGER, MakeIdentity
from tornadoservice.authz import (
    AuthenticationError,
    AuthorizationError,
    Rule,
    build_credentials,
    compile_rule,
    method_rule,
    visitor_credentials,
)
from tornadoservice.config import ConfigTree, Registry

Creds = dict[str, Any]


@pytest.fixture(scope="module")
def callers(registry: Registry, make_identity: MakeIdentity) -> dict[str, Creds]:
    """One credential dict per kind of caller, all built by build_credentials."""
    return {
        "no_cert": visitor_credentials(),
        "stranger": build_credentials(make_identity(STRANGER), registry),
        "ciuser": build_credentials(
            make_identity(CIUSER, proxy=True, group="dirac_user"), registry
        ),
        "ciuser_lhcb": build_credentials(
            make_identity(CIUSER, proxy=True, group="lhcb_user"), registry
        ),
        "admin": build_credentials(make_identity(ADMIN, proxy=True, group="dirac_admin"), registry),
        "host": build_credentials(make_identity(LOCALHOST), registry, extra_credentials="hosts"),
    }


ALL_CALLERS = {"no_cert", "stranger", "ciuser", "ciuser_lhcb", "admin", "host"}
REGISTERED = ALL_CALLERS - {"no_cert", "stranger"}


@pytest.mark.parametrize(
    ("tokens", "allowed"),
    [
        (["all"], ALL_CALLERS),
        (["any"], ALL_CALLERS),
        (["All"], ALL_CALLERS),
        ("all", ALL_CALLERS),
        (["authenticated"], REGISTERED),
        (["Authenticated"], REGISTERED),
        (["NormalUser"], {"ciuser", "ciuser_lhcb"}),
        (["normaluser"], {"ciuser", "ciuser_lhcb"}),  # properties compare case-insensitively
        (["NORMALUSER", "operator"], {"ciuser", "ciuser_lhcb", "admin", "host"}),
        ("NormalUser, TrustedHost", {"ciuser", "ciuser_lhcb", "host"}),
        (["TrustedHost"], {"host"}),
        (["group:dirac_admin"], {"admin"}),
        (["group:hosts"], {"host"}),
        (["group:dirac_user", "group:dirac_admin"], {"ciuser", "admin"}),
        (["NormalUser", "group:lhcb_user"], {"ciuser_lhcb"}),  # property AND group
        (["Operator", "group:dirac_user"], set()),
        (["all", "group:dirac_user"], {"ciuser"}),
        (["authenticated", "group:dirac_admin"], {"admin"}),
        (["vo:lhcb"], {"ciuser_lhcb"}),
        (
            ["vo:dirac"],
            {"ciuser", "admin"},
        ),  # groups without VO belong to /DIRAC/VirtualOrganization
        (["vo:atlas"], set()),  # a VO without groups admits nobody (DIRAC: everybody)
        (["group:nonexistent"], set()),
        (["nobody"], set()),
        ([], set()),  # an empty rule admits nobody (DIRAC: everybody)
        ("", set()),
        ([" ", ""], set()),
        (["group:visitor"], set()),  # anonymous callers are never "members" of a group
    ],
)
def test_who_is_allowed(
    callers: dict[str, Creds], registry: Registry, tokens: list[str] | str, allowed: set[str]
) -> None:
    rule = compile_rule(tokens, registry=registry)
    assert {name for name, creds in callers.items() if rule.allows(creds)} == allowed


def test_compiled_fields() -> None:
    rule = compile_rule([" NormalUser ", "all", "Authenticated", "group: admins ", "", "Group:x"])
    assert rule == Rule(
        tokens=("NormalUser", "all", "Authenticated", "group: admins", "Group:x"),
        allow_all=True,
        authenticated=True,
        properties=frozenset({"normaluser"}),
        groups=frozenset({"admins", "x"}),
        restricted=True,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.allow_all = False  # type: ignore[misc]


def test_prefix_without_value_is_a_property() -> None:
    rule = compile_rule(["group:", "vo:"])
    assert (rule.properties, rule.restricted) == (frozenset({"group:", "vo:"}), False)


def test_vo_tokens_need_the_registry() -> None:
    with pytest.raises(ValueError, match="'vo:lhcb' needs the registry"):
        compile_rule(["vo:lhcb"])


def test_rule_resolved_once_against_its_registry(callers: dict[str, Creds]) -> None:
    other = Registry.from_config(
        ConfigTree.from_dict({"Registry": {"Groups": {"dirac_admin": {"Users": "x", "VO": "v"}}}})
    )
    assert compile_rule(["vo:v"], registry=other).allows(callers["admin"])
    assert compile_rule(["vo:v"], registry=other).groups == frozenset({"dirac_admin"})


# --- explaining and raising ---------------------------------------------------------------------


def test_explain(callers: dict[str, Creds], registry: Registry) -> None:
    normal = compile_rule(["NormalUser"])
    assert normal.explain(callers["ciuser"]) == "allowed by rule ['NormalUser']"
    assert normal.explain(callers["admin"]) == (
        "properties ['ServiceAdministrator', 'Operator'] match none required by rule ['NormalUser']"
    )
    assert normal.explain(callers["stranger"]) == (
        "anonymous caller (unregistered identity) refused by rule ['NormalUser']"
    )
    assert compile_rule(["group:dirac_admin"]).explain(callers["ciuser"]) == (
        "group 'dirac_user' is not allowed by rule ['group:dirac_admin']"
    )
    assert compile_rule(["group:dirac_admin"]).explain(callers["no_cert"]) == (
        "group 'visitor' is not allowed by rule ['group:dirac_admin']"
    )
    assert compile_rule([]).explain(callers["admin"]) == "rule [] admits nobody"
    assert compile_rule(["vo:atlas"], registry=registry).explain(callers["ciuser"]) == (
        "group 'dirac_user' is not allowed by rule ['vo:atlas']"
    )


def test_check_raises_401_for_visitors_and_403_for_known_callers(
    callers: dict[str, Creds],
) -> None:
    rule = compile_rule(["authenticated"])
    rule.check(callers["ciuser"])  # allowed: no exception
    for name in ("no_cert", "stranger"):
        with pytest.raises(AuthenticationError, match="anonymous caller"):
            rule.check(callers[name])
    admin_only = compile_rule(["ServiceAdministrator"])
    with pytest.raises(AuthorizationError, match="match none required") as info:
        admin_only.check(callers["host"])
    assert info.value.status == 403
    with pytest.raises(AuthorizationError, match="admits nobody"):
        compile_rule([]).check(callers["admin"])


def test_credentials_without_group_or_properties() -> None:
    assert not compile_rule(["NormalUser"]).allows({"username": "u", "group": "g"})
    assert compile_rule(["authenticated"]).allows({"username": "u", "group": "g"})
    assert not compile_rule(["group:g"]).allows({})
    assert compile_rule(["all"]).allows({})


# --- precedence ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "code_rule", "default_rule", "expected"),
    [
        # 1. the configuration's rule for the method wins over everything.
        ({"lookup": "CfgMethod", "Default": "CfgDefault"}, ["Code"], ["ClassDefault"], "CfgMethod"),
        # 2. then the code's auth_<method>.
        ({"Default": "CfgDefault"}, ["Code"], ["ClassDefault"], "Code"),
        ({"other": "X"}, "Code, More", None, "Code, More"),
        # 3. then the class's DEFAULT_AUTHORIZATION.
        ({"Default": "CfgDefault"}, None, ["ClassDefault"], "ClassDefault"),
        ({"Default": "CfgDefault"}, [], "ClassDefault", "ClassDefault"),
        # 4. then the configuration's Default.
        ({"Default": "CfgDefault"}, None, None, "CfgDefault"),
        # Empty values do not count, at any level.
        ({"lookup": "", "Default": " , "}, [" "], "", ""),
        # 5. nothing: nobody.
        ({}, None, None, ""),
    ],
)
def test_method_rule_precedence(
    options: dict[str, str],
    code_rule: list[str] | str | None,
    default_rule: list[str] | str | None,
    expected: str,
) -> None:
    rule = method_rule("lookup", code_rule, options, default_rule=default_rule)
    assert rule == compile_rule(expected)


def test_method_rule_from_a_service_section(callers: dict[str, Creds], registry: Registry) -> None:
    tree = ConfigTree.from_dict(
        {
            "Systems": {
                "Framework": {
                    "Services": {
                        "Dummy": {
                            "Authorization": {
                                "Default": "authenticated",
                                "nobody": "nobody",
                                "lhcbOnly": ["vo:lhcb"],
                            }
                        }
                    }
                }
            }
        }
    )
    options = tree.options("/Systems/Framework/Services/Dummy/Authorization")
    whoami = method_rule("whoami", ["authenticated"], options, registry=registry)
    ping = method_rule("ping", ["all"], options, registry=registry)
    unprotected = method_rule("forgotten", None, options, registry=registry)
    nobody = method_rule("nobody", ["all"], options, registry=registry)  # config overrides code
    lhcb = method_rule("lhcbOnly", None, options, registry=registry)
    assert ping.allows(callers["stranger"])
    assert not whoami.allows(callers["stranger"])
    assert unprotected.allows(callers["ciuser"]) and not unprotected.allows(callers["stranger"])
    assert not nobody.allows(callers["admin"])
    assert lhcb.allows(callers["ciuser_lhcb"]) and not lhcb.allows(callers["ciuser"])
