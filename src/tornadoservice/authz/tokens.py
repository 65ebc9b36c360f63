"""The credential dict of a caller authenticated by a bearer token (the ``JWT`` scheme).

DIRAC 9 turns a verified token into ``{"ID": sub, "DN": "/O=DIRAC/CN=<sub>", "DIRACGroups": [...],
"group": ...}`` (its IdP's ``getUserGroups``), then its ``AuthManager`` adds ``properties`` and
``username``. We build the same dict, in that key order, with one more key, ``issuer``: the
token's ``iss`` (DIRAC drops it; a handler may need it. In a certificate dict the same key holds
the certificate issuer's DN). So ``whoami`` answers::

    {"ID": "<sub>", "issuer": "<iss>", "DN": "/O=DIRAC/CN=<sub>", "DIRACGroups": ["dirac_user"],
     "group": "dirac_user", "properties": ["NormalUser"], "username": "ciuser"}

Mapping, with the registry:

* user: the one whose ``/Registry/Users/<u>/ID`` lists the ``sub`` (DIRAC's ``getUsernameForID``),
  else the one whose ``DN`` lists ``/O=DIRAC/CN=<sub>`` (what DIRAC's AuthManager matches);
* groups claimed by the token: a ``group:<g>`` scope (DiracX's form), else the DIRAC groups whose
  ``IdPRole`` option (DIRAC's scopes for a group, e.g. ``wlcg.groups:/dirac/prod``) is satisfied
  by the token's scopes and its ``wlcg.groups`` claim (each entry ``/g`` counting as the scope
  ``wlcg.groups:/g``). ``DIRACGroups`` lists them;
* group: the claimed one the user is a member of (several: the user's, then the registry's
  ``DefaultGroup`` order, else the first by name); nothing claimed: the user's default group.

As for certificates, a subject the registry does not know is an anonymous visitor (only ``all``
rules admit it). Refused with :class:`AuthenticationError` (401), where DIRAC would quietly
downgrade to a visitor: a registered user who is a member of none of the groups the token claims,
a token naming several ``group:`` scopes, the ``hosts`` group, a suspended user.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tornadoservice.authz.credentials import ANONYMOUS, HOSTS_GROUP, VISITOR_GROUP
from tornadoservice.authz.errors import AuthenticationError
from tornadoservice.config.registry import Registry
from tornadoservice.identity.tokens import TokenError, TokenVerifier, VerifiedToken

__all__ = [
    "GROUP_SCOPE_PREFIX",
    "IDP_ROLE_OPTION",
    "ID_DN_PREFIX",
    "WLCG_GROUPS_CLAIM",
    "authenticate_bearer",
    "claimed_groups",
    "token_credentials",
]

ID_DN_PREFIX = "/O=DIRAC/CN="
"""DIRAC's ``wrapIDAsDN``: the pseudo-DN of a token subject."""
GROUP_SCOPE_PREFIX = "group:"
WLCG_GROUPS_CLAIM = "wlcg.groups"
IDP_ROLE_OPTION = "IdPRole"

_SCOPE_SPLIT = re.compile(r"[\s,]+")
_MAX_QUOTED = 80


def _quote(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_QUOTED else text[: _MAX_QUOTED - 3] + "..."


def _scopes(claims: Mapping[str, Any]) -> list[str]:
    scope = claims.get("scope")
    if isinstance(scope, str):
        return scope.split()
    scp = claims.get("scp")  # some issuers send a list
    if isinstance(scp, list):
        return [item for item in scp if isinstance(item, str)]
    return []


def _entitlements(claims: Mapping[str, Any], scopes: list[str]) -> set[str]:
    found = set(scopes)
    groups = claims.get(WLCG_GROUPS_CLAIM)
    if isinstance(groups, list):
        found.update(f"{WLCG_GROUPS_CLAIM}:{g}" for g in groups if isinstance(g, str))
    return found


def claimed_groups(claims: Mapping[str, Any], registry: Registry) -> tuple[list[str], bool]:
    """The DIRAC groups a token claims, and whether they were named explicitly (``group:``)."""
    scopes = _scopes(claims)
    explicit = list(
        dict.fromkeys(s[len(GROUP_SCOPE_PREFIX) :] for s in scopes if s.startswith("group:"))
    )
    if explicit:
        return explicit, True
    entitlements = _entitlements(claims, scopes)
    matched = []
    for name, group in sorted(registry.groups.items()):
        required = {s for s in _SCOPE_SPLIT.split(group.options.get(IDP_ROLE_OPTION, "")) if s}
        if required and required <= entitlements:
            matched.append(name)
    return matched, False


def token_credentials(token: VerifiedToken, registry: Registry) -> dict[str, Any]:
    """DIRAC's credential dict for a verified token, or :class:`AuthenticationError`."""
    creds: dict[str, Any] = {
        "ID": token.subject,
        "issuer": token.issuer,
        "DN": ID_DN_PREFIX + token.subject,
    }
    groups, explicit = claimed_groups(token.claims, registry)
    creds["DIRACGroups"] = groups
    if groups:
        creds["group"] = groups[0]
    user = registry.user_for_id(token.subject) or registry.user_for_dn(creds["DN"])
    if user is None:
        creds["properties"] = []
        creds["username"] = ANONYMOUS
        creds["group"] = VISITOR_GROUP
        return creds
    group = _choose_group(user, groups, explicit, registry)
    if group is None:
        # A registered user without any group: a visitor, as for a certificate.
        creds["properties"] = []
        creds["username"] = ANONYMOUS
        creds["group"] = VISITOR_GROUP
        return creds
    vo = registry.group_vo(group)
    if registry.is_suspended(user, vo):
        raise AuthenticationError(f"user {user} is suspended in VO {vo} (group {group})")
    creds["group"] = group
    creds["properties"] = list(registry.group_properties(group))
    creds["username"] = user
    return creds


def _choose_group(user: str, groups: list[str], explicit: bool, registry: Registry) -> str | None:
    if HOSTS_GROUP in groups:
        raise AuthenticationError(f"a token cannot claim the {HOSTS_GROUP} group")
    if explicit and len(groups) > 1:
        raise AuthenticationError(f"token names several groups: {_quote(groups)}")
    if not groups:
        return registry.default_group_for_user(user)
    member_of = [g for g in groups if registry.is_member(user, g)]
    if not member_of:
        raise AuthenticationError(
            f"user {user} is not a member of the group(s) the token claims: {_quote(groups)}"
        )
    if len(member_of) == 1:
        return member_of[0]
    found = registry.users.get(user)
    preferred = (found.default_groups if found is not None else ()) + registry.default_groups
    return next((g for g in preferred if g in member_of), member_of[0])


async def authenticate_bearer(
    authorization: str | None, verifier: TokenVerifier | None, registry: Registry
) -> dict[str, Any]:
    """Credentials from an ``Authorization: Bearer <token>`` header, or AuthenticationError.

    The reasons name the issuer, key id or claim at fault, never the token.
    """
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("no bearer token")
    if verifier is None:
        raise AuthenticationError("no token issuer is configured")
    try:
        verified = await verifier.verify(token)
    except TokenError as exc:
        raise AuthenticationError(f"bearer token refused: {exc.reason}") from exc
    return token_credentials(verified, registry)
