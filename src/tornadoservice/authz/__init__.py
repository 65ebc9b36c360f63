"""Authorization layer: DIRAC's credential dict and AuthManager rules.

* :mod:`~tornadoservice.authz.credentials`: who the caller is (user, group, properties);
* :mod:`~tornadoservice.authz.rules`: what a method's ``auth_`` rule admits;
* :mod:`~tornadoservice.authz.errors`: why a caller is refused (401 or 403).
"""

from tornadoservice.authz.credentials import (
    ANONYMOUS,
    HOSTS_GROUP,
    TRUSTED_HOST,
    VISITOR_GROUP,
    build_credentials,
    is_registered,
    visitor_credentials,
)
from tornadoservice.authz.errors import AuthenticationError, AuthError, AuthorizationError
from tornadoservice.authz.rules import Rule, compile_rule, method_rule

__all__ = [
    "ANONYMOUS",
    "HOSTS_GROUP",
    "TRUSTED_HOST",
    "VISITOR_GROUP",
    "AuthError",
    "AuthenticationError",
    "AuthorizationError",
    "Rule",
    "build_credentials",
    "compile_rule",
    "is_registered",
    "method_rule",
    "visitor_credentials",
]
