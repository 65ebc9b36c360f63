"""Per-request work of Tornado's ``RequestHandler`` that a service does not need redone.

``RequestHandler.__init__`` builds the template namespace (``self.ui``, with its module
namespace object) for every request; a service renders no template. :class:`LeanHandler` does
the rest of ``__init__`` as Tornado does and builds ``ui`` on first use (a test checks that it
sets every attribute Tornado's does, so a Tornado release that adds one is caught).

``RequestHandler.clear()`` runs for every request (and again when an error replaces the
answer): it formats the ``Date`` header from the clock each time (``email.utils`` work, a few
microseconds). :class:`LeanHandler` sets the same three headers, with the ``Date`` text made
once per second. Everything else of the handler API is Tornado's, unchanged.

Routing: Tornado's ``Application`` tries each route's regular expression in turn for every
request. :class:`ServiceApplication` finds a route whose pattern is a plain path (every
``System/Service`` and probe path) with one dictionary lookup, and leaves any other request
(a pattern route, an unknown path) to Tornado's router, which answers it as before.

The request object: Tornado's ``HTTPServerRequest.__init__`` checks the ``Host`` header with
a regular expression, splits off its port, parses the query string and deep-copies what it
parsed, for every request. :class:`ServiceApplication` builds a :class:`LeanRequest` instead
when the request has no query string (DIRAC's calls put everything in the body) and its
``Host`` value is one that Tornado's own checks passed before in this process: the same
attributes with the same values (a test compares them), without redoing those checks. Any
other request gets Tornado's ``HTTPServerRequest``, whose checks answer a bad one as before.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Sequence
from http.client import responses
from typing import TYPE_CHECKING, Any

import tornado
from tornado import httputil
from tornado.util import ObjectDict
from tornado.web import Application, RequestHandler, _UIModuleNamespace

from tornadoservice.server.eager import EagerDelegate

if TYPE_CHECKING:
    from tornado.web import _HandlerDelegate

__all__ = ["LeanHandler", "LeanRequest", "ServiceApplication", "http_date", "make_request"]

SERVER_HEADER = f"TornadoServer/{tornado.version}"
"""Tornado's own ``Server`` value (clients and tests that look at it see no change)."""

_date: tuple[int, str] = (0, "")


def http_date(now: float | None = None) -> str:
    """``now`` (default: the clock) as an HTTP date, formatted at most once per second."""
    global _date  # a one-entry cache: the tuple swap is atomic
    second = int(time.time() if now is None else now)
    cached = _date
    if cached[0] != second:
        cached = _date = (second, httputil.format_timestamp(second))
    return cached[1]


class LeanHandler(RequestHandler):
    """``RequestHandler`` with ``ui`` made on first use and a cheaper :meth:`clear`."""

    def __init__(
        self, application: Application, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> None:
        # RequestHandler.__init__ without the template namespace (see the module docstring).
        self.application = application
        self.request = request
        self._headers_written = False
        self._finished = False
        self._auto_finish = True
        self._prepared_future = None
        self.clear()
        assert request.connection is not None
        # Not part of the HTTPConnection interface, though every connection has it (Tornado's
        # own __init__ makes the same call with the same ignore).
        request.connection.set_close_callback(self.on_connection_close)  # type: ignore[attr-defined]
        self.initialize(**kwargs)

    @property
    def ui(self) -> ObjectDict:
        """Tornado's template namespace of this handler, made when first asked for."""
        made = self.__dict__.get("_lean_ui")
        if made is None:
            app = self.application
            made = ObjectDict((n, self._ui_method(m)) for n, m in app.ui_methods.items())
            made["_tt_modules"] = _UIModuleNamespace(self, app.ui_modules)
            made["modules"] = made["_tt_modules"]
            self.__dict__["_lean_ui"] = made
        return made

    @ui.setter
    def ui(self, value: ObjectDict) -> None:
        self.__dict__["_lean_ui"] = value

    def clear(self) -> None:
        """What ``RequestHandler.clear`` does: the default headers, no body, status 200."""
        # Items set one by one: HTTPHeaders(dict) goes through MutableMapping.update, slower.
        headers = self._headers = httputil.HTTPHeaders()
        headers["Server"] = SERVER_HEADER
        headers["Content-Type"] = "text/html; charset=UTF-8"
        headers["Date"] = http_date()
        self.set_default_headers()
        self._write_buffer: list[bytes] = []
        self._status_code = 200
        self._reason = responses[200]


_HOST_NAMES: dict[str, str] = {}
"""``Host`` values that passed Tornado's checks -> their ``host_name`` (at most
:data:`MAX_HOSTS_KNOWN`; a client cannot grow it past that)."""
MAX_HOSTS_KNOWN = 64


class LeanRequest(httputil.HTTPServerRequest):
    """``HTTPServerRequest`` of a request without a query string whose ``Host`` is known."""

    def __init__(
        self,
        connection: httputil.HTTPConnection,
        server_connection: object,
        start_line: httputil.RequestStartLine,
        headers: httputil.HTTPHeaders,
        host: str,
        host_name: str,
    ) -> None:
        self.method, self.uri, self.version = start_line
        self.headers = headers
        self.body = b""
        context = getattr(connection, "context", None)
        self.remote_ip = getattr(context, "remote_ip", None)
        self.protocol = getattr(context, "protocol", "http")
        self.host = host
        self.host_name = host_name
        self.files = {}
        self.connection = connection
        self.server_connection = server_connection
        self._start_time = time.time()
        self._finish_time = None
        self.path, self.query = self.uri, ""
        self.arguments = {}
        self.query_arguments = {}
        self.body_arguments = {}


def make_request(
    connection: httputil.HTTPConnection,
    server_connection: object,
    start_line: httputil.RequestStartLine,
    headers: httputil.HTTPHeaders,
) -> httputil.HTTPServerRequest:
    """The request object of ``start_line`` and ``headers`` (see the module docstring)."""
    host = headers.get("Host")
    if host is not None and "?" not in start_line.path:
        host_name = _HOST_NAMES.get(host)
        if host_name is not None:
            return LeanRequest(connection, server_connection, start_line, headers, host, host_name)
    request = httputil.HTTPServerRequest(  # Tornado's checks: an HTTPInputError on a bad one
        connection=connection,
        server_connection=server_connection,
        start_line=start_line,
        headers=headers,
    )
    if host is not None and request.host == host and len(_HOST_NAMES) < MAX_HOSTS_KNOWN:
        _HOST_NAMES[host] = request.host_name
    return request


class _RoutingDelegate(httputil.HTTPMessageDelegate):
    """What Tornado's router does with one request, with :func:`make_request`."""

    __slots__ = ("app", "delegate", "request_conn", "server_conn")

    def __init__(
        self, app: ServiceApplication, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> None:
        self.app = app
        self.server_conn = server_conn
        self.request_conn = request_conn
        self.delegate: httputil.HTTPMessageDelegate | None = None

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        assert isinstance(start_line, httputil.RequestStartLine)
        request = make_request(self.request_conn, self.server_conn, start_line, headers)
        # Application.find_handler always finds one (its 404 handler at worst).
        self.delegate = self.app.find_handler(request)
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        assert self.delegate is not None
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        assert self.delegate is not None
        self.delegate.finish()

    def on_connection_close(self) -> None:
        if self.delegate is not None:
            self.delegate.on_connection_close()


def _is_plain(pattern: object) -> bool:
    return isinstance(pattern, str) and pattern.startswith("/") and re.escape(pattern) == pattern


class ServiceApplication(Application):
    """``Application`` with plain-path routes found by a dictionary lookup."""

    def __init__(self, routes: Sequence[Any], **settings: Any) -> None:
        super().__init__(list(routes), **settings)
        self._exact: dict[str, tuple[type[RequestHandler], dict[str, Any]]] = {}
        for route in routes:
            plain = isinstance(route, tuple) and len(route) in (2, 3) and _is_plain(route[0])
            if not plain:
                break  # a pattern route may shadow any route after it: Tornado decides those
            kwargs = route[2] if len(route) == 3 else {}
            self._exact.setdefault(route[0], (route[1], kwargs))  # the first route wins

    def add_handlers(self, host_pattern: str, host_handlers: Any) -> None:
        self._exact = {}  # host-specific routes come first: Tornado's router decides again
        super().add_handlers(host_pattern, host_handlers)

    def get_handler_delegate(
        self,
        request: httputil.HTTPServerRequest,
        target_class: type[RequestHandler],
        target_kwargs: dict[str, Any] | None = None,
        path_args: list[bytes] | None = None,
        path_kwargs: dict[str, bytes] | None = None,
    ) -> _HandlerDelegate:
        """Tornado's delegate, but starting a streaming handler at once (:mod:`.eager`)."""
        return EagerDelegate(self, request, target_class, target_kwargs, path_args, path_kwargs)

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        return _RoutingDelegate(self, server_conn, request_conn)

    def find_handler(self, request: httputil.HTTPServerRequest, **kwargs: Any) -> _HandlerDelegate:
        found = self._exact.get(request.path)
        if found is None:
            return super().find_handler(request, **kwargs)
        return self.get_handler_delegate(request, found[0], found[1])
