"""The file servers of ``python -m bench.transfer``, one per process.

``python -m bench.transfer_servers TARGET --pki DIR --data DIR [--log FILE]`` binds a free port on
127.0.0.1, prints ``PORT <n>`` on stdout once it listens, and serves until SIGTERM. Downloads are
files of ``--data`` (by name, no directories); uploads are written to ``--data``/``uploads``.
Both targets use tornadoservice's server TLS context (same CA directory with CRL checking,
RFC 3820 proxies allowed).

* ``tornadoservice``: the ``Framework/Files`` :class:`~tornadoservice.TornadoService`, for
  authenticated callers only: ``streamToClient(fileId)`` returns the open file (the framework
  sends it in chunks with ``Content-Length``), ``streamFromClient(fileId, token, size, stream)``
  copies the streamed request body to a file, ``ping`` warms the connection up. Access log at
  INFO into ``--log``, as the framework does by default.
* ``tornado`` (the baseline): bare ``RequestHandler``s with ``CERT_REQUIRED`` (the client
  certificate stands in for authentication). ``GET /Framework/Files/<name>`` sends the file in
  1 MiB reads (``write`` + ``await flush()``, ``Content-Length`` set); ``PUT`` (or ``POST``) to
  the same URL is a ``@stream_request_body`` handler writing each chunk to the file as it
  arrives; ``GET /ping`` warms the connection up. No access log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import ssl
from pathlib import Path
from typing import IO, Any

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, HTTPError, RequestHandler, stream_request_body

from bench.pki import BenchPKI, service_config
from bench.procs import announce, run_until_signalled
from tornadoservice import S_ERROR, S_OK, TornadoService
from tornadoservice.config.tree import ConfigTree
from tornadoservice.core.log import configure_logging
from tornadoservice.identity.tls import server_ssl_context
from tornadoservice.server import idlespin
from tornadoservice.server.server import TornadoServer

TARGETS = ("tornadoservice", "tornado")
SERVICE = "Framework/Files"
CHUNK = 1024 * 1024
"""Bytes per read (and write) on both servers, as tornadoservice's ``STREAM_CHUNK``."""
MAX_UPLOAD = 1 << 40


def safe_name(file_id: object) -> str | None:
    """``file_id`` if it names a plain file of the data folder (no path, no dot file)."""
    if not isinstance(file_id, str) or not file_id or file_id.startswith("."):
        return None
    return file_id if Path(file_id).name == file_id else None


class FilesHandler(TornadoService):
    """What a service author writes to serve and store files (``DataDir`` from its section)."""

    auth_streamToClient = ["authenticated"]

    def export_streamToClient(self, fileId: Any) -> Any:
        name = safe_name(fileId)
        path = Path(self.getCSOption("DataDir", "")) / name if name else None
        if path is None or not path.is_file():
            return S_ERROR(f"no such file: {fileId!r}")
        return open(path, "rb")  # the framework sends it in chunks, then closes it

    auth_streamFromClient = ["authenticated"]

    def export_streamFromClient(
        self, fileId: Any, token: str, size: int, stream: IO[bytes]
    ) -> dict[str, Any]:
        name = safe_name(fileId)
        if name is None:
            return S_ERROR(f"not a file name: {fileId!r}")
        path = Path(self.getCSOption("DataDir", "")) / "uploads" / name
        with open(path, "wb") as out:
            shutil.copyfileobj(stream, out, CHUNK)
            written = out.tell()
        if written != size:
            path.unlink()
            return S_ERROR(f"received {written} bytes of {size}")
        return S_OK({"size": written})


@stream_request_body
class BareFiles(RequestHandler):
    """GET sends a file in chunks; PUT/POST writes the body to a file as it arrives."""

    def initialize(self, data: Path) -> None:
        self.data = data
        self.out: IO[bytes] | None = None

    def prepare(self) -> None:
        name = safe_name(self.path_args[0])
        if name is None:
            raise HTTPError(404)
        if self.request.method in ("PUT", "POST"):
            self.out = open(self.data / "uploads" / name, "wb")  # noqa: SIM115 (closed in put)

    async def get(self, name: str) -> None:
        path = self.data / name
        if not path.is_file():
            raise HTTPError(404)
        with open(path, "rb") as source:
            self.set_header("Content-Type", "application/octet-stream")
            self.set_header("Content-Length", str(path.stat().st_size))
            while chunk := source.read(CHUNK):
                self.write(chunk)
                await self.flush()
        self.finish()

    def data_received(self, chunk: bytes) -> None:
        if self.out is not None:
            self.out.write(chunk)

    def put(self, name: str) -> None:
        assert self.out is not None
        size = self.out.tell()
        self.out.close()
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"size": size}))

    post = put

    def on_finish(self) -> None:
        if self.out is not None:
            self.out.close()  # a no-op after put

    def on_connection_close(self) -> None:
        super().on_connection_close()
        if self.out is not None:
            self.out.close()  # the client went away mid-upload


class Ping(RequestHandler):
    def get(self) -> None:
        self.finish("pong")


def _serve_tornadoservice(pki: BenchPKI, data: Path) -> None:
    config = service_config(pki)
    config["Systems"]["Framework"]["Services"] = {
        "Files": {"Protocol": "https", "DataDir": str(data)}
    }
    server = TornadoServer(
        ConfigTree.from_dict(config),
        handlers={SERVICE: FilesHandler},
        port=0,
        host="127.0.0.1",
        drain_timeout=5.0,
        freeze_heap=True,  # as `tornadoservice serve` does
    )
    serving = server.serve_forever(ready=lambda: announce(next(iter(server.ports.values()))))
    idlespin.run(serving, server.idle_spin)  # on the loop `serve` makes


async def _serve_tornado(pki: BenchPKI, data: Path) -> None:
    context = server_ssl_context(pki.host_cert, pki.host_key, pki.ca_dir)
    context.verify_mode = ssl.CERT_REQUIRED
    app = Application(
        [
            (rf"/{SERVICE}/([^/]+)", BareFiles, {"data": data}),
            (r"/ping", Ping),
        ]
    )
    sock = bind_sockets(0, "127.0.0.1")[0]
    server = HTTPServer(app, ssl_options=context, max_body_size=MAX_UPLOAD)
    server.add_sockets([sock])
    announce(sock.getsockname()[1])
    await run_until_signalled(server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.transfer_servers")
    parser.add_argument("target", choices=TARGETS)
    parser.add_argument("--pki", type=Path, required=True, help="a folder made by bench.pki")
    parser.add_argument("--data", type=Path, required=True, help="files to serve; uploads/")
    parser.add_argument("--log", type=Path, help="server log (default: DATA/TARGET.log)")
    options = parser.parse_args(argv)
    data: Path = options.data.resolve()
    (data / "uploads").mkdir(parents=True, exist_ok=True)
    # The logging of `tornadoservice serve`, into a file: INFO for tornadoservice, so every
    # request writes an access-log line.
    level = logging.INFO if options.target == "tornadoservice" else logging.WARNING
    log_file = options.log or data / f"{options.target}.log"
    configure_logging(level, stream=open(log_file, "a", encoding="utf-8"))  # noqa: SIM115
    pki = BenchPKI(options.pki)
    if options.target == "tornadoservice":
        _serve_tornadoservice(pki, data)
    else:
        asyncio.run(_serve_tornado(pki, data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
