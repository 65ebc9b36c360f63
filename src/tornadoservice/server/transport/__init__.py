"""An HTTP/1.1 server transport on asyncio transports and the ``httptools`` parser.

It serves Tornado's unchanged ``Application`` (and so every ``TornadoService``): it drives the
``HTTPMessageDelegate`` that ``Application.start_request`` returns and implements
``httputil.HTTPConnection`` for the answer, in place of Tornado's ``IOStream`` and
``HTTP1Connection``. Selected with ``/Systems/Tornado/HTTPImplementation = httptools``.
"""

from tornadoservice.server.transport.listener import HttptoolsServer

__all__ = ["HttptoolsServer"]
