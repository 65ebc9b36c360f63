"""The transport: a ``requests`` session whose HTTPS connections use our own ``SSLContext``.

Policy (which URL, which credentials, retries) lives in the client; this module only makes sure
every connection verifies the server against the grid CA directory (not the public CA bundle),
presents the caller's certificate chain, proxy included, never follows a redirect, and can hold
a call to a deadline.

**Deadlines.** ``requests`` only knows a timeout per socket operation: a server sending one byte
every two seconds keeps a call with ``timeout=5`` alive forever. Inside ``with
call_deadline(seconds)`` every TLS operation of the calling thread (handshake, each send, each
read) waits at most the time left, and fails with ``TimeoutError`` once it is spent, so the
whole call, however the server trickles, ends in time. Outside of one (streamed transfers) each
operation keeps the plain per-operation timeout of ``requests``.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter

from tornadoservice.identity.tls import client_ssl_context

_T = TypeVar("_T")


@dataclass
class Deadline:
    """The end of one call, on ``time.monotonic``; ``expired`` once an operation ran into it."""

    seconds: float
    end: float = field(init=False)
    expired: bool = False

    def __post_init__(self) -> None:
        self.end = time.monotonic() + self.seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()


class _Calls(threading.local):
    deadline: Deadline | None = None


_calls = _Calls()


@contextmanager
def call_deadline(seconds: float) -> Iterator[Deadline]:
    """Bound every TLS operation of this thread, until the block ends, by one deadline."""
    outer = _calls.deadline
    deadline = Deadline(seconds)
    _calls.deadline = deadline
    try:
        yield deadline
    finally:
        _calls.deadline = outer


class DeadlineSSLSocket(ssl.SSLSocket):
    """An ``SSLSocket`` whose operations end by the deadline of :func:`call_deadline`.

    CPython bounds one TLS operation by the socket's timeout as a whole (not per ``recv`` of
    the underlying socket), so lowering the timeout to the time left before each operation is
    enough to bound the call.
    """

    def _bounded(self, operation: Callable[[], _T]) -> _T:
        deadline = _calls.deadline
        if deadline is None:
            return operation()
        left = deadline.remaining()
        if left <= 0:
            deadline.expired = True
            raise TimeoutError(f"the call took longer than {deadline.seconds:g} s")
        saved = self.gettimeout()
        if saved is not None and saved <= left:
            return operation()
        self.settimeout(left)
        try:
            return operation()
        except TimeoutError:
            deadline.expired = True
            raise
        finally:
            self.settimeout(saved)

    # Without a deadline (a transfer, which has an inactivity timeout instead) each operation
    # goes straight to SSLSocket's: a download calls recv_into once per 16 KiB TLS record.
    def do_handshake(self, block: bool = False) -> None:
        if _calls.deadline is None:
            return super().do_handshake(block)
        return self._bounded(lambda: super(DeadlineSSLSocket, self).do_handshake(block))

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        if _calls.deadline is None:
            return super().recv(buflen, flags)
        return self._bounded(lambda: super(DeadlineSSLSocket, self).recv(buflen, flags))

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        if _calls.deadline is None:
            return super().recv_into(buffer, nbytes, flags)
        return self._bounded(
            lambda: super(DeadlineSSLSocket, self).recv_into(buffer, nbytes, flags)
        )

    def send(self, data: Any, flags: int = 0) -> int:
        if _calls.deadline is None:
            return super().send(data, flags)
        return self._bounded(lambda: super(DeadlineSSLSocket, self).send(data, flags))


class NoRedirectSession(requests.Session):
    """A session that never follows a redirect, even if a request asks it to.

    The client also passes ``allow_redirects=False``; this makes sure no other use of the
    session (a test, a future call site) can send the caller's proxy and body elsewhere.
    """

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        return None


class SSLContextAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connection pools all use one prepared ``SSLContext``."""

    def __init__(self, ssl_context: ssl.SSLContext, **kwargs: Any) -> None:
        self._ssl_context = ssl_context
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._ssl_context
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["ssl_context"] = self._ssl_context
        return super().proxy_manager_for(*args, **kwargs)


def make_session(
    ca_dir: Path | None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
    *,
    pool_size: int = 10,
    verify_server: bool = True,
) -> requests.Session:
    """A session trusting ``ca_dir`` and presenting ``cert_file``/``key_file`` (or a proxy file).

    ``verify_server=False`` is DIRAC's ``skipCACheck``: the server's certificate and host name
    are not checked, so anyone on the path can impersonate the server. Never use it for
    anything that matters; urllib3 warns (``InsecureRequestWarning``) on every such request.
    """
    context = client_ssl_context(
        ca_dir=ca_dir if verify_server else None, cert_file=cert_file, key_file=key_file
    )
    context.sslsocket_class = DeadlineSSLSocket
    session = NoRedirectSession()
    # Environment proxies would route loopback RPCs through an HTTP proxy: never wanted here.
    session.trust_env = False
    if verify_server:
        # requests would otherwise add the public CA bundle to the trust store of our context.
        session.verify = str(ca_dir) if ca_dir is not None else True
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        session.verify = False
    adapter = SSLContextAdapter(context, pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("https://", adapter)
    return session
