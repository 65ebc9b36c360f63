"""``TornadoService``: the base class of every service, with DIRAC's handler API.

A request goes through these steps, each ending it with a clear status if it fails::

    body read (413 when over the limit)  ->  'method' present (400)
      ->  authentication, schemes in order (401)  ->  method exists (501)
      ->  authorization (403)  ->  arguments decoded and counted (400)
      ->  initializeHandler once per service (500 if it fails)
      ->  initializeRequest + export_<method>: sync in the thread pool (one hop),
          async on the IOLoop
      ->  S_OK/S_ERROR as JSON (200), raw bytes, or a stream of chunks

Unknown methods are reported only after authentication, so an anonymous caller cannot probe
which methods exist. Errors are JSON ``S_ERROR`` bodies with the HTTP status (see SPEC section 2).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, ClassVar, cast
from weakref import WeakKeyDictionary

from tornado import httputil
from tornado.iostream import IOStream, StreamClosedError
from tornado.web import HTTPError, RequestHandler, stream_request_body

from tornadoservice.authz import AuthenticationError, build_credentials, visitor_credentials
from tornadoservice.core.log import DiracLogger
from tornadoservice.core.returnvalues import S_ERROR, S_OK, isReturnStructure
from tornadoservice.core.returnvalues import strip_result_for_wire as _strip
from tornadoservice.identity.credentials import X509Identity
from tornadoservice.identity.tls import PeerChainError, peer_chain
from tornadoservice.identity.x509 import IdentityError, identity_from_chain
from tornadoservice.server.errors import STATUS_ERRNO, RequestError
from tornadoservice.server.service import ExportedMethod, ServiceRuntime
from tornadoservice.wire.jencode import JEncodeError, decode, encode

access_log = logging.getLogger("tornadoservice.access")

STREAM_CHUNK = 1024 * 1024
"""Bytes read per chunk when streaming a file or iterator to the client."""

RESULT_HEADER = "X-Tornadoservice-Result"
"""Set to ``S_ERROR`` when a raw (``rawContent``) request got an ``S_ERROR`` as JSON instead."""

_VERSION = "0.1.0"  # kept equal to tornadoservice.__version__ by a test

# The verified client chain is fixed for a TLS connection: parse it once per connection.
_connection_identities: WeakKeyDictionary[IOStream, X509Identity | IdentityError | None] = (
    WeakKeyDictionary()
)


def _is_stream(value: object) -> bool:
    return hasattr(value, "read") or isinstance(value, Iterator) or hasattr(value, "__aiter__")


@stream_request_body
class TornadoService(RequestHandler):
    """Base class of a service. Subclass it and write ``export_<method>`` functions."""

    SUPPORTED_METHODS = ("POST",)
    METHOD_PREFIX: ClassVar[str] = "export_"
    DEFAULT_AUTHENTICATION: ClassVar[list[str]] = ["SSL", "JWT"]
    DEFAULT_AUTHORIZATION: ClassVar[list[str] | None] = None
    DEFAULT_LOCATION: ClassVar[str | None] = None
    BASE_URL: ClassVar[str | None] = None
    log: ClassVar[DiracLogger] = DiracLogger("tornadoservice.service")
    activityMonitoringReporter: ClassVar[Any] = None
    encode = staticmethod(encode)
    decode = staticmethod(decode)

    _runtime: ClassVar[ServiceRuntime]
    """Set on the per-service subclass that the server builds for each served service."""

    auth_ping: ClassVar[list[str]] = ["all"]
    auth_echo: ClassVar[list[str]] = ["all"]
    auth_whoami: ClassVar[list[str]] = ["authenticated"]

    # ------------------------------------------------------------------ DIRAC's hooks
    @classmethod
    def initializeHandler(cls, serviceInfo: dict[str, Any]) -> Any:
        """Called once per service, in a worker thread, before its first request is served."""
        return None

    def initializeRequest(self) -> None:
        """Called before every exported method (in the same thread as a sync method)."""

    # ------------------------------------------------------------------ per-request state
    def initialize(self) -> None:
        self._started = time.perf_counter()
        self._chunks: list[bytes] = []
        self._body_size = 0
        self._body_too_large = False
        self._rpc_method: str | None = None
        self._creds: dict[str, Any] = {}
        self._outcome = "-"

    async def prepare(self) -> None:
        limit = self._runtime.state.max_body_size
        declared = self.request.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            if int(declared) > self._runtime.state.body_ceiling:
                # Too big to read through: answer now and close (the client may miss the
                # answer if it is still sending; Tornado would cut it off anyway).
                raise RequestError(413, f"Request body larger than {limit} bytes")
            # Read and drop the body before answering: closing with unread bytes makes the
            # kernel reset the connection, and the client could lose the 413.
            self._body_too_large = True

    def data_received(self, chunk: bytes) -> None:
        if self._body_too_large:
            return
        self._body_size += len(chunk)
        # Counted after decompression, so a small gzip body cannot inflate past the limit.
        if self._body_size > self._runtime.state.max_body_size:
            self._body_too_large = True
            self._chunks.clear()
            return
        self._chunks.append(chunk)

    # ------------------------------------------------------------------ the request
    async def post(self) -> None:
        state = self._runtime.state
        state.request_started()
        try:
            await self._handle()
        finally:
            state.request_done()

    async def _handle(self) -> None:
        if self._body_too_large:
            self.set_header("Connection", "close")
            raise RequestError(
                413, f"Request body larger than {self._runtime.state.max_body_size} bytes"
            )
        self._parse_body()
        method_name = self.get_argument("method", None)
        if method_name is None:
            raise RequestError(400, "Missing 'method' argument")
        self._rpc_method = method_name
        exported = self._runtime.methods.get(method_name)
        schemes = exported.authentication if exported else tuple(self.DEFAULT_AUTHENTICATION)
        self._creds = await self._authenticate(schemes)
        if exported is None:
            raise RequestError(
                501,
                f"{method_name} is not implemented",
                log_message=f"unknown method {method_name!r}",
            )
        if not exported.rule.allows(self._creds):
            raise RequestError(
                403,
                f"Not allowed to call {method_name}",
                log_message=f"{method_name} refused: {exported.rule.explain(self._creds)}",
            )
        args = self._decode_args()
        problem = exported.arity_error(len(args))
        if problem:
            raise RequestError(400, problem)
        await self._ensure_initialized()
        await self._run_method(exported, args)

    def _parse_body(self) -> None:
        body = b"".join(self._chunks)
        self._chunks = []
        if not body:
            return
        self.request.body = body
        httputil.parse_body_arguments(
            self.request.headers.get("Content-Type", ""),
            body,
            self.request.body_arguments,
            self.request.files,
            self.request.headers,
        )
        for name, values in self.request.body_arguments.items():
            self.request.arguments.setdefault(name, []).extend(values)

    def _decode_args(self) -> list[Any]:
        raw = self.get_body_argument("args", None)
        if raw is None:
            return []
        try:
            args, _ = decode(raw)
        except JEncodeError as exc:
            raise RequestError(400, f"Malformed 'args': {exc}") from exc
        if isinstance(args, list):
            return args
        if isinstance(args, dict):
            # DIRAC calls method(*args): a JSON object spreads as its keys (kept for compatibility).
            return list(args)
        raise RequestError(400, f"'args' must be a JSON array, not {type(args).__name__}")

    # ------------------------------------------------------------------ authentication
    async def _authenticate(self, schemes: tuple[str, ...]) -> dict[str, Any]:
        reasons: list[str] = []
        for scheme in schemes:
            authenticator = getattr(self, f"_authz{scheme}", None)
            if authenticator is None:
                reasons.append(f"{scheme}: no such authentication scheme")
                continue
            try:
                result = authenticator()
                if asyncio.iscoroutine(result):
                    result = await result
            except AuthenticationError as exc:
                reasons.append(f"{scheme}: {exc}")
                continue
            if isReturnStructure(result):
                if not result["OK"]:
                    reasons.append(f"{scheme}: {result['Message']}")
                    continue
                result = result["Value"]
            return cast(dict[str, Any], result)
        raise RequestError(
            401,
            "Authentication failed",
            log_message="authentication failed: " + "; ".join(reasons or ["no scheme allowed"]),
        )

    def _connection_identity(self) -> X509Identity | None:
        stream = self.request.connection.stream  # type: ignore[union-attr]
        try:
            cached = _connection_identities[stream]
        except KeyError:
            try:
                chain = peer_chain(stream.socket) if stream.socket is not None else []
                cached = identity_from_chain(chain) if chain else None
            except PeerChainError as exc:
                # A resumed TLS 1.2 session shows no verified chain: refuse it, never treat the
                # caller as anonymous.
                cached = IdentityError(str(exc))
            except IdentityError as exc:
                cached = exc
            _connection_identities[stream] = cached
        if isinstance(cached, IdentityError):
            raise AuthenticationError(f"unusable client certificate: {cached}")
        return cached

    def _extra_credentials(self) -> Any:
        raw = self.get_body_argument("extraCredentials", None)
        if raw is None:
            return None
        try:
            return decode(raw)[0]
        except JEncodeError as exc:
            raise AuthenticationError(f"malformed extraCredentials: {exc}") from exc

    def _authzSSL(self) -> dict[str, Any]:
        identity = self._connection_identity()
        if identity is None:
            raise AuthenticationError("no client certificate")
        return build_credentials(
            identity, self._runtime.state.registry, extra_credentials=self._extra_credentials()
        )

    def _authzJWT(self) -> dict[str, Any]:
        header = self.request.headers.get("Authorization", "")
        if not header.lower().startswith("bearer "):
            raise AuthenticationError("no bearer token")
        raise AuthenticationError("no token issuer is configured")

    def _authzVISITOR(self) -> dict[str, Any]:
        return visitor_credentials()

    # ------------------------------------------------------------------ execution
    async def _ensure_initialized(self) -> None:
        runtime = self._runtime
        if runtime.initialized:
            return
        async with runtime.init_lock:
            if runtime.initialized:
                return
            loop = asyncio.get_running_loop()
            handler_cls = type(self)
            try:
                result = await loop.run_in_executor(
                    runtime.state.executor, handler_cls.initializeHandler, runtime.service_info
                )
            except Exception as exc:
                self.log.exception(f"initializeHandler of {runtime.name} raised")
                raise RequestError(
                    500,
                    f"Service {runtime.name} failed to initialize",
                    log_message=f"initializeHandler of {runtime.name} raised {exc!r}",
                ) from exc
            if isReturnStructure(result) and not result["OK"]:
                raise RequestError(
                    500,
                    f"Service {runtime.name} failed to initialize",
                    log_message=f"initializeHandler of {runtime.name}: {result['Message']}",
                )
            runtime.initialized = True

    def _run_sync(self, exported: ExportedMethod, args: list[Any]) -> tuple[bool, Any]:
        """Runs in a worker thread: the request hook, the method, and the JSON encoding."""
        self.initializeRequest()
        result = exported.function(self, *args)
        return self._serialize(result)

    def _serialize(self, result: Any) -> tuple[bool, Any]:
        """``(True, json_text)`` for a plain JSON answer, ``(False, result)`` for anything else."""
        # A raw request (receiveFile) never gets a plain 200 JSON body for an S_ERROR: that body
        # would be written into the user's file (DIRAC's behaviour). _send_other handles it.
        if isReturnStructure(result) and not self._raw_requested():
            self._outcome = "OK" if result["OK"] else "ERROR"
            return True, encode(_strip(result))
        return False, result

    async def _run_method(self, exported: ExportedMethod, args: list[Any]) -> None:
        try:
            if exported.is_async:
                self.initializeRequest()
                is_json, payload = self._serialize(await exported.function(self, *args))
            else:
                loop = asyncio.get_running_loop()
                is_json, payload = await loop.run_in_executor(
                    self._runtime.state.executor, self._run_sync, exported, args
                )
        except (HTTPError, asyncio.CancelledError):
            raise
        except JEncodeError as exc:
            raise RequestError(
                500,
                f"{exported.name} returned a value that cannot be encoded",
                log_message=f"{exported.name} result not encodable: {exc}",
            ) from exc
        except Exception as exc:
            self.log.exception(f"{self._runtime.name}/{exported.name} raised")
            raise RequestError(
                500,
                f"Unexpected error in {exported.name}",
                log_message=f"{exported.name} raised {exc!r}",
            ) from exc
        if is_json:
            self.set_header("Content-Type", "application/json")
            self.finish(payload)
            return
        await self._send_other(exported, payload)

    def _raw_requested(self) -> bool:
        return self.get_argument("rawContent", "") != ""

    async def _send_other(self, exported: ExportedMethod, result: Any) -> None:
        raw = self._raw_requested()
        if isReturnStructure(result):
            if not result["OK"]:
                # Raw requests expect file content: an error must not look like content.
                self._outcome = "ERROR"
                self.set_status(422)
                self.set_header(RESULT_HEADER, "S_ERROR")
                self.set_header("Content-Type", "application/json")
                self.finish(encode(_strip(result)))
                return
            value = result["Value"]
            if not (isinstance(value, bytes | str) or _is_stream(value)):
                self._outcome = "OK"
                self.set_header("Content-Type", "application/json")
                self.finish(encode(_strip(result)))
                return
            result = value
        self._outcome = "OK"
        if result is None:
            self.finish()
            return
        if isinstance(result, bytes | str):
            if raw:
                self.set_header("Content-Type", "application/octet-stream")
            self.finish(result.encode() if isinstance(result, str) else result)
            return
        if _is_stream(result):
            self.set_header("Content-Type", "application/octet-stream")
            await self._stream(result)
            return
        self._outcome = "ERROR"
        raise RequestError(
            500,
            f"{exported.name} returned an unsupported value",
            log_message=f"{exported.name} returned {type(result).__name__}, not S_OK/S_ERROR",
        )

    async def _stream(self, source: Any) -> None:
        """Send a file object or (async) iterator in chunks, waiting for each to drain."""
        loop = asyncio.get_running_loop()
        executor = self._runtime.state.executor
        next_chunk: Callable[[], Any]
        if hasattr(source, "read"):
            size = _remaining_size(source)
            if size is not None:
                self.set_header("Content-Length", str(size))
            next_chunk = lambda: loop.run_in_executor(executor, source.read, STREAM_CHUNK)  # noqa: E731
        elif hasattr(source, "__aiter__"):
            aiter = cast(AsyncIterator[bytes], source.__aiter__())
            next_chunk = lambda: anext(aiter, b"")  # noqa: E731
        else:
            next_chunk = lambda: loop.run_in_executor(executor, next, source, b"")  # noqa: E731
        try:
            while True:
                chunk = await next_chunk()
                if not chunk:
                    break
                self.write(chunk.encode() if isinstance(chunk, str) else chunk)
                await self.flush()
            self.finish()
        except StreamClosedError:
            self._outcome = "CLIENT-CLOSED"
        finally:
            close = getattr(source, "close", None) or getattr(source, "aclose", None)
            if close is not None:
                closing = close()
                if asyncio.iscoroutine(closing):
                    await closing

    # ------------------------------------------------------------------ errors and logging
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, RequestError):
            err_no, message = exc.errno, exc.client_message
        else:
            err_no, message = STATUS_ERRNO.get(status_code, 0), self._reason
        self._outcome = f"HTTP-{status_code}"
        self.set_header("Content-Type", "application/json")
        self.finish(encode(_strip(S_ERROR(err_no, message) if err_no else S_ERROR(message))))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, HTTPError) and value.status_code < 500:
            logging.getLogger("tornadoservice.request").warning(
                "%s %s %s: %s",
                value.status_code,
                self._peer(),
                self._runtime.name,
                value.log_message,
            )
        elif isinstance(value, RequestError):
            # Our own 5xx: the traceback, if any, was logged where the error happened.
            logging.getLogger("tornadoservice.request").error(
                "%s %s %s: %s",
                value.status_code,
                self._peer(),
                self._runtime.name,
                value.log_message,
            )
        else:
            super().log_exception(typ, value, tb)

    def _peer(self) -> str:
        ip, port = self.getRemoteAddress()
        return f"{ip}:{port}"

    def on_finish(self) -> None:
        if not access_log.isEnabledFor(logging.INFO):
            return
        creds = self._creds
        access_log.info(
            "%s %s:%s %s %s %d %.2fms %s",
            self._peer(),
            creds.get("group", "-"),
            creds.get("username", "-"),
            self._runtime.name,
            self._rpc_method or "-",
            self.get_status(),
            (time.perf_counter() - self._started) * 1000,
            self._outcome,
        )

    # ------------------------------------------------------------------ DIRAC's accessors
    def getRemoteCredentials(self) -> dict[str, Any]:
        return self._creds

    srv_getRemoteCredentials = getRemoteCredentials

    def getRemoteAddress(self) -> tuple[str, int]:
        connection = self.request.connection
        address = getattr(getattr(connection, "context", None), "address", None)
        if isinstance(address, tuple) and len(address) >= 2:
            return str(address[0]), int(address[1])
        return str(self.request.remote_ip), 0

    srv_getRemoteAddress = getRemoteAddress

    def getUserDN(self) -> str | None:
        return cast(str | None, self._creds.get("DN"))

    def getUserName(self) -> str | None:
        return cast(str | None, self._creds.get("username"))

    def getUserGroup(self) -> str | None:
        return cast(str | None, self._creds.get("group"))

    def getProperties(self) -> list[str]:
        return list(self._creds.get("properties", []))

    def isRegisteredUser(self) -> bool:
        return bool(
            self._creds.get("username", "anonymous") != "anonymous"
            and self._creds.get("group", "visitor") != "visitor"
        )

    def getCSOption(self, optionName: str, defaultValue: Any = None) -> Any:
        path = optionName if optionName.startswith("/") else f"{self._runtime.section}/{optionName}"
        return self._runtime.state.config.getValue(path, defaultValue)

    srv_getCSOption = getCSOption

    def srv_getFormattedRemoteCredentials(self) -> str:
        ip, port = self.getRemoteAddress()
        creds = self._creds
        return (
            f"({ip}:{port})[{creds.get('group', 'visitor')}:{creds.get('username', 'anonymous')}]"
        )

    def srv_getServiceName(self) -> str:
        return self._runtime.name

    def srv_getURL(self) -> str:
        return self._runtime.url

    # ------------------------------------------------------------------ built-in methods
    def export_ping(self) -> dict[str, Any]:
        """Liveness and a few facts about the service and its host."""
        runtime = self._runtime
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        times = os.times()
        return S_OK(
            {
                "version": _VERSION,
                "time": now,
                "host uptime": _host_uptime(),
                "service start time": runtime.start_time.replace(tzinfo=None),
                "service uptime": int(time.monotonic() - runtime.start_monotonic),
                "load": _load_average(),
                "name": runtime.name,
                "URL": runtime.url,
                "cpu times": {
                    "user time": times.user,
                    "system time": times.system,
                    "children user time": times.children_user,
                    "children system time": times.children_system,
                    "elapsed real time": times.elapsed,
                },
            }
        )

    def export_echo(self, data: Any) -> dict[str, Any]:
        """Return the argument unchanged."""
        return S_OK(data)

    def export_whoami(self) -> dict[str, Any]:
        """Return the caller's credential dictionary."""
        return S_OK(self._creds)


def _remaining_size(source: Any) -> int | None:
    try:
        return os.fstat(source.fileno()).st_size - int(source.tell())
    except (AttributeError, OSError, ValueError):
        return None


def _host_uptime() -> int:
    try:
        with open("/proc/uptime", encoding="ascii") as proc:
            return int(float(proc.read().split()[0]))
    except (OSError, ValueError, IndexError):
        return 0


def _load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return ""
