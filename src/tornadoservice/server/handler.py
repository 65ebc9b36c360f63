"""``TornadoService``: the base class of every service, with DIRAC's handler API.

A request goes through these steps, each ending it with a clear status if it fails::

    body read (413 when over the limit)  ->  'method' present (400)
      ->  authentication, schemes in order (401)  ->  method exists (501)
      ->  authorization (403)  ->  arguments decoded and counted (400)
      ->  initializeHandler done (a call waits for an attempt under way; 503 between attempts)
      ->  initializeRequest + export_<method>: sync in the thread pool (one hop),
          async on the IOLoop
      ->  S_OK/S_ERROR as JSON (200), raw bytes, or a stream of chunks

Unknown methods are reported only after authentication, so an anonymous caller cannot probe
which methods exist. Errors are JSON ``S_ERROR`` bodies with the HTTP status (see SPEC section 2).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any, ClassVar

from tornado.http1connection import HTTP1Connection
from tornado.web import HTTPError, stream_request_body

from tornadoservice._version import __version__
from tornadoservice.core.log import DiracLogger, escape_control
from tornadoservice.core.returnvalues import S_ERROR, isReturnStructure
from tornadoservice.core.returnvalues import strip_result_for_wire as _strip
from tornadoservice.server import accesslog, activity
from tornadoservice.server.accessors import BuiltinMethods, DiracAccessors
from tornadoservice.server.body import argument_text, encoding_error, parse_form
from tornadoservice.server.errors import STATUS_ERRNO, RequestError
from tornadoservice.server.execution import CallDroppedError, CallTicket, submit_call
from tornadoservice.server.httpserver import body_error, extend_body_timeout
from tornadoservice.server.initialization import wait_initialized
from tornadoservice.server.intake import BodyIntake
from tornadoservice.server.lean import LeanHandler
from tornadoservice.server.limits import OFF_LOOP_BYTES, looks_large
from tornadoservice.server.service import ExportedMethod, ServiceRuntime
from tornadoservice.server.transport.connection import RequestConnection
from tornadoservice.server.upload import UploadStream
from tornadoservice.wire.jencode import JEncodeError, decode, encode

access_log = accesslog.access_log

RESULT_HEADER = "X-Tornadoservice-Result"
"""Set to ``S_ERROR`` when a raw (``rawContent``) request got an ``S_ERROR`` as JSON instead."""
VERSION_HEADER = "X-Tornadoservice-Version"
"""On every answer of ours (DIRAC's servers do not send it): ``sendFile`` streams to such a
server, and sends DIRAC's form to any other."""

CLIENT_MISTAKES = frozenset(range(400, 500)) | {501}
"""Statuses logged as one warning line: the client's doing, 501 (an unknown method, DIRAC's
answer) included; any other 5xx is the server's and is logged as an error."""

WARNING_STATUSES = CLIENT_MISTAKES | {503}
"""What ``log_exception`` writes as one warning: client mistakes, and 503, which is load shedding
(queue full, buffer budget) or a service still initialising, whose cause is logged once where it
happens: an error line for each refused call would flood the log exactly when it is busiest."""

DRAIN_BEFORE_REFUSING = 1024 * 1024
"""A refused body up to this size is read (and dropped) before the refusal is sent."""


def _is_stream(value: object) -> bool:
    return hasattr(value, "read") or isinstance(value, Iterator) or hasattr(value, "__aiter__")


@stream_request_body
class TornadoService(BuiltinMethods, DiracAccessors, BodyIntake, LeanHandler):
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
    UPLOAD_METHODS: ClassVar[frozenset[str]] = frozenset({"streamFromClient"})
    """Methods that take a streamed body (``application/octet-stream``, arguments in the query
    string) as their last argument; any other method called that way answers 400. A service
    adds its own: ``UPLOAD_METHODS = TornadoService.UPLOAD_METHODS | {"putChunk"}``."""

    _runtime: ClassVar[ServiceRuntime]
    """Set on the per-service subclass that the server builds for each served service."""

    # ------------------------------------------------------------------ DIRAC's hooks
    @classmethod
    def initializeHandler(cls, serviceInfo: dict[str, Any]) -> Any:
        """Called once per service, in a worker thread, before its first request is served."""
        return None

    def initializeRequest(self) -> None:
        """Called before every exported method (in the same thread as a sync method)."""

    # ------------------------------------------------------------------ per-request state
    def set_default_headers(self) -> None:
        # On every answer, errors included: clients learn that this server streams uploads.
        # Set as items, not with set_header: both values are known to be header-safe (the
        # version is ours, a caller's id is kept only when sane), so its checks are skipped.
        headers = self._headers
        headers[VERSION_HEADER] = __version__
        # Called again when an error replaces the answer: the request keeps its id.
        rid = self.__dict__.get("_request_id")
        if rid is None:
            rid = self._request_id = accesslog.request_id(self.request.headers)
        headers[accesslog.REQUEST_ID_HEADER] = rid

    def initialize(self) -> None:
        self._started = time.perf_counter()
        self._chunks: list[bytes] = []
        self._body_size = 0
        self._body_too_large = False
        self._deferred_error: RequestError | None = None
        self._rpc_method: str | None = None
        self._creds: dict[str, Any] = {}
        self._outcome = "-"
        self._upload: UploadStream | None = None
        self._upload_task: asyncio.Future[tuple[bool, Any]] | None = None
        self._upload_method: ExportedMethod | None = None
        self._counted = False
        self._ticket: CallTicket | None = None
        self._held = 0  # bytes of this request counted in the server's BufferBudget
        self._body_limit = self._runtime.state.max_body_size  # the caller's, set in prepare
        self._bearer_pending = False
        self._limit_reason = ""
        self._bytes_out = 0
        self._declared: int | None = None  # the request's Content-Length, read in prepare

    async def prepare(self) -> None:
        self._runtime.state.request_started()
        self._counted = True
        headers = self.request.headers
        declared = headers.get("Content-Length") if "Content-Length" in headers else None
        size = int(declared) if declared is not None and declared.isdigit() else None
        self._declared = size
        upload = self._is_upload()
        unreadable = encoding_error(self.request.headers, streamed=upload)
        if unreadable is not None:
            self._refuse_body(unreadable, size)
            return
        if upload:
            try:
                await self._start_upload(size)
            except RequestError as exc:
                self._refuse_body(exc, size)
            return
        await self._choose_body_limit(size)
        if size is not None and size > self._body_limit:
            if size > self._runtime.state.body_ceiling:
                # Too big to read through: answer now and close (the client may miss the
                # answer if it is still sending; Tornado would cut it off anyway).
                raise self._too_large_error()
            # Read through and dropped (held nowhere), so that the client gets the 413.
            self._body_too_large = True

    def _refuse_body(self, error: RequestError, size: int | None) -> None:
        """Answer ``error`` once the body is read, or at once if it is too large to read."""
        if size is not None and size > DRAIN_BEFORE_REFUSING:
            raise error  # too much to read through: answer now, Tornado closes the connection
        # Read and drop a small body before answering: closing with unread bytes makes the
        # kernel reset the connection, and the client could lose the answer.
        self._deferred_error = error

    def on_connection_close(self) -> None:
        if self._upload is not None:
            self._upload.abort("the client closed the connection before the end of the upload")
        if self._ticket is not None:
            self._ticket.dropped = True  # a call still queued will not run
        self._release_buffers()
        self._stop_counting()
        super().on_connection_close()

    def _stop_counting(self) -> None:
        if self._counted:
            self._counted = False
            self._runtime.state.request_done()

    # ------------------------------------------------------------------ the request
    async def post(self) -> None:
        try:
            if self._deferred_error is not None:
                raise self._deferred_error
            if self._upload_task is not None:
                await self._finish_upload()
            else:
                await self._handle()
        finally:
            self._stop_counting()

    # A handler listing more verbs in SUPPORTED_METHODS (as DIRAC's may) has them served like
    # POST; a verb it does not list is answered 405 by Tornado before anything runs.
    get = put = patch = delete = post

    async def _handle(self) -> None:
        if self._body_too_large:
            self.set_header("Connection", "close")
            raise self._too_large_error()
        unreadable = body_error(self.request.connection)
        if unreadable is not None:
            raise RequestError(400, f"Malformed request body: {unreadable}")
        if self._body_size >= OFF_LOOP_BYTES:
            # Parsing a large form takes long (about a second for 100 MiB): not on the IOLoop.
            method_name, raw_args = await self._runtime.state.executor.call(self._read_form)
        else:
            method_name, raw_args = self._read_form()
        exported, args = await self._admit(method_name, raw_args)
        await self._run_method(exported, args)

    def _read_form(self) -> tuple[str | None, str | None]:
        """The body's form parsed; ``method`` and ``args`` read, and the copies dropped."""
        self._parse_body()
        # As get_argument("method", None) reads it (query string and body, the last value).
        names = self.request.arguments.get("method")
        method_name = argument_text(list(names), self._decode_method) if names else None
        # As get_body_argument reads it, but taken out of the request first, so that each copy
        # is freed as soon as the next is made (args may be the whole body).
        self.request.arguments.pop("args", None)
        values = self.request.body_arguments.pop("args", [])
        raw_args = argument_text(values, lambda value: self.decode_argument(value, name="args"))
        return method_name, raw_args

    def _decode_method(self, value: bytes) -> str:
        return self.decode_argument(value, name="method")

    async def _admit(
        self,
        method_name: str | None,
        raw_args: str | None,
        *,
        extra_args: int = 0,
        upload: bool = False,
    ) -> tuple[ExportedMethod, list[Any]]:
        """Everything between reading the request and running the method, in the order of the
        module docstring: each step ends the request with its status if it fails."""
        if method_name is None:
            raise RequestError(400, "Missing 'method' argument")
        self._rpc_method = method_name
        exported = self._runtime.methods.get(method_name)
        schemes = exported.authentication if exported else tuple(self.DEFAULT_AUTHENTICATION)
        self._creds = await self._authenticate(schemes)
        if self._runtime.state.security_log:
            accesslog.security_incoming(self._peer(), self._creds, self._runtime.name, method_name)
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
        if upload and method_name not in self.UPLOAD_METHODS:
            # Checked after authorization, so it tells nothing to a caller who may not call it.
            raise RequestError(
                400,
                f"{method_name} does not take a streamed body: send its arguments as a form",
            )
        if raw_args is not None and len(raw_args) >= OFF_LOOP_BYTES:
            args = await self._runtime.state.executor.call(self._decode_args, raw_args)
        else:
            args = self._decode_args(raw_args)
        raw_args = None  # the text is not needed any more: free it before the call runs
        problem = exported.argument_error(args, extra_args)
        if problem:
            raise RequestError(400, problem)
        if not self._runtime.initialized:
            await self._ensure_initialized()
        return exported, args

    # ------------------------------------------------------------------ streamed uploads
    def _is_upload(self) -> bool:
        """A streamed upload: raw body, with method (and args) in the query string."""
        content_type = self.request.headers.get("Content-Type", "")
        return content_type.split(";", 1)[0].strip().lower() == "application/octet-stream" and (
            self.get_query_argument("method", None) is not None
        )

    async def _start_upload(self, size: int | None) -> None:
        """Admit the call before the body arrives, then run the method while it arrives."""
        exported, args = await self._admit(
            self.get_query_argument("method", None),
            self.get_query_argument("args", None),
            extra_args=1,
            upload=True,
        )
        # streamFromClient(fileId, token, size, stream): the announced size must be the body's.
        if (
            exported.name == "streamFromClient"
            and len(args) >= 3
            and isinstance(args[2], int)
            and size is not None
            and args[2] != size
        ):
            raise RequestError(400, f"the body has {size} bytes but the arguments say {args[2]}")
        state = self._runtime.state
        connection = self.request.connection
        if isinstance(connection, HTTP1Connection | RequestConnection):
            connection.set_max_body_size(state.max_upload_size)
        extend_body_timeout(connection, state.upload_timeout)
        self._upload = UploadStream(size)
        self._upload_method = exported
        self._upload_task = asyncio.ensure_future(self._invoke(exported, [*args, self._upload]))
        upload = self._upload
        self._upload_task.add_done_callback(lambda task: _after_upload(task, upload))

    async def _finish_upload(self) -> None:
        assert self._upload is not None and self._upload_task is not None
        assert self._upload_method is not None
        self._upload.feed_eof()
        is_json, payload = await self._upload_task
        await self._respond(self._upload_method, is_json, payload)

    def _parse_body(self) -> None:
        body = b"".join(self._chunks)
        self._chunks = []
        if not body:
            return
        # Not kept as request.body: freed once its fields are read out of it.
        parse_form(
            self.request.headers.get("Content-Type", ""),
            body,
            self.request.body_arguments,
            self.request.files,
            self.request.headers,
        )
        for name, values in self.request.body_arguments.items():
            self.request.arguments.setdefault(name, []).extend(values)

    def _decode_args(self, raw: str | None) -> list[Any]:
        if raw is None:
            return []
        try:
            args, _ = self.decode(raw)
        except JEncodeError as exc:
            raise RequestError(400, f"Malformed 'args': {exc}") from exc
        if isinstance(args, list):
            return args
        if isinstance(args, dict):
            # DIRAC calls method(*args): a JSON object spreads as its keys (kept for compatibility).
            return list(args)
        raise RequestError(400, f"'args' must be a JSON array, not {type(args).__name__}")

    # ------------------------------------------------------------------ execution
    async def _ensure_initialized(self) -> None:
        # Initialized in the background from the start (retried with a growing delay when it
        # fails): a call waits for an attempt under way, else a service not ready is a 503.
        await wait_initialized(self._runtime, type(self))

    def _run_sync(self, exported: ExportedMethod, args: list[Any]) -> tuple[bool, Any]:
        """Runs in a worker thread: the request hook, the method, and the JSON encoding."""
        self.initializeRequest()
        result = exported.call(self, args)
        return self._serialize_aside(result)

    def _serialize_aside(self, result: Any) -> tuple[bool, Any]:
        """``_serialize`` in a worker thread; a large JSON text comes back as bytes, so that the
        IOLoop neither encodes it nor holds it twice."""
        is_json, payload = self._serialize(result)
        if is_json and len(payload) >= OFF_LOOP_BYTES:
            return True, payload.encode()
        return is_json, payload

    def _serialize(self, result: Any) -> tuple[bool, Any]:
        """``(True, json_text)`` for a plain JSON answer, ``(False, result)`` for anything else."""
        # A raw request (receiveFile) never gets a plain 200 JSON body for an S_ERROR: that body
        # would be written into the user's file (DIRAC's behaviour). _send_other handles it.
        if isReturnStructure(result) and not self._raw_requested():
            self._outcome = "OK" if result["OK"] else "ERROR"
            return True, self.encode(_strip(result))
        return False, result

    async def _run_method(self, exported: ExportedMethod, args: list[Any]) -> None:
        try:
            is_json, payload = await self._invoke(exported, args)
        except CallDroppedError:
            # The client left while the call waited for a thread: nobody to answer.
            self._outcome = "CLIENT-GONE"
            self.set_status(499, reason="Client Closed Request")
            self.finish()
            return
        await self._respond(exported, is_json, payload)

    async def _invoke(self, exported: ExportedMethod, args: list[Any]) -> tuple[bool, Any]:
        """Run the method (sync: one hop to the pool; async: on the IOLoop) and serialize."""
        runtime = self._runtime
        try:
            if exported.is_async:
                self.initializeRequest()
                result = await exported.call(self, args)
                if looks_large(result):
                    # Encoding a large answer (several MiB of JSON) would pause the IOLoop.
                    is_json, payload = await runtime.state.executor.call(
                        self._serialize_aside, result
                    )
                else:
                    is_json, payload = self._serialize(result)
            else:
                self._ticket = CallTicket()
                is_json, payload = await submit_call(
                    runtime.name, runtime.pool, self._ticket, self._run_sync, exported, args
                )
        except (HTTPError, asyncio.CancelledError, CallDroppedError):
            raise
        except JEncodeError as exc:
            raise RequestError(
                500,
                f"{exported.name} returned a value that cannot be encoded",
                log_message=f"{exported.name} result not encodable: {exc}",
            ) from exc
        except BaseException as exc:  # SystemExit too: a method must not end the server
            self.log.exception(f"{self._runtime.name}/{exported.name} raised")
            raise RequestError(
                500,
                f"Unexpected error in {exported.name}",
                log_message=f"{exported.name} raised {exc!r}",
            ) from exc
        return is_json, payload

    async def _respond(self, exported: ExportedMethod, is_json: bool, payload: Any) -> None:
        if is_json:
            self._headers["Content-Type"] = "application/json"  # (set_header's checks: a constant)
            if len(payload) >= OFF_LOOP_BYTES:
                await self._send_in_chunks(
                    payload if isinstance(payload, bytes) else payload.encode()
                )
                return
            self.finish(payload)
            return
        await self._send_other(exported, payload)

    def _raw_requested(self) -> bool:
        if "rawContent" not in self.request.arguments:
            return False  # the usual case, without get_argument's work
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
                self.finish(self.encode(_strip(result)))
                return
            value = result["Value"]
            if not (isinstance(value, bytes | str) or _is_stream(value)):
                self._outcome = "OK"
                self.set_header("Content-Type", "application/json")
                self.finish(self.encode(_strip(result)))
                return
            result = value
        self._outcome = "OK"
        # Bytes are content (streamToClient); a str only when content was asked for (rawContent):
        # otherwise it is, like None, a forgotten ``return S_OK(...)``.
        if isinstance(result, bytes) or (raw and isinstance(result, str)):
            if raw:
                self.set_header("Content-Type", "application/octet-stream")
            self.finish(result.encode() if isinstance(result, str) else result)
            return
        if _is_stream(result):
            self.set_header("Content-Type", "application/octet-stream")
            await self._stream(result)
            return
        self._outcome = "ERROR"
        hint = (
            " (a forgotten 'return S_OK(...)'?)"
            if result is None or isinstance(result, str)
            else ""
        )
        raise RequestError(
            500,
            f"{exported.name} returned an unsupported value",
            log_message=f"{self._runtime.name}/{exported.name} returned "
            f"{type(result).__name__}, not S_OK/S_ERROR{hint}",
        )

    # ------------------------------------------------------------------ errors and logging
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, RequestError):
            for name, value in exc.headers.items():
                self.set_header(name, value)
            err_no, message = exc.errno, exc.client_message
        else:
            err_no, message = STATUS_ERRNO.get(status_code, 0), self._reason
        self._outcome = f"HTTP-{status_code}"
        self.set_header("Content-Type", "application/json")
        self.finish(encode(_strip(S_ERROR(err_no, message) if err_no else S_ERROR(message))))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, HTTPError) and value.status_code in WARNING_STATUSES:
            logging.getLogger("tornadoservice.request").warning(
                "%s %s %s: %s rid=%s",
                value.status_code,
                self._peer(),
                self._runtime.name,
                escape_control(str(value.log_message)),
                self._request_id,
                extra={"request_id": self._request_id},
            )
        elif isinstance(value, RequestError):
            # Our own 5xx: the traceback, if any, was logged where the error happened.
            logging.getLogger("tornadoservice.request").error(
                "%s %s %s: %s rid=%s",
                value.status_code,
                self._peer(),
                self._runtime.name,
                escape_control(str(value.log_message)),
                self._request_id,
                extra={"request_id": self._request_id},
            )
        else:
            super().log_exception(typ, value, tb)

    def _peer(self) -> str:
        ip, port = self.getRemoteAddress()
        return f"{ip}:{port}"

    def flush(self, include_footers: bool = False) -> asyncio.Future[None]:
        self._bytes_out += sum(map(len, self._write_buffer))
        return super().flush(include_footers)

    def _bytes_in(self) -> int:
        if self._body_size:
            return self._body_size
        if self._declared is not None:
            return self._declared
        # Not read in prepare (a request refused before it, or one without the header).
        declared = self.request.headers.get("Content-Length", "")
        return int(declared) if declared.isdigit() else 0

    def _report_activity(self) -> None:
        """The activity record of this request (activityMonitoringReporter, metrics)."""
        own = self.activityMonitoringReporter
        if not activity.wanted(own):
            return
        activity.report(
            own,
            self._runtime,
            method=self._rpc_method,
            status=self.get_status(),
            seconds=time.perf_counter() - self._started,
            user=self._creds.get("username"),
            group=self._creds.get("group"),
            bytes_in=self._bytes_in(),
            bytes_out=self._bytes_out,
        )

    def on_finish(self) -> None:
        # A request refused in prepare() never reaches post(): count it out here too.
        self._stop_counting()
        self._report_activity()
        state = self._runtime.state
        if not (state.security_log or accesslog.access_log.isEnabledFor(logging.INFO)):
            return
        peer = self._peer()
        record = accesslog.AccessRecord(
            peer=peer,
            forwarded_for=accesslog.forwarded_for(
                peer.rsplit(":", 1)[0], self.request.headers, state.trusted_proxies
            )
            if state.trusted_proxies
            else None,
            creds=self._creds,
            service=self._runtime.name,
            method=self._rpc_method,
            status=self.get_status(),
            duration_ms=(time.perf_counter() - self._started) * 1000,
            bytes_in=self._bytes_in(),
            bytes_out=self._bytes_out,
            outcome=self._outcome,
            request_id=self._request_id,
        )
        accesslog.log_access(record)
        if state.security_log:
            accesslog.security_finished(record)


def _after_upload(task: asyncio.Future[tuple[bool, Any]], upload: UploadStream) -> None:
    """The method has returned (or failed): drop what still arrives, and retrieve a failure
    that no ``post`` will see because the client went away."""
    upload.stop()
    if not task.cancelled():
        # Marks the exception as retrieved; _invoke has already logged what the method raised.
        task.exception()
