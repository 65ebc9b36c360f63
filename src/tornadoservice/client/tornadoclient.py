"""``TornadoClient``: DIRAC's HTTPS client, with the same name, keyword arguments and results.

::

    client = TornadoClient("DataManagement/Catalog")      # or an https:// URL
    result = client.size("/lhcb/a.txt")                   # any attribute is a remote call
    result = client.executeRPC("size", "/lhcb/a.txt")     # the same call
    client.executeRPCStub(result["rpcStub"])               # and the same call again

Every DIRAC-named method returns ``S_OK``/``S_ERROR`` and never raises for a network, TLS or
configuration problem. The snake_case methods (:meth:`TornadoClient.execute_rpc`,
:meth:`~TornadoClient.receive_file`, :meth:`~TornadoClient.send_file`) do the work and raise::

    ValueError
     ├── URLResolutionError   System/Service has no URL in the configuration
     └── CredentialError      no token where one was asked for
    TLSConfigError            the certificate, key or CA directory cannot be used
    RPCConnectionError        no server could be reached, or the exchange broke below HTTP
    OSError                   a local file could not be read or written

**Failover.** The URLs of a service are tried in (shuffled) order, URLs banned after a recent
failure last. A URL is abandoned for the next one only when the request certainly never reached
it: connection refused, name not resolved, connect timeout, TLS handshake refused. Once the
request went out, any failure (a read timeout, a reset, a closed connection) is returned as an
``S_ERROR``: the server may have executed the call, and an RPC is never silently sent twice.
An HTTP error answer (401, 500, ...) is returned as it is, without trying another server
(DIRAC's client tries the other URLs on a 5xx; that could execute a call twice).

**Redirects** (301, 302, 307, 308) are never followed, by any call or transfer: the answer is an
``S_ERROR`` naming the ``Location``. Following one would present the caller's proxy to another
host, and send the call again (in clear text to an ``http://`` target).

**Timeout.** For an RPC, ``timeout`` is a deadline for the whole call, as in DIRAC: connecting,
sending and reading the answer, over all the URLs tried, end within it, however slowly the
server sends. For ``receiveFile``/``sendFile``, which may rightly last hours, it is an
inactivity timeout: the longest wait for the next bytes of the transfer.

**Reply size.** An RPC reply (and the error answer of a transfer) larger than
``max_reply_size`` bytes (default :data:`~tornadoservice.client.rpc.DEFAULT_MAX_REPLY_SIZE`,
256 MiB), as announced or once decompressed, is an ``S_ERROR`` (``EFBIG``), read no further.
A downloaded file is streamed to its destination with no bound.

One client may be shared by many threads: its ``requests.Session`` is made once (lazily, under a
lock) and keeps a pool of keep-alive TLS connections per server, big enough for
:data:`POOL_SIZE` concurrent calls.
"""

from __future__ import annotations

import errno
import functools
import io
import os
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import requests
import urllib3

from tornadoservice.config.active import active_config
from tornadoservice.config.tree import ConfigTree
from tornadoservice.core.returnvalues import S_ERROR
from tornadoservice.identity.tls import TLSConfigError

from . import transfer
from .credentials import (
    ClientCredentials,
    CredentialError,
    discover_token,
    find_ca_dir,
    find_proxy,
    host_certificate,
    pem_file,
    proxy_pem,
    read_token_file,
)
from .peers import ServerKinds
from .rpc import (
    DEFAULT_MAX_REPLY_SIZE,
    DReturn,
    ReplyTooLargeError,
    RPCConnectionError,
    decode_result,
    error_from_response,
    form_fields,
    never_sent,
    read_body,
    short_reason,
)
from .transfer import RESULT_HEADER
from .transport import Deadline, call_deadline, make_session
from .upload import Upload
from .urls import BanList, ServiceURLs, URLResolutionError, resolve_urls

__all__ = ["BANS", "POOL_SIZE", "TornadoClient", "executeRPCStub", "set_default_config"]

DEFAULT_TIMEOUT = 600
POOL_SIZE = 64
"""Keep-alive connections kept per server by one client (more concurrent calls still work:
the extra connections are opened and closed per call)."""

BANS = BanList()
"""Shared by all clients of the process: clients are often made per call, as in DIRAC."""

PEERS = ServerKinds()
"""Which URLs are our servers (uploads streamed) and which are not (DIRAC's form), per process."""

# DIRAC's keyword arguments, then ours (snake_case, so they never clash with DIRAC's).
_DIRAC_KWARGS = frozenset(
    {
        "timeout",
        "proxyLocation",
        "useCertificates",
        "delegatedDN",
        "delegatedGroup",
        "extraCredentials",
        "skipCACheck",
        "useAccessToken",
        "VO",
        "proxyString",
        "proxyChain",
        *("keepAliveLapse", "ignoreGateways", "setup", "httpsClient"),  # accepted, ignored
    }
)
_OUR_KWARGS = frozenset(
    {"config", "token", "token_file", "cert_file", "key_file", "ca_dir", "max_reply_size"}
)
# Left out of rpcStub: DIRAC drops useCertificates; a configuration object, a chain object or
# a client class cannot be encoded; a token or a proxy is a secret, and stubs get stored and
# logged.
_NOT_IN_STUB = frozenset(
    {"useCertificates", "config", "token", "proxyString", "proxyChain", "httpsClient"}
)

_EXPLICIT_CREDENTIALS = frozenset(
    {
        "cert_file",
        "proxyLocation",
        "proxyString",
        "proxyChain",
        "token",
        "token_file",
        "useAccessToken",
    }
)

_default_config: ConfigTree | None = None
_default_config_lock = threading.Lock()


def set_default_config(config: ConfigTree | None) -> None:
    """The configuration used by clients made without ``config=`` (DIRAC's ``gConfig``)."""
    global _default_config
    with _default_config_lock:
        _default_config = config


def _uses_server_certificate(config: ConfigTree | None, kwargs: dict[str, Any]) -> bool:
    """DIRAC's ``/DIRAC/Security/UseServerCertificate``: the default of ``useCertificates``.

    Servers set it to call other services as themselves. Credentials asked for explicitly
    (``useCertificates=False`` too, a certificate, a proxy or a token) win over it.
    """
    if config is None or "useCertificates" in kwargs:
        return False
    if any(kwargs.get(name) for name in _EXPLICIT_CREDENTIALS):
        return False
    return bool(config.getValue("/DIRAC/Security/UseServerCertificate", False))


def _connection_error(
    url: str, exc: Exception, timeout: float, deadline: Deadline | None = None
) -> RPCConnectionError:
    sent = not never_sent(exc)
    if sent and (isinstance(exc, requests.ReadTimeout) or (deadline and deadline.expired)):
        message = (
            f"{url}: no answer within {timeout:g} s (the call may have run there, "
            "so it was not sent to another server)"
        )
    else:
        message = f"{url}: {short_reason(exc)}"
    return RPCConnectionError(message, request_sent=sent)


class TornadoClient:
    """A client of one service: ``TornadoClient(url_or_System/Service, **kwargs)``.

    Keyword arguments (DIRAC's): ``timeout`` (seconds, default 600), ``proxyLocation``,
    ``useCertificates`` (the host certificate; sends ``extraCredentials="hosts"``),
    ``delegatedDN`` + ``delegatedGroup`` (a trusted host calling for a user; sends
    ``[DN, group]``), ``extraCredentials`` (sent as given), ``skipCACheck`` (do not verify the
    server certificate: **unsafe**, anyone can impersonate the server), ``useAccessToken``
    (bearer token by WLCG discovery), ``VO`` (the ``clientVO`` field). Ours: ``config`` (a
    :class:`ConfigTree` for ``System/Service`` names and security options, default
    :func:`set_default_config`'s, else inside a server the server's; with
    ``/DIRAC/Security/UseServerCertificate = yes`` there, ``useCertificates`` defaults to
    true), ``token`` (a bearer token string), ``token_file``,
    ``cert_file`` + ``key_file`` (a certificate presented as itself, e.g. a user certificate:
    unlike ``useCertificates`` no ``extraCredentials`` is sent), ``ca_dir`` (the CA directory
    to trust, before the configuration's), ``max_reply_size`` (bytes, the largest RPC reply
    read). Also DIRAC's ``proxyString`` (a proxy as PEM text) and ``proxyChain`` (an
    ``X509Chain``-like object with ``dumpAllToString()``, or PEM): presented instead of a proxy
    file. Accepted and ignored, as they mean nothing here: ``keepAliveLapse`` (DISET
    connections; ours are pooled), ``ignoreGateways`` (no DIRAC gateways are used),
    ``setup`` (DIRAC setups are gone in DIRAC 9), ``httpsClient`` (DIRAC's choice of client
    class). Any other keyword is a ``TypeError``.

    DIRAC's attributes, not remote calls: :meth:`getServiceName` and :attr:`serviceURL`.
    """

    def __init__(self, url: str, **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - _DIRAC_KWARGS - _OUR_KWARGS)
        if unknown:
            raise TypeError(
                f"TornadoClient() got unexpected keyword arguments: {', '.join(unknown)}"
            )
        if (kwargs.get("delegatedDN") is None) != (kwargs.get("delegatedGroup") is None):
            raise TypeError("TornadoClient(): delegatedDN and delegatedGroup go together")
        self._service_name = url
        self._options: dict[str, Any] = {"timeout": DEFAULT_TIMEOUT, "useAccessToken": False}
        self._options.update(kwargs)
        if kwargs.get("ca_dir") is not None:
            self._options["ca_dir"] = os.fspath(kwargs["ca_dir"])
        config = kwargs.get("config")
        if config is None:
            # DIRAC's gConfig: set_default_config's, else (inside a server) the server's own.
            config = _default_config if _default_config is not None else active_config()
        self._config: ConfigTree | None = config
        if _uses_server_certificate(config, kwargs):
            self._options["useCertificates"] = True
        self._timeout = float(self._options["timeout"])
        self._max_reply_size = int(kwargs.get("max_reply_size", DEFAULT_MAX_REPLY_SIZE))
        self._lock = threading.Lock()
        self._session: requests.Session | None = None
        self._token: str | None = None
        self._urls: ServiceURLs | None = None

    def __repr__(self) -> str:
        return f"TornadoClient({self._service_name!r})"

    def getServiceName(self) -> str:
        """The service as given: ``System/Service`` or its URL (DIRAC's attribute)."""
        return self._service_name

    @property
    def serviceURL(self) -> str:
        """The URL the next call goes to first (banned URLs last); ``""`` when the name has
        no URL."""
        try:
            return BANS.order(self._resolve().urls)[0]
        except URLResolutionError:
            return ""

    def __getattr__(self, name: str) -> Callable[..., DReturn]:
        # Only for names that are not attributes: every public name is a remote method.
        if name.startswith("_"):
            raise AttributeError(name)
        return functools.partial(self.executeRPC, name)

    # ------------------------------------------------------------------ DIRAC's API
    def executeRPC(self, method: str, *args: Any) -> DReturn:
        """Call ``method(*args)`` on the service; the result carries ``rpcStub``."""
        result = self._at_boundary(functools.partial(self.execute_rpc, method, *args))
        result["rpcStub"] = self._stub(method, list(args))
        return result

    def executeRPCStub(self, rpcStub: Sequence[Any]) -> DReturn:
        """Replay a call from its ``rpcStub``, with this client's configuration."""
        return executeRPCStub(rpcStub, config=self._config)

    def receiveFile(self, destFile: str | os.PathLike[str] | IO[bytes], *args: Any) -> DReturn:
        """Download what ``streamToClient(*args)`` sends into ``destFile`` (a path or a binary
        file object): ``S_OK()``, or the service's ``S_ERROR`` with nothing written."""
        return self._at_boundary(functools.partial(self.receive_file, destFile, *args))

    def sendFile(
        self, filename: str | os.PathLike[str] | IO[bytes], fileID: Any, token: str = ""
    ) -> DReturn:
        """Upload a file (path or binary file object) to ``streamFromClient(fileID, token,
        size, stream)``, streamed as the request body; the result carries ``rpcStub``."""
        result = self._at_boundary(functools.partial(self.send_file, filename, fileID, token))
        result["rpcStub"] = self._stub("streamFromClient", [fileID, token])
        return result

    # ------------------------------------------------------------------ raising variants
    def execute_rpc(self, method: str, *args: Any) -> DReturn:
        """:meth:`executeRPC` without ``rpcStub``, raising instead of returning network errors."""
        session = self._get_session()
        fields = form_fields(
            method, args, extra_credentials=self._extra_credentials(), client_vo=self._vo()
        )
        with call_deadline(self._timeout) as deadline:

            def send(url: str) -> requests.Response:
                left = max(deadline.remaining(), 0.001)
                return session.post(
                    url,
                    data=fields,
                    timeout=left,
                    headers=self._headers(),
                    stream=True,
                    allow_redirects=False,
                )

            url, response = self._post(send, deadline)
            return self._reply(response, url, method, deadline)

    def receive_file(
        self,
        dest: str | os.PathLike[str] | IO[bytes],
        *args: Any,
        progress: transfer.Progress | None = None,
    ) -> DReturn:
        """:meth:`receiveFile`, raising on network errors; ``progress`` follows the transfer."""
        session = self._get_session()
        fields = form_fields(
            "streamToClient",
            args,
            extra_credentials=self._extra_credentials(),
            client_vo=self._vo(),
        )
        fields.append(("rawContent", "True"))
        url, response = self._post(
            lambda url: session.post(
                url,
                data=fields,
                timeout=self._timeout,
                headers=self._headers(),
                stream=True,
                allow_redirects=False,
            )
        )
        if not transfer.is_download(response):
            return self._reply(response, url, "streamToClient")
        with response:
            return transfer.save_response(response, url, dest, progress)

    def send_file(
        self,
        source: str | os.PathLike[str] | IO[bytes],
        fileID: Any,
        token: str = "",
        *,
        progress: transfer.Progress | None = None,
    ) -> DReturn:
        """:meth:`sendFile` without ``rpcStub``, raising on network errors."""
        if isinstance(source, str | os.PathLike):
            with open(source, "rb") as stream:
                return self._send_stream(stream, fileID, token, progress)
        return self._send_stream(source, fileID, token, progress)

    # ------------------------------------------------------------------ internals
    def _send_stream(
        self,
        stream: IO[bytes],
        file_id: Any,
        token: str,
        progress: transfer.Progress | None,
    ) -> DReturn:
        session = self._get_session()  # first: it reads the token that _headers() sends
        start = stream.tell()
        upload = Upload(
            session=session,
            stream=stream,
            start=start,
            size=stream.seek(0, io.SEEK_END) - start,
            file_id=file_id,
            token=token,
            extra_credentials=self._extra_credentials(),
            client_vo=self._vo(),
            headers=self._headers(),
            timeout=self._timeout,
            progress=progress,
        )
        url, response = self._post(lambda url: upload.send(url, PEERS))
        return self._reply(response, url, "streamFromClient")

    def _reply(
        self,
        response: requests.Response,
        url: str,
        method: str,
        deadline: Deadline | None = None,
    ) -> DReturn:
        """The result in a ``stream=True`` answer, its body read within ``max_reply_size``."""
        PEERS.note(url, response)
        with response:
            try:
                body = read_body(response, url, self._max_reply_size)
            except ReplyTooLargeError as exc:
                return S_ERROR(errno.EFBIG, str(exc))
            except requests.exceptions.ContentDecodingError as exc:
                return S_ERROR(errno.EPROTO, f"{url} answered an undecodable body: {exc}")
            except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
                raise _connection_error(url, exc, self._timeout, deadline) from exc
        if response.status_code == 422 and response.headers.get(RESULT_HEADER) == "S_ERROR":
            return decode_result(body, url)
        if response.status_code != 200:
            return error_from_response(response, body, url, method)
        return decode_result(body, url)

    def _post(
        self, send: Callable[[str], requests.Response], deadline: Deadline | None = None
    ) -> tuple[str, requests.Response]:
        """Send to the first URL that takes the request (see the module docstring)."""
        failures: list[str] = []
        urls = BANS.order(self._resolve().urls)
        for url in urls:
            if deadline is not None and deadline.remaining() <= 0:
                failures.append(f"{url}: not tried, the call took its {self._timeout:g} s")
                raise RPCConnectionError("; ".join(failures), request_sent=False)
            try:
                response = send(url)
            except (requests.ConnectionError, requests.Timeout) as exc:
                error = _connection_error(url, exc, self._timeout, deadline)
                if error.request_sent:
                    raise error from exc
                BANS.ban(url)
                failures.append(str(error))
                if url == urls[-1]:
                    raise RPCConnectionError("; ".join(failures), request_sent=False) from exc
                continue
            BANS.lift(url)
            return url, response
        raise AssertionError("resolve_urls never returns an empty list")  # pragma: no cover

    def _at_boundary(self, call: Callable[[], DReturn]) -> DReturn:
        """Where exceptions become DIRAC's ``S_ERROR`` (errno 0 for network errors, as DIRAC)."""
        try:
            return call()
        except RPCConnectionError as exc:
            return S_ERROR(f"Cannot reach {self._service_name}: {exc}")
        except (URLResolutionError, CredentialError, TLSConfigError) as exc:
            return S_ERROR(errno.EINVAL, str(exc))
        except OSError as exc:
            return S_ERROR(exc.errno or errno.EIO, f"{exc.filename or ''}: {exc.strerror or exc}")

    def _resolve(self) -> ServiceURLs:
        with self._lock:
            if self._urls is None:
                self._urls = resolve_urls(self._service_name, self._config)
            return self._urls

    def _get_session(self) -> requests.Session:
        with self._lock:
            if self._session is None:
                with ExitStack() as stack:
                    pem = proxy_pem(
                        self._options.get("proxyString"), self._options.get("proxyChain")
                    )
                    in_memory = stack.enter_context(pem_file(pem)) if pem is not None else None
                    credentials = self._credentials(in_memory)
                    self._token = credentials.token
                    self._session = make_session(
                        credentials.ca_dir,
                        credentials.cert_file,
                        credentials.key_file,
                        pool_size=POOL_SIZE,
                        verify_server=credentials.verify_server,
                    )
            return self._session

    def _credentials(self, proxy_in_memory: Path | None = None) -> ClientCredentials:
        options = self._options
        token: str | None = options.get("token")
        if token is None and options.get("token_file"):
            token = read_token_file(options["token_file"])
        if token is None and options.get("useAccessToken"):
            token = discover_token()
        cert: Path | None = None
        key: Path | None = None
        if options.get("cert_file"):
            cert = Path(options["cert_file"])
            key = Path(options["key_file"]) if options.get("key_file") else None
        elif options.get("useCertificates"):
            cert, key = host_certificate(self._config)
        elif proxy_in_memory is not None:
            cert = proxy_in_memory
        elif token is None or options.get("proxyLocation"):
            # With a token the proxy is only sent when asked for explicitly.
            cert = find_proxy(options.get("proxyLocation"))
        return ClientCredentials(
            ca_dir=Path(options["ca_dir"]) if options.get("ca_dir") else find_ca_dir(self._config),
            cert_file=cert,
            key_file=key,
            token=token,
            verify_server=not options.get("skipCACheck", False),
        )

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def _extra_credentials(self) -> Any:
        options = self._options
        if options.get("extraCredentials") is not None:
            return options["extraCredentials"]
        if options.get("delegatedDN") is not None:
            return [options["delegatedDN"], options["delegatedGroup"]]
        if options.get("useCertificates"):
            return "hosts"
        return None

    def _vo(self) -> str:
        if self._options.get("VO"):
            return str(self._options["VO"])
        configured = self._config.get("/DIRAC/VirtualOrganization") if self._config else None
        return configured or "unknown"

    def _stub(self, method: str, args: list[Any]) -> tuple[Any, ...]:
        kwargs = {k: v for k, v in self._options.items() if k not in _NOT_IN_STUB}
        return ((self._service_name, kwargs), method, args)

    def close(self) -> None:
        """Close the pooled connections (a later call opens new ones)."""
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()


def executeRPCStub(rpcStub: Sequence[Any], *, config: ConfigTree | None = None) -> DReturn:
    """Replay ``((serviceName, kwargs), method, args)`` as a new call (also after JSON)."""
    try:
        (service_name, kwargs), method, args = rpcStub
        client = TornadoClient(service_name, config=config, **dict(kwargs))
    except (TypeError, ValueError) as exc:
        return S_ERROR(errno.EINVAL, f"not an rpcStub: {exc}")
    return client.executeRPC(method, *args)
