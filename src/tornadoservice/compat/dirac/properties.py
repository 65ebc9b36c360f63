"""DIRAC's security properties (``DIRAC.Core.Security.Properties``).

Imported as a module it stands for DIRAC's (``Properties.JOB_ADMINISTRATOR``); the names are
also in the flat :mod:`tornadoservice.compat.dirac` namespace. Each constant is the property's
string as written in ``/Registry`` (``"JobAdministrator"``), and :class:`SecurityProperty` holds
them as an enumeration of strings, so either compares equal to what a credential carries.
DIRAC's ``&``/``|``/``~`` expressions over properties are not provided: write
``auth_<method>`` rules in the configuration or in code (see :mod:`tornadoservice.authz`).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ACCOUNTING_MONITOR",
    "BOOKKEEPING_MANAGEMENT",
    "CS_ADMINISTRATOR",
    "FC_MANAGEMENT",
    "FULL_DELEGATION",
    "GENERIC_PILOT",
    "JOB_ADMINISTRATOR",
    "JOB_MONITOR",
    "JOB_SHARING",
    "LIMITED_DELEGATION",
    "NORMAL_USER",
    "OPERATOR",
    "PPG_AUTHORITY",
    "PRIVATE_LIMITED_DELEGATION",
    "PRODUCTION_MANAGEMENT",
    "PRODUCTION_SHARING",
    "PRODUCTION_USER",
    "PROXY_MANAGEMENT",
    "SERVICE_ADMINISTRATOR",
    "SITE_MANAGER",
    "STAGE_ALLOWED",
    "TRUSTED_HOST",
    "USER_MANAGER",
    "SecurityProperty",
]


class SecurityProperty(StrEnum):
    """The properties DIRAC defines, by DIRAC's names."""

    TRUSTED_HOST = "TrustedHost"
    NORMAL_USER = "NormalUser"
    CS_ADMINISTRATOR = "CSAdministrator"
    JOB_SHARING = "JobSharing"
    SERVICE_ADMINISTRATOR = "ServiceAdministrator"
    JOB_ADMINISTRATOR = "JobAdministrator"
    JOB_MONITOR = "JobMonitor"
    ACCOUNTING_MONITOR = "AccountingMonitor"
    GENERIC_PILOT = "GenericPilot"
    SITE_MANAGER = "SiteManager"
    USER_MANAGER = "UserManager"
    OPERATOR = "Operator"
    FULL_DELEGATION = "FullDelegation"
    LIMITED_DELEGATION = "LimitedDelegation"
    PRIVATE_LIMITED_DELEGATION = "PrivateLimitedDelegation"
    PROXY_MANAGEMENT = "ProxyManagement"
    PRODUCTION_MANAGEMENT = "ProductionManagement"
    PRODUCTION_SHARING = "ProductionSharing"
    PRODUCTION_USER = "ProductionUser"
    PPG_AUTHORITY = "PPGAuthority"
    BOOKKEEPING_MANAGEMENT = "BookkeepingManagement"
    FC_MANAGEMENT = "FileCatalogManagement"
    STAGE_ALLOWED = "StageAllowed"


# DIRAC's module-level constants: plain strings.
TRUSTED_HOST = SecurityProperty.TRUSTED_HOST.value
NORMAL_USER = SecurityProperty.NORMAL_USER.value
CS_ADMINISTRATOR = SecurityProperty.CS_ADMINISTRATOR.value
JOB_SHARING = SecurityProperty.JOB_SHARING.value
SERVICE_ADMINISTRATOR = SecurityProperty.SERVICE_ADMINISTRATOR.value
JOB_ADMINISTRATOR = SecurityProperty.JOB_ADMINISTRATOR.value
JOB_MONITOR = SecurityProperty.JOB_MONITOR.value
ACCOUNTING_MONITOR = SecurityProperty.ACCOUNTING_MONITOR.value
GENERIC_PILOT = SecurityProperty.GENERIC_PILOT.value
SITE_MANAGER = SecurityProperty.SITE_MANAGER.value
USER_MANAGER = SecurityProperty.USER_MANAGER.value
OPERATOR = SecurityProperty.OPERATOR.value
FULL_DELEGATION = SecurityProperty.FULL_DELEGATION.value
LIMITED_DELEGATION = SecurityProperty.LIMITED_DELEGATION.value
PRIVATE_LIMITED_DELEGATION = SecurityProperty.PRIVATE_LIMITED_DELEGATION.value
PROXY_MANAGEMENT = SecurityProperty.PROXY_MANAGEMENT.value
PRODUCTION_MANAGEMENT = SecurityProperty.PRODUCTION_MANAGEMENT.value
PRODUCTION_SHARING = SecurityProperty.PRODUCTION_SHARING.value
PRODUCTION_USER = SecurityProperty.PRODUCTION_USER.value
PPG_AUTHORITY = SecurityProperty.PPG_AUTHORITY.value
BOOKKEEPING_MANAGEMENT = SecurityProperty.BOOKKEEPING_MANAGEMENT.value
FC_MANAGEMENT = SecurityProperty.FC_MANAGEMENT.value
STAGE_ALLOWED = SecurityProperty.STAGE_ALLOWED.value
