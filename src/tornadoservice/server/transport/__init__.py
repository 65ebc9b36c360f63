"""An HTTP/1.1 server transport on asyncio transports and the ``httptools`` parser.

It serves Tornado's unchanged ``Application`` (and so every ``TornadoService``): it drives the
``HTTPMessageDelegate`` that ``Application.start_request`` returns and implements
``httputil.HTTPConnection`` for the answer, in place of Tornado's ``IOStream`` and
``HTTP1Connection``. The default; ``/Systems/Tornado/HTTPImplementation = tornado`` selects
Tornado's own transport instead.

``HttptoolsServer`` is imported on first use: the handler modules import
:mod:`.connection` alone, and the listener imports them back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tornadoservice.server.transport.listener import HttptoolsServer

__all__ = ["HttptoolsServer"]


def __getattr__(name: str) -> Any:
    if name == "HttptoolsServer":
        from tornadoservice.server.transport.listener import HttptoolsServer

        return HttptoolsServer
    raise AttributeError(name)
