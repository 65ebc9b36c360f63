"""Memory and IOLoop latency of ``tornadoservice serve`` under the abuse cases of issue 9 (6, 7).

One command, every step bounded in time and count::

    python -m bench.hardening [--repeat 3]
        [--scenarios bomb,visitor_bomb,large,large_async,unread,starve,flood]

Each scenario starts a fresh ``tornadoservice serve --config`` process (the console script next
to this interpreter, so ``PYTHONPATH=<other tree>/src`` measures another version), samples its
RSS from ``/proc`` every 20 ms, and pings (the built-in ``ping``, on the IOLoop) every 20 ms
from another thread, then prints one line per run: the server's peak RSS, its RSS at the end,
the ping latency (median and maximum) and what the scenario counts.

* ``bomb``: 5 clients each send a gzip body of about 95 KiB that inflates to 95 MiB (an echo),
  then do not read the answer for 8 s.
* ``large``: one valid 95 MiB echo, answer read.
* ``unread``: 20 clients ask for a 10 MiB answer and never read it (RSS sampled 2 s and 12 s
  after; the configured WriteTimeout is 5 s).
* ``starve``: 40 clients call a sync method of one service that sleeps 10 s; another service's
  sync method is called meanwhile (answered, or not within 12 s).
* ``flood``: 600 connections each send a call of a sync method that sleeps 2 s and close at
  once; the calls that ran are counted after 15 s (the server keeps nothing for gone clients).
"""

from __future__ import annotations

import argparse
import gzip
import json
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.pki import BenchPKI, make_pki, service_config
from bench.procs import stop_process

MIB = 1024 * 1024
TORNADOSERVICE = str(Path(sys.executable).with_name("tornadoservice"))

HANDLERS = """\
import time
from pathlib import Path

from tornadoservice import S_OK, TornadoService

RUNS = Path(__file__).with_name("runs.txt")


class SlowHandler(TornadoService):
    auth_sleep = ["all"]

    def export_sleep(self, seconds):
        with RUNS.open("a") as runs:
            runs.write("x")
        time.sleep(seconds)
        return S_OK(seconds)

    auth_big = ["all"]

    def export_big(self, size):
        return S_OK("x" * size)

    auth_bigAsync = ["all"]

    async def export_bigAsync(self, size):
        return S_OK("x" * size)


class OtherHandler(TornadoService):
    auth_add = ["all"]

    def export_add(self, a, b):
        return S_OK(a + b)
"""


@dataclass
class Site:
    folder: Path
    pki: BenchPKI

    @property
    def runs(self) -> int:
        path = self.folder / "runs.txt"
        return len(path.read_text()) if path.exists() else 0


def make_site(folder: Path) -> Site:
    pki = make_pki(folder / "pki")
    (folder / "handlers.py").write_text(HANDLERS)
    config = service_config(pki)
    config["Systems"] = {
        "Tornado": {"WriteTimeout": "5"},
        "Bench": {
            "Services": {
                "Slow": {"Protocol": "https", "HandlerPath": "handlers.py:SlowHandler"},
                "Other": {"Protocol": "https", "HandlerPath": "handlers.py:OtherHandler"},
            }
        },
    }
    (folder / "site.yaml").write_text(json.dumps(config))  # JSON is YAML
    return Site(folder, pki)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class Server:
    pid: int
    port: int
    site: Site

    def rss(self) -> int:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def context(self, visitor: bool = False) -> ssl.SSLContext:
        context = ssl.create_default_context(capath=str(self.site.pki.ca_dir))
        if not visitor:
            context.load_cert_chain(self.site.pki.proxy)
        return context

    def connect(self, rcvbuf: int | None = None, visitor: bool = False) -> ssl.SSLSocket:
        raw = socket.socket()
        if rcvbuf:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(30)
        raw.connect(("127.0.0.1", self.port))
        return self.context(visitor).wrap_socket(raw, server_hostname="localhost")


def _address(port: int) -> list[str]:
    return ["--port", str(port), "--host", "127.0.0.1"]


@contextmanager
def serve(site: Site) -> Iterator[Server]:
    port = _free_port()
    log = (site.folder / "server.log").open("ab")
    process = subprocess.Popen(
        [TORNADOSERVICE, "serve", "--config", str(site.folder / "site.yaml"), *_address(port)],
        stdout=log,
        stderr=log,
        cwd=site.folder,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: see {site.folder / 'server.log'}")
            time.sleep(0.1)
        (site.folder / "runs.txt").unlink(missing_ok=True)
        yield Server(process.pid, port, site)
    finally:
        stop_process(process)
        log.close()


def _form_value(text: str) -> bytes:
    # urlencode takes seconds on 95 MiB; the texts here only need these few escapes.
    data = text.encode()
    for char in b'%&+=" []{},:#':
        data = data.replace(bytes([char]), f"%{char:02X}".encode())
    return data


def request(service: str, method: str, *args: Any, gz: bool = False) -> bytes:
    body = b"method=" + method.encode() + b"&args=" + _form_value(json.dumps(list(args)))
    extra = ""
    if gz:
        body = gzip.compress(body, 9)
        extra = "Content-Encoding: gzip\r\n"
    head = (
        f"POST /{service} HTTP/1.1\r\nHost: localhost\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def read_answer(tls: ssl.SSLSocket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(65536)
        if not chunk:
            return 0, data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    answer = bytearray(rest)
    while len(answer) < length:
        chunk = tls.recv(MIB)
        if not chunk:
            break
        answer += chunk
    return status, bytes(answer)


@dataclass
class Probe:
    """Samples the server's RSS and the latency of ``ping`` until stopped."""

    server: Server
    rss: list[int] = field(default_factory=list)
    pings: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def _sample(self) -> None:
        while not self.stop.wait(0.02):
            with suppress(OSError):
                self.rss.append(self.server.rss())

    def _ping(self) -> None:
        tls = self.server.connect()
        try:
            while not self.stop.wait(0.02):
                started = time.perf_counter()
                tls.sendall(request("Bench/Other", "ping"))
                read_answer(tls)
                self.pings.append(time.perf_counter() - started)
        finally:
            tls.close()

    @contextmanager
    def running(self) -> Iterator[Probe]:
        threads = [threading.Thread(target=t, daemon=True) for t in (self._sample, self._ping)]
        for thread in threads:
            thread.start()
        try:
            yield self
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(60)

    def line(self, **counts: Any) -> dict[str, Any]:
        pings = self.pings or [float("nan")]
        return {
            "peak_rss_mib": round(max(self.rss or [0]) / MIB),
            "end_rss_mib": round((self.rss or [0])[-1] / MIB),
            "ping_p50_ms": round(statistics.median(pings) * 1000, 1),
            "ping_max_ms": round(max(pings) * 1000, 1),
            "pings": len(self.pings),
            **counts,
        }


def _echo_text(size: int) -> str:
    return "x" * size


def bomb(server: Server) -> dict[str, Any]:
    payload = request("Bench/Slow", "echo", _echo_text(95 * MIB), gz=True)
    probe = Probe(server)
    with probe.running():
        sockets = [server.connect(rcvbuf=65536) for _ in range(5)]
        for tls in sockets:
            tls.sendall(payload)
        time.sleep(8)
        for tls in sockets:
            tls.close()
        time.sleep(1)
    return probe.line(body_kib=len(payload) // 1024)


def visitor_bomb(server: Server) -> dict[str, Any]:
    """``bomb`` sent without a client certificate (``MaxAnonymousBodySize`` applies)."""
    payload = request("Bench/Slow", "echo", _echo_text(95 * MIB), gz=True)
    probe = Probe(server)
    with probe.running():
        sockets = [server.connect(rcvbuf=65536, visitor=True) for _ in range(5)]
        for tls in sockets:
            tls.sendall(payload)
        statuses = [read_answer(tls)[0] for tls in sockets]
        for tls in sockets:
            tls.close()
        time.sleep(1)
    return probe.line(body_kib=len(payload) // 1024, statuses=statuses)


def large(server: Server) -> dict[str, Any]:
    payload = request("Bench/Slow", "echo", _echo_text(95 * MIB))
    probe = Probe(server)
    with probe.running():
        time.sleep(0.5)
        tls = server.connect()
        started = time.perf_counter()
        tls.sendall(payload)
        status, _ = read_answer(tls)
        took = time.perf_counter() - started
        tls.close()
        time.sleep(0.5)
    return probe.line(status=status, echo_s=round(took, 2))


def unread(server: Server) -> dict[str, Any]:
    probe = Probe(server)
    with probe.running():
        sockets = [server.connect(rcvbuf=65536) for _ in range(20)]
        for tls in sockets:
            tls.sendall(request("Bench/Slow", "big", 10 * MIB))
        time.sleep(2)
        at_2s = server.rss()
        time.sleep(10)
        at_12s = server.rss()
        for tls in sockets:
            tls.close()
    return probe.line(rss_2s_mib=round(at_2s / MIB), rss_12s_mib=round(at_12s / MIB))


def starve(server: Server) -> dict[str, Any]:
    probe = Probe(server)
    with probe.running():
        sockets = [server.connect() for _ in range(40)]
        for tls in sockets:
            tls.sendall(request("Bench/Slow", "sleep", 10))
        time.sleep(1)
        other = server.connect()
        other.settimeout(12)
        started = time.perf_counter()
        other.sendall(request("Bench/Other", "add", 1, 2))
        try:
            status, _ = read_answer(other)
            waited = f"{time.perf_counter() - started:.3f}"
        except TimeoutError:
            status, waited = 0, "no answer in 12 s"
        other.close()
        for tls in sockets:
            tls.close()
    return probe.line(other_status=status, other_waited_s=waited)


def flood(server: Server) -> dict[str, Any]:
    probe = Probe(server)
    context = server.context()
    payload = request("Bench/Slow", "sleep", 2)
    with probe.running():
        for _ in range(600):
            raw = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            tls = context.wrap_socket(raw, server_hostname="localhost")
            tls.sendall(payload)
            tls.close()
        time.sleep(15)
    return probe.line(calls_ran=server.site.runs)


def large_async(server: Server) -> dict[str, Any]:
    """A small request whose async method answers 50 MiB, three times in a row."""
    probe = Probe(server)
    with probe.running():
        time.sleep(0.5)
        tls = server.connect()
        for _ in range(3):
            tls.sendall(request("Bench/Slow", "bigAsync", 50 * MIB))
            status, _ = read_answer(tls)
        tls.close()
        time.sleep(0.5)
    return probe.line(status=status)


SCENARIOS: dict[str, Callable[[Server], dict[str, Any]]] = {
    "bomb": bomb,
    "large": large,
    "large_async": large_async,
    "visitor_bomb": visitor_bomb,
    "unread": unread,
    "starve": starve,
    "flood": flood,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hardening", description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-hardening-") as tmp:
        site = make_site(Path(tmp))
        for name in options.scenarios.split(","):
            for run in range(options.repeat):
                with serve(site) as server:
                    result = SCENARIOS[name](server)
                print(json.dumps({"scenario": name, "run": run, **result}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
