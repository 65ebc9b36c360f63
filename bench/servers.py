"""The servers under test, each run as ``python -m bench.servers TARGET --pki DIR --log FILE``.

Each binds a free port on 127.0.0.1, prints ``PORT <n>`` on stdout once it listens, and serves
``POST /Framework/Bench`` (form fields ``method`` and ``args``) until SIGTERM. Every target uses
the server TLS context of tornadoservice (same CA directory with CRL checking, RFC 3820 proxies
allowed); the two baselines require the peer certificate, which stands in for authentication.

* ``tornadoservice``: a :class:`~tornadoservice.TornadoService` with a sync ``add``, an async
  ``asyncAdd`` and the built-in ``echo``/``whoami``, access log at INFO into ``--log``, on the
  default transport (asyncio + httptools) and the event loop ``serve`` makes (it polls briefly
  before sleeping: :mod:`tornadoservice.server.idlespin`).
* ``tornadoservice-tornado``: the same service on Tornado's own transport
  (``/Systems/Tornado/HTTPImplementation = tornado``).
* ``tornadoservice-observed``: the same as ``tornadoservice``, with what production turns on:
  Prometheus metrics (``/Systems/Tornado/Metrics/Port``, every request recorded) and the access
  log as JSON lines.
* ``tornado``: a bare ``RequestHandler`` doing the least equivalent work: parse the form,
  ``json.loads`` the args, ``json.dumps`` the result. No access log.
* ``tornado-httptools``: the same bare handler and Tornado ``Application``, fed by
  tornadoservice's asyncio + httptools transport instead of Tornado's: what the transport alone
  changes.
* ``fastapi``: the same endpoint in FastAPI on uvicorn (its default loop and HTTP parser). No
  access log.
* ``limit``: an asyncio ``Protocol`` with ``httptools`` and no framework doing the baselines'
  work (:mod:`bench.limit_server`): the ceiling of any Python server here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import socket
import ssl
from pathlib import Path
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, HTTPError, RequestHandler

from bench.baseline import answer
from bench.pki import BenchPKI, service_config
from bench.procs import announce, run_until_signalled, wait_for_signal
from tornadoservice import S_OK, TornadoService, authentication, authorization
from tornadoservice.config.tree import ConfigTree
from tornadoservice.core.log import configure_logging
from tornadoservice.identity.tls import server_ssl_context
from tornadoservice.server import idlespin
from tornadoservice.server.server import TornadoServer

TARGETS = (
    "tornadoservice",
    "tornadoservice-tornado",
    "tornadoservice-observed",
    "tornado",
    "tornado-httptools",
    "fastapi",
    "limit",
)
SERVICE = "Framework/Bench"


class BenchHandler(TornadoService):
    """What a user writes: one sync and one async method (echo and whoami are built in)."""

    auth_add = ["authenticated"]

    def export_add(self, a: Any, b: Any) -> dict[str, Any]:
        return S_OK(a + b)

    auth_asyncAdd = ["authenticated"]

    async def export_asyncAdd(self, a: Any, b: Any) -> dict[str, Any]:
        return S_OK(a + b)

    @authorization(["all"])
    @authentication(["VISITOR"])
    def export_anonEcho(self, data: Any) -> dict[str, Any]:
        """echo for callers without a certificate: the wrk cross-check (wrk cannot send one)."""
        return S_OK(data)


class BareHandler(RequestHandler):
    def post(self) -> None:
        method = self.get_body_argument("method")
        args = json.loads(self.get_body_argument("args", "[]"))
        cert = self.request.get_ssl_certificate()
        subject = cert.get("subject") if isinstance(cert, dict) else None
        try:
            result = answer(method, args, subject)
        except LookupError:
            raise HTTPError(501) from None
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(result))


def _required_cert_context(pki: BenchPKI) -> ssl.SSLContext:
    context = server_ssl_context(pki.host_cert, pki.host_key, pki.ca_dir)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _listen() -> socket.socket:
    sock = bind_sockets(0, "127.0.0.1")[0]
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _serve_tornadoservice(
    pki: BenchPKI, implementation: str = "httptools", *, observed: bool = False
) -> None:
    config = ConfigTree.from_dict(service_config(pki))
    config.set_option("/Systems/Tornado/HTTPImplementation", implementation)
    if observed:
        config.set_option("/Systems/Tornado/Metrics/Port", "0")  # a free port, never scraped
    server = TornadoServer(
        config,
        handlers={SERVICE: BenchHandler},
        port=0,
        host="127.0.0.1",
        drain_timeout=5.0,
        freeze_heap=True,  # as `tornadoservice serve` does
    )
    # On the loop `serve` makes (it polls briefly before sleeping: server/idlespin.py).
    serving = server.serve_forever(ready=lambda: announce(next(iter(server.ports.values()))))
    idlespin.run(serving, server.idle_spin)


async def _serve_tornado(pki: BenchPKI) -> None:
    sock = _listen()
    server = HTTPServer(
        Application([(f"/{SERVICE}", BareHandler)]), ssl_options=_required_cert_context(pki)
    )
    server.add_sockets([sock])
    announce(sock.getsockname()[1])
    await run_until_signalled(server)


async def _serve_tornado_httptools(pki: BenchPKI) -> None:
    from tornadoservice.server.transport.listener import HttptoolsServer

    sock = _listen()
    server = HttptoolsServer(
        Application([(f"/{SERVICE}", BareHandler)]),
        ssl_options=_required_cert_context(pki),
        max_body_size=100 * 1024 * 1024,
    )
    server.add_sockets([sock])
    announce(sock.getsockname()[1])
    await run_until_signalled(server)


async def _serve_limit(pki: BenchPKI) -> None:
    from bench.limit_server import serve

    sock = _listen()
    server = await serve(sock, _required_cert_context(pki))
    announce(sock.getsockname()[1])
    await wait_for_signal()
    server.close()


def _serve_fastapi(pki: BenchPKI) -> None:
    from bench.fastapi_app import serve  # optional dependency: imported on use

    sock = _listen()
    announce(sock.getsockname()[1])
    serve(f"/{SERVICE}", sock, _required_cert_context(pki))


def _raise_descriptor_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.servers")
    parser.add_argument("target", choices=TARGETS)
    parser.add_argument("--pki", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True, help="where the server logs go")
    options = parser.parse_args(argv)
    pki = BenchPKI(options.pki)
    # The logging of `tornadoservice serve` (batched lines, cached timestamps), into a file:
    # INFO for tornadoservice, so every request writes an access-log line.
    level = logging.INFO if options.target.startswith("tornadoservice") else logging.WARNING
    _raise_descriptor_limit()  # the idle suite holds thousands of connections
    log_stream = open(options.log, "a", encoding="utf-8")  # noqa: SIM115 (open until exit)
    log_format = "json" if options.target == "tornadoservice-observed" else "text"
    configure_logging(level, stream=log_stream, log_format=log_format)
    if options.target == "tornadoservice":
        _serve_tornadoservice(pki)
    elif options.target == "tornadoservice-observed":
        _serve_tornadoservice(pki, observed=True)
    elif options.target == "tornadoservice-tornado":
        _serve_tornadoservice(pki, "tornado")
    elif options.target == "limit":
        asyncio.run(_serve_limit(pki))
    elif options.target == "tornado-httptools":
        asyncio.run(_serve_tornado_httptools(pki))
    elif options.target == "tornado":
        asyncio.run(_serve_tornado(pki))
    else:
        _serve_fastapi(pki)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
