"""tornadoservice: secure RPC services over HTTPS, wire-compatible with DIRAC.

A service is a :class:`TornadoService` subclass with ``export_<method>`` functions returning
:func:`S_OK`/:func:`S_ERROR` and ``auth_<method>`` rules; :class:`TornadoServer` serves every
service of a configuration on one HTTPS port.
"""

from typing import TYPE_CHECKING, Any

from tornadoservice._version import __version__
from tornadoservice.config.registry import Registry
from tornadoservice.config.tree import ConfigError, ConfigTree
from tornadoservice.core.errors import TornadoServiceError
from tornadoservice.core.returnvalues import (
    S_ERROR,
    S_OK,
    DReturnType,
    SErrorException,
    convertToReturnValue,
    isReturnStructure,
    isSError,
    returnValueOrRaise,
)
from tornadoservice.server.decorators import authentication, authorization
from tornadoservice.server.handler import TornadoService
from tornadoservice.server.server import ServerStartError, TornadoServer
from tornadoservice.wire.jencode import (
    JEncodeError,
    JSerializable,
    decode,
    encode,
    register_serializable,
)

if TYPE_CHECKING:
    from tornadoservice.client.tornadoclient import TornadoClient


def __getattr__(name: str) -> Any:
    # The client stack (requests, urllib3) is imported on first use only: a server process, or
    # a script that only defines services, does not pay for it.
    if name == "TornadoClient":
        from tornadoservice.client.tornadoclient import TornadoClient

        globals()["TornadoClient"] = TornadoClient
        return TornadoClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "S_ERROR",
    "S_OK",
    "ConfigError",
    "ConfigTree",
    "DReturnType",
    "JEncodeError",
    "JSerializable",
    "Registry",
    "SErrorException",
    "ServerStartError",
    "TornadoClient",
    "TornadoServer",
    "TornadoService",
    "TornadoServiceError",
    "__version__",
    "authentication",
    "authorization",
    "convertToReturnValue",
    "decode",
    "encode",
    "isReturnStructure",
    "isSError",
    "register_serializable",
    "returnValueOrRaise",
]
