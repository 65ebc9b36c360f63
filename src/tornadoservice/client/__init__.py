"""The client layer: :class:`TornadoClient` and the pieces behind it.

``urls`` resolves ``System/Service`` names and keeps the ban list; ``credentials`` finds the
proxy, host certificate, CA directory and token; ``transport`` makes the HTTPS session;
``rpc`` encodes one call and maps HTTP errors; ``transfer`` streams files.
"""

from .tornadoclient import TornadoClient, executeRPCStub, set_default_config

__all__ = ["TornadoClient", "executeRPCStub", "set_default_config"]
