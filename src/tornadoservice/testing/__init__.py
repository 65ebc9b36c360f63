"""Testing services written with tornadoservice: real TLS, a real server, real clients.

With the package installed, pytest loads the fixtures of :mod:`tornadoservice.testing.plugin`
(``tornadoservice_pki``, ``tornadoservice_server``) by itself. Outside pytest, or to control
the lifetime yourself, use :func:`make_test_pki` and :func:`running_server` directly.
"""

from tornadoservice.testing.pki import (
    ADMIN_GROUP,
    TOKEN_AUDIENCE,
    TOKEN_ISSUER,
    USER_GROUP,
    Identity,
    TestPKI,
    make_test_pki,
)
from tornadoservice.testing.server import LiveServer, running_server, server_config

__all__ = [
    "ADMIN_GROUP",
    "TOKEN_AUDIENCE",
    "TOKEN_ISSUER",
    "USER_GROUP",
    "Identity",
    "LiveServer",
    "TestPKI",
    "make_test_pki",
    "running_server",
    "server_config",
]
