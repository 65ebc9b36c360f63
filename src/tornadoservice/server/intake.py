"""Taking a request body into memory: how much each caller may send, and what it may hold.

Two limits, both counted after decompression (a small gzip body cannot inflate past them):

* a caller who shows who it is, with a client certificate (or one forwarded by a trusted
  balancer) or a bearer token that verifies, may send up to ``/Systems/Tornado/MaxBodySize``;
* anyone else, a visitor, up to ``/Systems/Tornado/MaxAnonymousBodySize`` (1 MiB by default):
  no caller the server cannot name makes it hold, parse or echo a large body.

The certificate is known when the headers arrive (the TLS chain was verified in the handshake).
A bearer token is verified only when the body would go past the visitor's limit: at once when
the declared ``Content-Length`` says so, otherwise when the counted bytes cross it (chunked and
gzip bodies), so that small token calls pay nothing more. An ``Authorization`` header that does
not verify earns nothing: it is a visitor's body, refused with 413 past the visitor's limit.

Every body held also counts in the process's :class:`~tornadoservice.server.limits.BufferBudget`
(503 when it is used up), and a large body arriving lets the IOLoop serve others every
:data:`~tornadoservice.server.limits.YIELD_EVERY_BYTES`. Streamed uploads are not read here:
they are admitted by their method's rule before their first byte, and never held whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from tornadoservice.authz import AuthenticationError
from tornadoservice.core.returnvalues import isReturnStructure
from tornadoservice.server.authentication import AuthenticationSchemes
from tornadoservice.server.errors import RequestError
from tornadoservice.server.httpserver import stop_inflating
from tornadoservice.server.limits import YIELD_EVERY_BYTES, over_budget_error
from tornadoservice.server.streaming import BoundedOutput
from tornadoservice.server.upload import UploadStream

__all__ = ["BodyIntake"]


class BodyIntake(AuthenticationSchemes, BoundedOutput):
    """``data_received`` for form bodies, with the limit of the caller (see the module)."""

    _chunks: list[bytes]
    _body_size: int
    _body_too_large: bool
    _deferred_error: RequestError | None
    _upload: UploadStream | None
    _body_limit: int
    """The limit of this caller, set by :meth:`_choose_body_limit` in ``prepare``."""
    _bearer_pending: bool
    """An unverified ``Authorization`` header: verified if the body crosses the visitor limit."""
    _limit_reason: str
    """Why the caller has the visitor's limit (for the log line of a 413)."""

    # ------------------------------------------------------------------ the caller's limit
    async def _choose_body_limit(self, declared: int | None) -> None:
        state = self._runtime.state
        self._bearer_pending = False
        self._body_limit = state.max_body_size
        if state.max_anonymous_body_size >= state.max_body_size or self._has_certificate():
            return
        self._body_limit = state.max_anonymous_body_size
        self._limit_reason = "no client certificate and no bearer token"
        if "Authorization" not in self.request.headers:
            return
        if declared is not None and declared > self._body_limit:
            await self._check_bearer()
        else:
            self._bearer_pending = True

    def _has_certificate(self) -> bool:
        try:
            return self._caller_identity() is not None
        except AuthenticationError:
            return False  # an unusable certificate names nobody (its calls get 401 later)

    async def _check_bearer(self) -> None:
        """Raise the limit to ``MaxBodySize`` if the request's bearer token verifies."""
        self._bearer_pending = False
        try:
            result: Any = self._authzJWT()  # a service's own JWT scheme, if it has one
            if asyncio.iscoroutine(result):
                result = await result
        except AuthenticationError as exc:
            self._limit_reason = f"no client certificate, {exc}"
            return
        if isReturnStructure(result):
            result = result["Value"] if result["OK"] else None
        if isinstance(result, dict):
            self._body_limit = self._runtime.state.max_body_size
        else:
            self._limit_reason = "no client certificate, bearer token refused"

    def _too_large_error(self) -> RequestError:
        limit = self._body_limit
        if limit < self._runtime.state.max_body_size:
            return RequestError(
                413,
                f"Request body larger than {limit} bytes: a larger body needs a client "
                "certificate or a valid bearer token",
                log_message=f"request body over {limit} bytes refused: {self._limit_reason}",
            )
        return RequestError(413, f"Request body larger than {limit} bytes")

    # ------------------------------------------------------------------ the body
    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        if self._upload is not None:
            return self._upload.feed(chunk)
        if self._body_too_large or self._deferred_error is not None:
            return None
        self._body_size += len(chunk)
        if self._body_size > self._body_limit:
            if self._bearer_pending:
                return self._take_after_bearer_check(chunk)
            self._drop_body()
            return None
        return self._take(chunk)

    async def _take_after_bearer_check(self, chunk: bytes) -> None:
        await self._check_bearer()
        if self._body_size > self._body_limit:
            self._drop_body()
            return
        pending = self._take(chunk)
        if pending is not None:
            await pending

    def _take(self, chunk: bytes) -> Awaitable[None] | None:
        size = len(chunk)
        if not self._runtime.state.buffers.take(size):
            self._chunks.clear()
            self._release_buffers()
            self._deferred_error = over_budget_error(self._runtime.state.buffers)
            stop_inflating(self.request.connection)
            return None
        self._held += size
        self._chunks.append(chunk)
        if self._body_size // YIELD_EVERY_BYTES != (self._body_size - size) // YIELD_EVERY_BYTES:
            # A large (or inflating) body: let the IOLoop serve the other connections.
            return asyncio.sleep(0)
        return None

    def _drop_body(self) -> None:
        """Past the limit: what arrives is dropped, the 413 is sent once the body is read."""
        self._body_too_large = True
        self._chunks.clear()
        self._release_buffers()
        stop_inflating(self.request.connection)
