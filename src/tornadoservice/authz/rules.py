"""Authorization rules: which callers may call a method (DIRAC's ``auth_<method>`` lists).

A rule is a list of tokens, compiled once per method (:func:`compile_rule`) into a frozen
:class:`Rule` that answers per request with a few set lookups:

``all`` / ``any``
    everyone who passed authentication, anonymous visitors included.
``authenticated``
    any registered user or host (not an anonymous visitor).
``group:<g>``, ``vo:<v>``
    restrict to these groups, or to the groups of these VOs; together they form one set of allowed
    groups, combined with the other tokens by *and* (``["NormalUser", "group:admins"]``: members
    of ``admins`` that have ``NormalUser``). On their own they admit the members of those groups.
any other token
    a property; the caller needs at least one of them, compared case-insensitively. Unknown words
    are just properties nobody has (``["nobody"]`` admits nobody).

An empty rule admits nobody. DIRAC admits *everybody* there (its ``AuthManager`` treats an empty
list as ``any``); we deliberately fail closed, so a method that someone forgot to protect is not
open to every certificate holder. For the same reason ``vo:<v>`` admits the groups whose VO is
``v``, where DIRAC admits all groups whenever ``/DIRAC/VirtualOrganization`` is set.

:func:`method_rule` picks a method's tokens with DIRAC's precedence (see there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tornadoservice.authz.credentials import VISITOR_GROUP, is_registered
from tornadoservice.authz.errors import AuthenticationError, AuthorizationError
from tornadoservice.config.registry import Registry
from tornadoservice.config.tree import split_list

__all__ = ["DEFAULT_RULE_OPTION", "Rule", "compile_rule", "method_rule"]

DEFAULT_RULE_OPTION = "Default"
"""Option of ``<service section>/Authorization`` for methods without a rule of their own."""

_ALL = frozenset({"all", "any"})
_AUTHENTICATED = "authenticated"


@dataclass(frozen=True, slots=True)
class Rule:
    """A compiled authorization rule; build it with :func:`compile_rule`."""

    tokens: tuple[str, ...]
    """The tokens as written, for messages."""
    allow_all: bool = False
    authenticated: bool = False
    properties: frozenset[str] = frozenset()
    """Required properties, lower-case (any one suffices)."""
    groups: frozenset[str] = frozenset()
    """Allowed groups, from ``group:`` and resolved ``vo:`` tokens."""
    restricted: bool = False
    """Whether the rule has ``group:``/``vo:`` tokens (even if they resolved to no group)."""

    def allows(self, creds: Mapping[str, Any]) -> bool:
        """Whether the caller with these credentials may call the method."""
        return self._refusal(creds) is None

    def explain(self, creds: Mapping[str, Any]) -> str:
        """One line saying why the caller is refused, or which rule allows them."""
        return self._refusal(creds) or f"allowed by {self._show()}"

    def check(self, creds: Mapping[str, Any]) -> None:
        """Raise if refused: :class:`AuthenticationError` for an anonymous visitor (who may
        succeed with a registered identity), :class:`AuthorizationError` for a known caller."""
        reason = self._refusal(creds)
        if reason is None:
            return
        if is_registered(creds):
            raise AuthorizationError(reason)
        raise AuthenticationError(reason)

    def _refusal(self, creds: Mapping[str, Any]) -> str | None:
        group = creds.get("group") or VISITOR_GROUP
        if self.restricted and group not in self.groups:
            return f"group {group!r} is not allowed by {self._show()}"
        if self.allow_all:
            return None
        if not is_registered(creds):
            return f"anonymous caller (unregistered identity) refused by {self._show()}"
        if self.authenticated:
            return None
        if not self.properties:
            # Only group:/vo: tokens, already satisfied above; no tokens at all: nobody.
            return None if self.restricted else f"{self._show()} admits nobody"
        held = creds.get("properties") or ()
        if any(prop.lower() in self.properties for prop in held):
            return None
        return f"properties {list(held)!r} match none required by {self._show()}"

    def _show(self) -> str:
        return f"rule {list(self.tokens)!r}"


def compile_rule(tokens: Sequence[str] | str, *, registry: Registry | None = None) -> Rule:
    """Compile rule tokens (a list, or DIRAC's comma-separated string).

    ``vo:<v>`` tokens are resolved to the groups of that VO, which needs the ``registry``
    (``ValueError`` without one); compile the rules again when the registry changes.
    """
    words = split_list(tokens) if isinstance(tokens, str) else [t.strip() for t in tokens]
    words = [word for word in words if word]
    allow_all = authenticated = restricted = False
    properties: set[str] = set()
    groups: set[str] = set()
    for word in words:
        lower = word.lower()
        prefix, _, value = word.partition(":")
        if lower in _ALL:
            allow_all = True
        elif lower == _AUTHENTICATED:
            authenticated = True
        elif prefix.lower() == "group" and value:
            restricted = True
            groups.add(value.strip())
        elif prefix.lower() == "vo" and value:
            if registry is None:
                raise ValueError(f"rule token {word!r} needs the registry to resolve the VO")
            restricted = True
            groups.update(registry.groups_in_vo(value.strip()))
        else:
            properties.add(lower)
    return Rule(
        tokens=tuple(words),
        allow_all=allow_all,
        authenticated=authenticated,
        properties=frozenset(properties),
        groups=frozenset(groups),
        restricted=restricted,
    )


def _tokens(rule: Sequence[str] | str | None) -> list[str]:
    if rule is None:
        return []
    if isinstance(rule, str):
        return split_list(rule)
    return [token.strip() for token in rule if token.strip()]


def method_rule(
    method: str,
    code_rule: Sequence[str] | str | None,
    authorization_options: Mapping[str, str],
    *,
    default_rule: Sequence[str] | str | None = None,
    registry: Registry | None = None,
) -> Rule:
    """The compiled rule for ``method``, taking the first non-empty of, in DIRAC's order:

    1. ``<service section>/Authorization/<method>`` in the configuration;
    2. ``code_rule``: the handler's ``auth_<method>`` (or ``@authorization``);
    3. ``default_rule``: the handler class's ``DEFAULT_AUTHORIZATION``;
    4. ``<service section>/Authorization/Default`` in the configuration;
    5. nothing: the method admits nobody (DIRAC: everybody, see the module docstring).

    So the configuration's ``Default`` covers only methods that the code leaves unprotected; to
    change a method the code protects, name that method in the configuration.
    ``authorization_options`` are the options of the service's ``Authorization`` section (e.g.
    ``tree.options(f"{service_section}/Authorization")``), values in DIRAC's comma list format.
    """
    for candidate in (
        authorization_options.get(method),
        code_rule,
        default_rule,
        authorization_options.get(DEFAULT_RULE_OPTION),
    ):
        tokens = _tokens(candidate)
        if tokens:
            return compile_rule(tokens, registry=registry)
    return compile_rule((), registry=registry)
