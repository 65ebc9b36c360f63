"""How a service finds out who is calling: the authentication schemes of ``TornadoService``.

Each scheme is a method ``_authz<NAME>`` (``SSL``, ``JWT``, ``VISITOR``, or a service's own)
returning a credential dict, or raising :class:`AuthenticationError` with the reason. The
schemes of a method are tried in order; the first that returns credentials wins, and when none
does the request ends with 401 and every scheme's reason in the log (never in the answer).

The verified client chain is fixed for a TLS connection, so it is parsed once per connection,
and the credential dict built from it is cached with the registry it came from.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, ClassVar, cast
from weakref import WeakKeyDictionary

from tornado.iostream import IOStream
from tornado.web import RequestHandler

from tornadoservice.authz import AuthenticationError, build_credentials, visitor_credentials
from tornadoservice.authz.tokens import authenticate_bearer
from tornadoservice.core.returnvalues import isReturnStructure
from tornadoservice.identity.credentials import X509Identity
from tornadoservice.identity.forwarded import forwarded_identity
from tornadoservice.identity.tls import PeerChainError, peer_chain
from tornadoservice.identity.x509 import IdentityError, identity_from_chain
from tornadoservice.server.errors import RequestError
from tornadoservice.wire.jencode import JEncodeError, decode

if TYPE_CHECKING:
    from tornadoservice.server.service import ServiceRuntime

__all__ = ["AuthenticationSchemes"]

_connection_identities: WeakKeyDictionary[IOStream, X509Identity | IdentityError | None] = (
    WeakKeyDictionary()
)
# The credential dict of a connection's identity, for the registry and extraCredentials it was
# built with: (identity, registry, raw extraCredentials, credentials). secondsLeft is refreshed
# and the dict copied on every use; a refusal is never cached (it is computed again).
_connection_credentials: WeakKeyDictionary[
    IOStream, tuple[Any, Any, str | None, dict[str, Any]]
] = WeakKeyDictionary()


class AuthenticationSchemes(RequestHandler):
    """The built-in schemes (``SSL``, ``JWT``, ``VISITOR``) and the loop that tries them."""

    _runtime: ClassVar[ServiceRuntime]

    async def _authenticate(self, schemes: tuple[str, ...]) -> dict[str, Any]:
        reasons: list[str] = []
        for scheme in schemes:
            authenticator = getattr(self, f"_authz{scheme}", None)
            if authenticator is None:
                reasons.append(f"{scheme}: no such authentication scheme")
                continue
            try:
                result = authenticator()
                if type(result) is dict and "OK" not in result:
                    return result  # the usual case: credentials, as the built-in schemes give
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
            if not isinstance(result, dict):
                reasons.append(f"{scheme}: returned {type(result).__name__}, not credentials")
                continue
            return cast(dict[str, Any], result)
        raise RequestError(
            401,
            "Authentication failed",
            log_message="authentication failed: " + "; ".join(reasons or ["no scheme allowed"]),
        )

    def _connection_identity(self) -> X509Identity | None:
        # The TCP connection: Tornado's IOStream, or the httptools transport's HTTPProtocol;
        # both give the TLS object as ``socket``.
        stream = self.request.connection.stream  # type: ignore[union-attr]
        try:
            cached = _connection_identities[stream]
        except KeyError:
            try:
                chain = peer_chain(stream.socket) if stream.socket is not None else []
                cached = (
                    identity_from_chain(chain, voms_trust=self._runtime.state.voms_trust)
                    if chain
                    else None
                )
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

    @staticmethod
    def _decode_extra_credentials(raw: str | None) -> Any:
        if raw is None:
            return None
        try:
            return decode(raw)[0]
        except JEncodeError as exc:
            raise AuthenticationError(f"malformed extraCredentials: {exc}") from exc

    def _caller_identity(self) -> X509Identity | None:
        """The certificate identity of the caller: the connection's own, or, on a connection
        from a configured trusted proxy only, the one the proxy forwarded in headers."""
        trusted = self._runtime.state.trusted_proxies
        if trusted:
            # The socket's own peer address, read from the connection rather than through
            # getRemoteAddress (a service may override that). The server runs without xheaders,
            # so nothing the client sends (X-Forwarded-For, X-Real-Ip) changes it.
            address = getattr(self.request.connection, "context", None)
            address = getattr(address, "address", None)
            peer = str(address[0]) if isinstance(address, tuple) and address else ""
            try:
                forwarded = forwarded_identity(self.request.headers, peer, trusted)
            except IdentityError as exc:  # ForwardedCertError included
                raise AuthenticationError(f"forwarded client certificate refused: {exc}") from exc
            if forwarded is not None:
                return forwarded.identity
        return self._connection_identity()

    def _authzSSL(self) -> dict[str, Any]:
        identity = self._caller_identity()
        if identity is None:
            raise AuthenticationError("no client certificate")
        registry = self._runtime.state.registry
        # Query string or body: a streamed upload carries it in the query string.
        raw_extra = (
            self.get_argument("extraCredentials", None)
            if "extraCredentials" in self.request.arguments
            else None  # the usual case, without get_argument's work
        )
        stream = self.request.connection.stream  # type: ignore[union-attr]
        cached = _connection_credentials.get(stream)
        if (
            cached is not None
            and cached[0] is identity
            and cached[1] is registry
            and cached[2] == raw_extra
        ):
            creds = dict(cached[3])
            creds["secondsLeft"] = identity.seconds_left()
            creds["properties"] = list(creds["properties"])
            return creds
        creds = build_credentials(
            identity, registry, extra_credentials=self._decode_extra_credentials(raw_extra)
        )
        template = dict(creds)
        template["properties"] = list(creds["properties"])
        _connection_credentials[stream] = (identity, registry, raw_extra, template)
        return creds

    async def _authzJWT(self) -> dict[str, Any]:
        # Async: a key set may have to be fetched from the issuer, never blocking the IOLoop.
        state = self._runtime.state
        return await authenticate_bearer(
            self.request.headers.get("Authorization"), state.token_verifier, state.registry
        )

    def _authzVISITOR(self) -> dict[str, Any]:
        return visitor_credentials()
