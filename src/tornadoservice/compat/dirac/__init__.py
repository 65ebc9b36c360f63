"""DIRAC's service-layer API under one roof: port a handler by changing its imports.

The rule is mechanical: every name a handler imports from a DIRAC framework module is
importable under the same name from here::

    # DIRAC
    from DIRAC import gConfig, gLogger, S_OK, S_ERROR
    from DIRAC.ConfigurationSystem.Client.Helpers import Registry
    from DIRAC.ConfigurationSystem.Client.Helpers.Registry import getUsernameForDN
    from DIRAC.Core.DISET.RequestHandler import RequestHandler, getServiceOption
    from DIRAC.Core.Utilities.ObjectLoader import ObjectLoader

    # tornadoservice
    from tornadoservice.compat.dirac import gConfig, gLogger, S_OK, S_ERROR
    from tornadoservice.compat.dirac import Registry
    from tornadoservice.compat.dirac import getUsernameForDN
    from tornadoservice.compat.dirac import RequestHandler, getServiceOption
    from tornadoservice.compat.dirac import ObjectLoader

DIRAC's modules used as namespaces (``Registry``, ``PathFinder``, ``DErrno``, ``Properties``)
are modules here too, and their functions and constants are also flat names. ``gConfig`` and
the registry helpers read the configuration and registry of the server running in this process
(:mod:`tornadoservice.config.active`). Everything is a thin adapter over tornadoservice's own
modules; ``docs/porting.md`` lists what is provided and what is not, and why.
"""

from tornadoservice.client.tornadoclient import TornadoClient
from tornadoservice.compat.dirac import derrno as DErrno
from tornadoservice.compat.dirac import pathfinder as PathFinder
from tornadoservice.compat.dirac import properties as Properties
from tornadoservice.compat.dirac import registry as Registry
from tornadoservice.compat.dirac.clients import Client, RPCClient, createClient
from tornadoservice.compat.dirac.config import gConfig, getCSExtensions, getVO, siteName
from tornadoservice.compat.dirac.derrno import *  # noqa: F403
from tornadoservice.compat.dirac.handlers import RequestHandler, TornadoService, getServiceOption
from tornadoservice.compat.dirac.jencode import JSerializable, decode, encode, strToIntDict
from tornadoservice.compat.dirac.loader import ObjectLoader
from tornadoservice.compat.dirac.log import gLogger
from tornadoservice.compat.dirac.operations import Operations
from tornadoservice.compat.dirac.pathfinder import *  # noqa: F403
from tornadoservice.compat.dirac.properties import *  # noqa: F403
from tornadoservice.compat.dirac.registry import *  # noqa: F403
from tornadoservice.core.returnvalues import (
    S_ERROR,
    S_OK,
    DErrorReturnType,
    DOKReturnType,
    DReturnType,
    SErrorException,
    convertToReturnValue,
    isReturnStructure,
    isSError,
    returnSingleResult,
    returnValueOrRaise,
)

__all__ = [
    # DIRAC (the top-level package)
    "S_ERROR",
    "S_OK",
    "gConfig",
    "gLogger",
    "siteName",
    # DIRAC.Core.Utilities.ReturnValues
    "DErrorReturnType",
    "DOKReturnType",
    "DReturnType",
    "SErrorException",
    "convertToReturnValue",
    "isReturnStructure",
    "isSError",
    "returnSingleResult",
    "returnValueOrRaise",
    # DIRAC.Core.Utilities.JEncode
    "JSerializable",
    "decode",
    "encode",
    "strToIntDict",
    # handler base classes (DIRAC.Core.DISET.RequestHandler, DIRAC.Core.Tornado.Server...)
    "RequestHandler",
    "TornadoService",
    "getServiceOption",
    # clients (DIRAC.Core.Tornado.Client.TornadoClient, DIRAC.Core.Base.Client, ...RPCClient)
    "Client",
    "RPCClient",
    "TornadoClient",
    "createClient",
    # DIRAC.Core.Utilities.ObjectLoader
    "ObjectLoader",
    # DIRAC.ConfigurationSystem.Client.Helpers.Operations
    "Operations",
    # DIRAC.ConfigurationSystem.Client.Helpers.CSGlobals
    "getCSExtensions",
    "getVO",
    # modules used as namespaces
    "DErrno",
    "PathFinder",
    "Properties",
    "Registry",
    # their names, flat
    *DErrno.__all__,
    *PathFinder.__all__,
    *Properties.__all__,
    *Registry.__all__,
]
