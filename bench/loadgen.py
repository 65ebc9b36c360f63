"""Closed-loop HTTPS load generator: ``python -m bench.loadgen ...`` prints one JSON object.

One process, one ``selectors`` loop, non-blocking ``ssl.SSLSocket`` connections (keep-alive),
each sending its next request as soon as the previous answer is complete. The request bytes are
built once. Handshakes happen before the clock starts; the first ``--warmup`` seconds are not
recorded; the run stops after ``--duration`` more seconds or ``--max-requests`` requests,
whichever comes first. It reports its own CPU use and the server's (``/proc/<pid>/stat``) over
the measured window, so a reader can tell whether the generator was the bottleneck.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import selectors
import socket
import ssl
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # After "pid (comm)": state is field 3, utime 14, stime 15 (1-based, man 5 proc).
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def build_request(port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


class ProtocolError(RuntimeError):
    """The server's answer is not an HTTP/1.1 response this generator can frame."""


@dataclass(slots=True)
class Connection:
    sock: ssl.SSLSocket
    buffer: bytearray = field(default_factory=bytearray)
    sent_at: float = 0.0
    checked: bool = False


def parse_response(buffer: bytearray) -> tuple[int, bytes, int] | None:
    """``(status, body, bytes used)`` of the first complete response in ``buffer``, or None."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).lower()
    marker = head.find(b"\r\ncontent-length:")
    if marker < 0:
        raise ProtocolError("response without Content-Length")
    line_end = head.find(b"\r\n", marker + 2)
    length = int(head[marker + 17 : line_end if line_end >= 0 else len(head)])
    total = end + 4 + length
    if len(buffer) < total:
        return None
    return int(head[9:12]), bytes(buffer[end + 4 : total]), total


def _connect(port: int, context: ssl.SSLContext, timeout: float) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
    sock.setblocking(False)
    return sock


def _send(conn: Connection, request: bytes) -> None:
    try:
        sent = conn.sock.send(request)
    except ssl.SSLWantWriteError:
        sent = 0
    if sent != len(request):  # never seen with a few hundred bytes; be correct anyway
        conn.sock.setblocking(True)
        conn.sock.sendall(request[sent:])
        conn.sock.setblocking(False)


def run_load(
    *,
    port: int,
    request: bytes,
    context: ssl.SSLContext,
    concurrency: int,
    warmup: float,
    duration: float,
    max_requests: int,
    server_pid: int | None,
    expect: Any = None,
) -> dict[str, Any]:
    conns = [Connection(_connect(port, context, 10.0)) for _ in range(concurrency)]
    selector = selectors.DefaultSelector()
    for conn in conns:
        selector.register(conn.sock, selectors.EVENT_READ, conn)
    latencies: list[float] = []
    errors = 0
    error_samples: list[str] = []
    sent = 0
    open_conns = len(conns)

    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration
    measuring = False
    server_cpu0 = own_cpu0 = 0.0
    for conn in conns:
        conn.sent_at = time.perf_counter()
        _send(conn, request)
        sent += 1
    in_flight = len(conns)
    now = start
    while in_flight and now < stop_at:
        for key, _ in selector.select(max(0.0, min(stop_at - now, 1.0))):
            conn = key.data
            try:
                while True:
                    try:
                        data = conn.sock.recv(65536)
                    except ssl.SSLWantReadError:
                        break
                    if not data:
                        raise ProtocolError("the server closed the connection")
                    conn.buffer += data
                    parsed = parse_response(conn.buffer)
                    if parsed is None:
                        continue
                    done = time.perf_counter()
                    status, body, used = parsed
                    del conn.buffer[:used]
                    in_flight -= 1
                    ok = status == 200
                    measured = conn.sent_at >= measure_from and done <= stop_at
                    if ok and not conn.checked:
                        # Each connection's first answer is decoded and compared in full (it
                        # usually falls in the warm-up, so a wrong one counts as an error anyway).
                        answer = json.loads(body)
                        ok = answer.get("OK") is True and (
                            expect is None or answer.get("Value") == expect
                        )
                        conn.checked = True
                        measured = measured or not ok
                    if measured:
                        if conn.sent_at >= measure_from and done <= stop_at:
                            latencies.append(done - conn.sent_at)
                        if not ok:
                            errors += 1
                            if len(error_samples) < 3:
                                error_samples.append(f"{status} {body[:200]!r}")
                    if done < stop_at and sent < max_requests:
                        conn.sent_at = time.perf_counter()
                        _send(conn, request)
                        sent += 1
                        in_flight += 1
            except (OSError, ProtocolError, ValueError) as exc:
                errors += 1
                if len(error_samples) < 3:
                    error_samples.append(repr(exc))
                selector.unregister(conn.sock)
                conn.sock.close()
                open_conns -= 1
                in_flight -= 1
        now = time.perf_counter()
        if not measuring and now >= measure_from:
            measuring = True
            measure_from = now  # responses to requests sent from here on are recorded
            stop_at = now + duration
            own_cpu0 = own_cpu_seconds()
            server_cpu0 = process_cpu_seconds(server_pid) if server_pid else 0.0
    window_end = min(time.perf_counter(), stop_at)
    own_cpu = own_cpu_seconds() - own_cpu0
    server_cpu = (process_cpu_seconds(server_pid) - server_cpu0) if server_pid else 0.0
    for conn in conns:
        conn.sock.close()
    selector.close()
    window = max(window_end - measure_from, 1e-9) if measuring else 0.0
    latencies.sort()
    completed = len(latencies)
    return {
        "requests": completed,
        "seconds": window,
        "rps": completed / window if window else 0.0,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p90_ms": percentile(latencies, 0.90) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": (latencies[-1] * 1000) if latencies else 0.0,
        "errors": errors,
        "error_samples": error_samples,
        "connections_lost": len(conns) - open_conns,
        "hit_max_requests": sent >= max_requests,
        "server_cpu_pct": 100 * server_cpu / window if window else 0.0,
        "client_cpu_pct": 100 * own_cpu / window if window else 0.0,
    }


def client_context(ca_dir: Path, cert: Path | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(capath=os.fspath(ca_dir))
    if cert is not None:
        context.load_cert_chain(cert)
    return context


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/Framework/Bench")
    parser.add_argument("--body", required=True, help="the form-encoded request body")
    parser.add_argument("--expect", help="JSON of the Value the first answers must carry")
    parser.add_argument("--ca-dir", type=Path, required=True)
    parser.add_argument("--cert", type=Path, help="client certificate (proxy) file")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--max-requests", type=int, default=5_000_000)
    parser.add_argument("--server-pid", type=int)
    options = parser.parse_args(argv)
    result = run_load(
        port=options.port,
        request=build_request(options.port, options.path, options.body.encode()),
        context=client_context(options.ca_dir, options.cert),
        concurrency=options.concurrency,
        warmup=options.warmup,
        duration=options.duration,
        max_requests=options.max_requests,
        server_pid=options.server_pid,
        expect=None if options.expect is None else json.loads(options.expect),
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
