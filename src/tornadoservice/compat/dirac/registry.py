"""DIRAC's ``Registry`` helpers, answered by the running server's :class:`Registry`.

Imported as a module it stands for ``DIRAC.ConfigurationSystem.Client.Helpers.Registry``
(``Registry.getUsernameForDN(dn)``); the functions are also in the flat
:mod:`tornadoservice.compat.dirac` namespace. Lookups go to the lookup tables the server built
from ``/Registry`` (a dict access each, no scan of the configuration); options a table does not
hold (``getUserOption`` ...) are read from the same configuration with DIRAC's conversions.
Results have DIRAC's shapes: ``S_OK``/``S_ERROR`` where DIRAC returns them, plain lists and
strings where DIRAC does. Outside a server the registry is empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tornadoservice.compat.dirac.config import current_config, getVO
from tornadoservice.config.active import active
from tornadoservice.config.registry import Registry
from tornadoservice.core.returnvalues import S_ERROR, S_OK, DReturnType

__all__ = [
    "findDefaultGroupForDN",
    "findDefaultGroupForUser",
    "getAllGroups",
    "getAllUsers",
    "getBannedIPs",
    "getDNForHost",
    "getDNForUsername",
    "getDNsInGroup",
    "getDNsInVO",
    "getDefaultUserGroup",
    "getEmailsForGroup",
    "getGroupOption",
    "getGroupsForDN",
    "getGroupsForUser",
    "getGroupsForVO",
    "getGroupsWithProperty",
    "getGroupsWithVOMSAttribute",
    "getHostOption",
    "getHostnameForDN",
    "getHosts",
    "getPropertiesForEntity",
    "getPropertiesForGroup",
    "getPropertiesForHost",
    "getUserOption",
    "getUsernameForDN",
    "getUsernameForID",
    "getUsersInGroup",
    "getUsersInVO",
    "getVOForGroup",
    "getVOMSAttributeForGroup",
    "getVOOption",
    "getVOs",
    "groupHasProperties",
    "hostHasProperties",
]

_EMPTY = Registry()


def _registry() -> Registry:
    found = active()
    return found.registry if found is not None else _EMPTY


def _sorted_or_error(names: Iterable[str], message: str) -> DReturnType:
    found = sorted(set(names))
    return S_OK(found) if found else S_ERROR(message)


# --- users, hosts and their DNs -----------------------------------------------------------------


def getUsernameForDN(dn: str, usersList: Sequence[str] | None = None) -> DReturnType:
    """``S_OK(user)`` registered with this DN (among ``usersList`` if given), else ``S_ERROR``."""
    dn = dn.strip()
    registry = _registry()
    if usersList:
        users = registry.users
        name = next((u for u in usersList if u in users and dn in users[u].dns), None)
    else:
        name = registry.user_for_dn(dn)
    return S_OK(name) if name is not None else S_ERROR(f"No username found for dn {dn}")


def getUsernameForID(ID: str, usersList: Sequence[str] | None = None) -> DReturnType:
    """``S_OK(user)`` whose ``ID`` option lists this token subject, else ``S_ERROR``."""
    name = _registry().user_for_id(ID)
    if name is not None and (not usersList or name in usersList):
        return S_OK(name)
    return S_ERROR(f"No username found for ID {ID}")


def getDNForUsername(username: str) -> DReturnType:
    """``S_OK([DN, ...])`` of a user, ``S_ERROR`` for an unknown user or one without DN."""
    user = _registry().users.get(username)
    if user is None or not user.dns:
        return S_ERROR(f"No DN found for user {username}")
    return S_OK(list(user.dns))


def getDNForHost(host: str) -> DReturnType:
    found = _registry().hosts.get(host)
    if found is None or not found.dns:
        return S_ERROR(f"No DN found for host {host}")
    return S_OK(list(found.dns))


def getHostnameForDN(dn: str) -> DReturnType:
    dn = dn.strip()
    name = _registry().host_for_dn(dn)
    return S_OK(name) if name is not None else S_ERROR(f"No hostname found for dn {dn}")


def getAllUsers() -> list[str]:
    return list(_registry().users)


def getAllGroups() -> list[str]:
    return list(_registry().groups)


def getHosts() -> DReturnType:
    """``S_OK([host, ...])`` (``getSections("/Registry/Hosts")``)."""
    return current_config().getSections("/Registry/Hosts")


# --- groups ---------------------------------------------------------------------------------


def getGroupsForUser(username: str) -> DReturnType:
    """``S_OK(sorted groups)`` listing the user, ``S_ERROR`` when there are none."""
    return _sorted_or_error(
        _registry().groups_for_user(username), f"No groups found for Users={username}"
    )


def getGroupsForDN(dn: str) -> DReturnType:
    result = getUsernameForDN(dn)
    return getGroupsForUser(result["Value"]) if result["OK"] else result


def getGroupsForVO(vo: str) -> DReturnType:
    """Every group when the installation has a single VO (``/DIRAC/VirtualOrganization``),
    else the groups of ``vo`` (``S_ERROR`` when none)."""
    if getVO():
        return current_config().getSections("/Registry/Groups")
    if not vo:
        return S_ERROR("No VO requested")
    return _sorted_or_error(_registry().groups_in_vo(vo), f"No groups found for VO={vo}")


def getGroupsWithProperty(propName: str) -> DReturnType:
    groups = _registry().groups.values()
    return _sorted_or_error(
        (group.name for group in groups if propName in group.properties),
        f"No groups found for Properties={propName}",
    )


def getGroupsWithVOMSAttribute(vomsAttr: str) -> list[str]:
    groups = _registry().groups.values()
    return [group.name for group in groups if group.options.get("VOMSRole") == vomsAttr]


def getUsersInGroup(groupName: str, defaultValue: list[str] | None = None) -> list[str]:
    """The group's ``Users`` as written; ``defaultValue`` (``[]``) when it has no such option."""
    group = _registry().groups.get(groupName)
    if group is None or "Users" not in group.options:
        return [] if defaultValue is None else defaultValue
    return list(group.users)


def getUsersInVO(vo: str, defaultValue: list[str] | None = None) -> list[str]:
    result = getGroupsForVO(vo)
    if not result["OK"] or not result["Value"]:
        return [] if defaultValue is None else defaultValue
    return [user for group in result["Value"] for user in getUsersInGroup(group)]


def getDNsInGroup(groupName: str) -> list[str]:
    return _dns_of(getUsersInGroup(groupName))


def getDNsInVO(vo: str) -> list[str]:
    return _dns_of(getUsersInVO(vo))


def _dns_of(usernames: Iterable[str]) -> list[str]:
    users = _registry().users
    return [dn for name in usernames if name in users for dn in users[name].dns]


def getEmailsForGroup(groupName: str) -> list[list[str]]:
    """For each user of the group, the list of their ``Email`` addresses."""
    return [getUserOption(user, "Email", []) for user in getUsersInGroup(groupName)]


def getDefaultUserGroup() -> str:
    """``/Registry/DefaultGroup`` as written, ``"user"`` when absent."""
    value: str = current_config().getValue("/Registry/DefaultGroup", "user")
    return value


def findDefaultGroupForUser(username: str) -> DReturnType:
    """The user's ``DefaultGroup``, else ``/Registry/DefaultGroup``'s, else their first group."""
    group = _registry().default_group_for_user(username)
    return S_OK(group) if group is not None else S_ERROR(f"No groups found for Users={username}")


def findDefaultGroupForDN(dn: str) -> DReturnType:
    result = getUsernameForDN(dn)
    return findDefaultGroupForUser(result["Value"]) if result["OK"] else result


# --- properties -----------------------------------------------------------------------------


def getPropertiesForGroup(groupName: str, defaultValue: list[str] | None = None) -> list[str]:
    group = _registry().groups.get(groupName)
    if group is None or "Properties" not in group.options:
        return [] if defaultValue is None else defaultValue
    return list(group.properties)


def getPropertiesForHost(hostName: str, defaultValue: list[str] | None = None) -> list[str]:
    host = _registry().hosts.get(hostName)
    if host is None or "Properties" not in host.options:
        return [] if defaultValue is None else defaultValue
    return list(host.properties)


def getPropertiesForEntity(
    group: str, name: str = "", dn: str = "", defaultValue: list[str] | None = None
) -> list[str]:
    """A host's properties for ``group == "hosts"`` (found by ``dn`` without ``name``), else
    the group's."""
    if group != "hosts":
        return getPropertiesForGroup(group, defaultValue)
    if not name:
        result = getHostnameForDN(dn)
        if not result["OK"]:
            return [] if defaultValue is None else defaultValue
        name = result["Value"]
    return getPropertiesForHost(name, defaultValue)


def groupHasProperties(groupName: str, propList: str | Sequence[str]) -> list[str]:
    """The properties of ``propList`` that the group has (a list, empty for none)."""
    wanted = [propList] if isinstance(propList, str) else list(propList)
    have = getPropertiesForGroup(groupName)
    return [prop for prop in wanted if prop in have]


def hostHasProperties(hostName: str, propList: str | Sequence[str]) -> list[str]:
    wanted = [propList] if isinstance(propList, str) else list(propList)
    have = getPropertiesForHost(hostName)
    return [prop for prop in wanted if prop in have]


# --- options and VOs ------------------------------------------------------------------------


def getUserOption(username: str, optName: str, defaultValue: Any = "") -> Any:
    return current_config().getValue(f"/Registry/Users/{username}/{optName}", defaultValue)


def getGroupOption(groupName: str, optName: str, defaultValue: Any = "") -> Any:
    return current_config().getValue(f"/Registry/Groups/{groupName}/{optName}", defaultValue)


def getHostOption(hostName: str, optName: str, defaultValue: Any = "") -> Any:
    return current_config().getValue(f"/Registry/Hosts/{hostName}/{optName}", defaultValue)


def getVOOption(voName: str, optName: str, defaultValue: Any = "") -> Any:
    return current_config().getValue(f"/Registry/VO/{voName}/{optName}", defaultValue)


def getVOForGroup(group: str) -> str:
    """The group's ``VO``, else ``/DIRAC/VirtualOrganization``, else ``""``."""
    return _registry().group_vo(group) or getVO()


def getVOs() -> DReturnType:
    """``S_OK([the single VO])``, or the sections of ``/Registry/VO``."""
    vo = getVO()
    return S_OK([vo]) if vo else current_config().getSections("/Registry/VO")


def getVOMSAttributeForGroup(group: str) -> str:
    default = current_config().get("/Registry/DefaultVOMSAttribute") or ""
    found = _registry().groups.get(group)
    return found.options.get("VOMSRole", default) if found is not None else default


def getBannedIPs() -> list[str]:
    value: list[str] = current_config().getValue("/Registry/BannedIPs", [])
    return value
