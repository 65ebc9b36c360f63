"""The registry of users, groups and hosts, read once from ``/Registry`` into lookup tables.

DIRAC walks the configuration on every lookup (``getUsernameForDN`` scans all users' DN lists,
behind a TTL cache). Here the ``/Registry`` section is read once into dicts keyed the way requests
need them (DN -> user, user -> groups, DN -> host ...), so authenticating a request is a handful of
dict lookups. Build a new :class:`Registry` when the configuration changes.

The layout and semantics are DIRAC 9's:

* ``/Registry/Users/<user>/DN``: one DN or a comma-separated list. Optional ``DefaultGroup``
  (list; preferred over the global one) and ``Suspended`` (list of VOs in which the user is
  suspended: a user is refused when acting in a group whose VO is listed). ``ID`` (list): the
  token subjects (``sub``) of the user, as DIRAC's ``getUsernameForID`` reads them.
* ``/Registry/Groups/<group>/Users`` and ``Properties`` (lists), ``VO``. A group without ``VO``
  belongs to ``/DIRAC/VirtualOrganization`` (DIRAC's ``getVOForGroup``), else to no VO.
* ``/Registry/Hosts/<host>/DN`` (list) and ``Properties``.
* ``/Registry/DefaultGroup``: list of group names, ``user`` when absent. A user's default group
  is the first of their own ``DefaultGroup`` list, then of this list, that they belong to; failing
  that, the first of their groups in alphabetical order (DIRAC's ``findDefaultGroupForUser``).

DNs are compared exactly, after stripping surrounding blanks (as DIRAC does). Properties keep the
case they are written in; authorization compares them case-insensitively.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from tornadoservice.config.tree import ConfigTree, split_list

__all__ = ["DEFAULT_GROUP", "Group", "Host", "Registry", "User"]

DEFAULT_GROUP = "user"
"""DIRAC's default for ``/Registry/DefaultGroup``."""


def _no_options() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class User:
    name: str
    dns: tuple[str, ...]
    default_groups: tuple[str, ...] = ()
    """The user's own ``DefaultGroup`` preference, tried before ``/Registry/DefaultGroup``."""
    suspended_vos: tuple[str, ...] = ()
    """VOs in which the user is suspended (the ``Suspended`` option)."""
    options: Mapping[str, str] = field(default_factory=_no_options, compare=False)
    """All options of the user's section as written (``Email``, ``CA`` ...)."""


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    users: tuple[str, ...]
    properties: tuple[str, ...] = ()
    vo: str | None = None
    """The group's VO: its ``VO`` option, else ``/DIRAC/VirtualOrganization``, else ``None``."""
    options: Mapping[str, str] = field(default_factory=_no_options, compare=False)


@dataclass(frozen=True, slots=True)
class Host:
    name: str
    dns: tuple[str, ...]
    properties: tuple[str, ...] = ()
    options: Mapping[str, str] = field(default_factory=_no_options, compare=False)


class Registry:
    """Users, groups and hosts with the lookups authentication needs, all precomputed."""

    __slots__ = (
        "_default_groups",
        "_group_members",
        "_groups",
        "_groups_by_user",
        "_groups_by_vo",
        "_host_by_dn",
        "_hosts",
        "_users",
        "_users_by_dn",
        "_users_by_id",
    )

    def __init__(
        self,
        users: Iterable[User] = (),
        groups: Iterable[Group] = (),
        hosts: Iterable[Host] = (),
        *,
        default_groups: Sequence[str] = (DEFAULT_GROUP,),
    ) -> None:
        self._users = {user.name: user for user in users}
        self._groups = {group.name: group for group in groups}
        self._hosts = {host.name: host for host in hosts}
        self._default_groups = tuple(default_groups)

        # A DN may (rarely) be registered for several users; keep them in definition order,
        # the order in which DIRAC's scan would find them.
        users_by_dn: dict[str, list[str]] = {}
        for user in self._users.values():
            for dn in user.dns:
                users_by_dn.setdefault(dn, []).append(user.name)
        self._users_by_dn = {dn: tuple(names) for dn, names in users_by_dn.items()}
        # Token subjects (``ID`` option, a list): the first user listing one wins, as in
        # DIRAC's getUsernameForID scan.
        users_by_id: dict[str, str] = {}
        for user in self._users.values():
            for token_id in split_list(user.options.get("ID", "")):
                users_by_id.setdefault(token_id, user.name)
        self._users_by_id = users_by_id

        self._group_members = {name: frozenset(g.users) for name, g in self._groups.items()}
        groups_by_user: dict[str, list[str]] = {}
        groups_by_vo: dict[str, set[str]] = {}
        for group in self._groups.values():
            for member in group.users:
                groups_by_user.setdefault(member, []).append(group.name)
            if group.vo is not None:
                groups_by_vo.setdefault(group.vo, set()).add(group.name)
        # DIRAC returns a user's groups sorted; the default group falls back on the first.
        self._groups_by_user = {user: tuple(sorted(set(g))) for user, g in groups_by_user.items()}
        self._groups_by_vo = {vo: frozenset(names) for vo, names in groups_by_vo.items()}

        host_by_dn: dict[str, str] = {}
        for host in self._hosts.values():
            for dn in host.dns:
                host_by_dn.setdefault(dn, host.name)
        self._host_by_dn = host_by_dn

    @classmethod
    def from_config(cls, tree: ConfigTree) -> Registry:
        """Read ``/Registry`` (and ``/DIRAC/VirtualOrganization``) from a configuration tree."""
        fallback_vo = tree.get("/DIRAC/VirtualOrganization") or None
        users = []
        for name in tree.sections("/Registry/Users"):
            options = tree.options(f"/Registry/Users/{name}")
            users.append(
                User(
                    name=name,
                    dns=_dns(options),
                    default_groups=tuple(split_list(options.get("DefaultGroup", ""))),
                    suspended_vos=tuple(split_list(options.get("Suspended", ""))),
                    options=MappingProxyType(options),
                )
            )
        groups = []
        for name in tree.sections("/Registry/Groups"):
            options = tree.options(f"/Registry/Groups/{name}")
            groups.append(
                Group(
                    name=name,
                    users=tuple(split_list(options.get("Users", ""))),
                    properties=tuple(split_list(options.get("Properties", ""))),
                    vo=options.get("VO", "").strip() or fallback_vo,
                    options=MappingProxyType(options),
                )
            )
        hosts = []
        for name in tree.sections("/Registry/Hosts"):
            options = tree.options(f"/Registry/Hosts/{name}")
            hosts.append(
                Host(
                    name=name,
                    dns=_dns(options),
                    properties=tuple(split_list(options.get("Properties", ""))),
                    options=MappingProxyType(options),
                )
            )
        # As gConfig.getValue(path, ["user"]): the default only applies when the option is absent.
        default = tree.get("/Registry/DefaultGroup")
        default_groups = split_list(default) if default is not None else [DEFAULT_GROUP]
        return cls(users, groups, hosts, default_groups=default_groups)

    # --- the entities --------------------------------------------------------------------------

    @property
    def users(self) -> Mapping[str, User]:
        return MappingProxyType(self._users)

    @property
    def groups(self) -> Mapping[str, Group]:
        return MappingProxyType(self._groups)

    @property
    def hosts(self) -> Mapping[str, Host]:
        return MappingProxyType(self._hosts)

    @property
    def default_groups(self) -> tuple[str, ...]:
        return self._default_groups

    # --- lookups -------------------------------------------------------------------------------

    def user_for_dn(self, dn: str, group: str | None = None) -> str | None:
        """The user registered with this DN; with ``group``, only a member of that group.

        With a group, and several users sharing the DN, the one listed first in the group's
        ``Users`` wins (DIRAC scans that list).
        """
        candidates = self._users_by_dn.get(dn.strip(), ())
        if group is None:
            return candidates[0] if candidates else None
        members = self._group_members.get(group, frozenset())
        matches = [name for name in candidates if name in members]
        if len(matches) <= 1:
            return matches[0] if matches else None
        return min(matches, key=self._groups[group].users.index)

    def user_for_id(self, subject: str) -> str | None:
        """The user whose ``/Registry/Users/<user>/ID`` lists this token subject (``sub``)."""
        return self._users_by_id.get(subject.strip())

    def groups_for_user(self, user: str) -> tuple[str, ...]:
        """The groups listing the user, sorted by name."""
        return self._groups_by_user.get(user, ())

    def is_member(self, user: str, group: str) -> bool:
        return user in self._group_members.get(group, frozenset())

    def group_properties(self, group: str) -> tuple[str, ...]:
        found = self._groups.get(group)
        return found.properties if found is not None else ()

    def group_vo(self, group: str) -> str | None:
        """The group's VO (see :attr:`Group.vo`); ``None`` for an unknown group."""
        found = self._groups.get(group)
        return found.vo if found is not None else None

    def groups_in_vo(self, vo: str) -> frozenset[str]:
        return self._groups_by_vo.get(vo, frozenset())

    def default_group_for_user(self, user: str) -> str | None:
        """The group a caller acts in when the credential names none; ``None`` without groups."""
        groups = self.groups_for_user(user)
        if not groups:
            return None
        found = self._users.get(user)
        preferred = (found.default_groups if found is not None else ()) + self._default_groups
        for group in preferred:
            if group in groups:
                return group
        return groups[0]

    def is_suspended(self, user: str, vo: str | None) -> bool:
        """Whether the user is suspended in this VO (always ``False`` without a VO)."""
        found = self._users.get(user)
        return found is not None and vo is not None and vo in found.suspended_vos

    def host_for_dn(self, dn: str) -> str | None:
        return self._host_by_dn.get(dn.strip())

    def host_properties(self, host: str) -> tuple[str, ...]:
        found = self._hosts.get(host)
        return found.properties if found is not None else ()


def _dns(options: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(split_list(options.get("DN", "")))
