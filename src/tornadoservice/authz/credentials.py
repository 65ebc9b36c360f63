"""The caller's credential dict: DIRAC's ``credDict``, built once per request.

:func:`build_credentials` maps what the TLS layer verified (an
:class:`~tornadoservice.identity.credentials.X509Identity`) and the optional ``extraCredentials``
form field to a registry user, group and properties, with DIRAC 9's semantics (its
``X509Chain.getCredentials`` followed by ``AuthManager.authQuery``):

* a proxy acts in the group of its DIRAC group extension; a certificate without one in its
  default group (``/Registry/DefaultGroup``, see :meth:`Registry.default_group_for_user`);
* an unknown DN is an anonymous visitor (``username`` ``anonymous``, group ``visitor``, no
  properties), which only rules with ``all``/``any`` admit; so is a registered user without any
  group, and a host certificate sent without ``extraCredentials``;
* ``extraCredentials="hosts"``: a registered host acting as itself (group ``hosts``, the host's
  properties);
* ``extraCredentials=[DN, group]``: a host with the ``TrustedHost`` property forwarding a user.

The dict is what ``whoami`` returns, so its keys are inserted in the order DIRAC inserts them
(reference ``dirac-wire.md`` 5.2): JSON keeps that order and clients may compare bytes.
``validDN`` and ``validGroup`` are ``False`` in every dict DIRAC sends (it fills them before
consulting the registry); they are reproduced as such and never used for decisions.

Deliberate difference: where DIRAC silently downgrades a caller to an anonymous visitor, so that
``all`` methods still succeed, we refuse with :class:`AuthenticationError` (401) and say why in the
log: a proxy group the user is not a member of, a suspended user, ``"hosts"`` from a certificate
that is no registered host, forwarding from anything but a ``TrustedHost`` host (DIRAC refuses
that one too), and an ``extraCredentials`` value that is neither ``"hosts"`` nor ``[DN, group]``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from tornadoservice.authz.errors import AuthenticationError
from tornadoservice.config.registry import Registry
from tornadoservice.identity.credentials import X509Identity

# AuthenticationError is re-exported: it is what build_credentials raises.
__all__ = [
    "ANONYMOUS",
    "HOSTS_GROUP",
    "TRUSTED_HOST",
    "VISITOR_GROUP",
    "AuthenticationError",
    "build_credentials",
    "is_registered",
    "visitor_credentials",
]

ANONYMOUS = "anonymous"
VISITOR_GROUP = "visitor"
HOSTS_GROUP = "hosts"
TRUSTED_HOST = "TrustedHost"

_MAX_QUOTED = 120  # longest client-supplied value quoted in a log reason


def visitor_credentials() -> dict[str, Any]:
    """Credentials of a caller without any certificate or token (``VISITOR`` authentication).

    DIRAC starts from an empty dict and only adds ``properties``; its accessors then default to
    ``anonymous``/``visitor``. We put those two in the dict so every consumer sees the same thing.
    """
    return {"properties": [], "username": ANONYMOUS, "group": VISITOR_GROUP}


def is_registered(credentials: Mapping[str, Any]) -> bool:
    """Whether the credentials name a registered user or host (not an anonymous visitor)."""
    username = credentials.get("username")
    group = credentials.get("group")
    return username not in (None, "", ANONYMOUS) and group not in (None, "", VISITOR_GROUP)


def build_credentials(
    identity: X509Identity | None,
    registry: Registry,
    *,
    extra_credentials: object = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """DIRAC's credential dict for a caller, or :class:`AuthenticationError` if refused.

    ``extra_credentials`` is the decoded ``extraCredentials`` form field (``None`` when absent);
    ``now`` fixes the clock for ``secondsLeft``.
    """
    if identity is None:
        if extra_credentials is not None:
            raise AuthenticationError("extraCredentials sent without a client certificate")
        return visitor_credentials()

    creds: dict[str, Any] = {
        "subject": identity.subject,
        "issuer": identity.issuer,
        "secondsLeft": identity.seconds_left(now),
        "isProxy": identity.is_proxy,
        "isLimitedProxy": identity.is_limited_proxy,
        "validDN": False,
        "validGroup": False,
        "DN": identity.dn,
    }
    if identity.is_proxy:
        creds["identity"] = identity.dn
        if identity.group is not None:
            creds["group"] = identity.group
            creds["VO"] = registry.group_vo(identity.group) or identity.vo or ""

    if extra_credentials is None:
        _act_as_user(creds, registry, identity.dn)
    elif extra_credentials == HOSTS_GROUP:
        creds["extraCredentials"] = HOSTS_GROUP
        _act_as_host(creds, registry, identity.dn)
    else:
        dn, group = _forwarded(extra_credentials)
        _check_trusted_host(registry, identity.dn)
        # DIRAC replaces the DN in place and drops extraCredentials once unpacked: the dict then
        # describes the forwarded user (subject/issuer stay those of the host certificate).
        creds["DN"] = dn
        creds["properties"] = []
        creds["group"] = group
        if group == HOSTS_GROUP:
            _act_as_host(creds, registry, dn)
        else:
            _act_as_user(creds, registry, dn)
    return creds


def _act_as_user(creds: dict[str, Any], registry: Registry, dn: str) -> None:
    group = creds.get("group")
    creds["properties"] = []
    if group == HOSTS_GROUP:
        # A credential that names the "hosts" group (proxy extension or forwarding) is a host.
        _act_as_host(creds, registry, dn)
        return
    if group is None:
        user = registry.user_for_dn(dn)
        group = registry.default_group_for_user(user) if user is not None else None
        if group is None:
            _make_visitor(creds)
            return
        creds["group"] = group
    elif registry.user_for_dn(dn) is None:
        _make_visitor(creds)
        return

    user = registry.user_for_dn(dn, group)
    if user is None:
        raise AuthenticationError(f"{_quote(dn)} is not a member of group {_quote(group)}")
    vo = registry.group_vo(group)
    if registry.is_suspended(user, vo):
        raise AuthenticationError(f"user {user} is suspended in VO {vo} (group {group})")
    creds["properties"] = list(registry.group_properties(group))
    creds["username"] = user


def _make_visitor(creds: dict[str, Any]) -> None:
    # Insertion order as DIRAC's: username before group when the group was not set yet.
    creds["username"] = ANONYMOUS
    creds["group"] = VISITOR_GROUP
    creds["properties"] = []


def _act_as_host(creds: dict[str, Any], registry: Registry, dn: str) -> None:
    creds["properties"] = []
    creds["group"] = HOSTS_GROUP
    host = registry.host_for_dn(dn)
    if host is None:
        raise AuthenticationError(f"{_quote(dn)} asks to act as a host but is no registered host")
    creds["username"] = host
    creds["properties"] = list(registry.host_properties(host))


def _forwarded(value: object) -> tuple[str, str]:
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(item, str) and item.strip() for item in value)
    ):
        return value[0].strip(), value[1].strip()
    raise AuthenticationError(
        f'unsupported extraCredentials {_quote(value)}: expected "hosts" or [DN, group]'
    )


def _check_trusted_host(registry: Registry, dn: str) -> None:
    host = registry.host_for_dn(dn)
    if host is None:
        raise AuthenticationError(f"{_quote(dn)} forwards credentials but is no registered host")
    if not any(prop.lower() == TRUSTED_HOST.lower() for prop in registry.host_properties(host)):
        raise AuthenticationError(
            f"host {host} forwards credentials but lacks the {TRUSTED_HOST} property"
        )


def _quote(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_QUOTED else text[: _MAX_QUOTED - 3] + "..."
