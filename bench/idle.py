"""Many idle TLS connections held open while one client calls ``ping``: ``--suites idle``.

For each tornadoservice transport: the server alone on core 0 (as in the request table), the
``ping`` latency of one keep-alive connection (``bench.loadgen``, c=1, on core 1) first with no
other connection, then with ``--idle-connections`` more TLS connections open and silent (made
by this process after a full handshake with the client proxy, as a pool of grid clients leaves
them). Reported: ping p50/p99 with their spread, the server's resident memory with and without
the idle connections. Target: ping p99 under 15 ms with 2,000 idle connections.
"""

from __future__ import annotations

import resource
import socket
import ssl
import statistics
import time
from contextlib import ExitStack
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from bench.loadgen import client_context
from bench.pki import BenchPKI, make_pki
from bench.runner import Method, Settings, pinning_available, run_generator, server_process

TARGETS = ("tornadoservice", "tornadoservice-tornado")
PING = Method("ping", [], None)
TARGET_P99_MS = 15.0


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _room_for(connections: int) -> None:
    """This process needs a descriptor per idle connection: raise the soft limit to the hard."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 256
    if soft < wanted and (hard == resource.RLIM_INFINITY or hard >= wanted):
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        raise RuntimeError(f"the idle suite needs {wanted} descriptors, ulimit -n is {soft}")


def _open_idle(port: int, context: ssl.SSLContext, count: int) -> list[ssl.SSLSocket]:
    opened: list[ssl.SSLSocket] = []
    try:
        for _ in range(count):
            raw = socket.create_connection(("127.0.0.1", port), timeout=30)
            opened.append(context.wrap_socket(raw, server_hostname="127.0.0.1"))
    except BaseException:
        for sock in opened:
            sock.close()
        raise
    return opened


def _still_open(sock: ssl.SSLSocket) -> bool:
    """The server has not closed this idle connection (a read finds nothing, and no EOF)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""  # data on an idle connection would be odd, but it is open
    except (ssl.SSLWantReadError, BlockingIOError):
        return True
    except OSError:
        return False


def _ping(port: int, pid: int, pki: BenchPKI, settings: Settings, pinned: bool) -> dict[str, Any]:
    return run_generator(
        port=port, pki=pki, method=PING, concurrency=1, settings=settings,
        server_pid=pid, pinned=pinned,
    )  # fmt: skip


def run_idle(
    connections: int, repeat: int, duration: float, workdir: Path | None = None
) -> dict[str, Any]:
    _room_for(connections)
    pinned = pinning_available()
    settings = Settings(
        targets=[], methods=[], concurrency=[1], duration=duration, warmup=0.5,
        repeat=1, max_requests=1_000_000, wrk=False,
    )  # fmt: skip
    runs: dict[str, list[dict[str, Any]]] = {target: [] for target in TARGETS}
    with ExitStack() as stack:
        folder = workdir or Path(stack.enter_context(TemporaryDirectory(prefix="bench-idle-")))
        pki = make_pki(folder / "idle-pki")
        context = client_context(pki.ca_dir, pki.proxy)
        for _ in range(repeat):
            for target in TARGETS:
                log = folder / f"idle-{target}.log"
                with server_process(target, pki, log, pinned) as (pid, port):
                    alone = _ping(port, pid, pki, settings, pinned)
                    rss_alone = _rss_mib(pid)
                    began = time.monotonic()
                    idle = _open_idle(port, context, connections)
                    try:
                        opened_s = time.monotonic() - began
                        time.sleep(1.0)  # the server settles with all of them open
                        crowded = _ping(port, pid, pki, settings, pinned)
                        rss_crowded = _rss_mib(pid)
                        still_open = sum(1 for sock in idle if _still_open(sock))
                    finally:
                        for sock in idle:
                            sock.close()
                runs[target].append(
                    {
                        "alone": alone,
                        "crowded": crowded,
                        "rss_alone_mib": rss_alone,
                        "rss_crowded_mib": rss_crowded,
                        "open_seconds": opened_s,
                        "still_open": still_open,
                    }
                )
    return {
        "connections": connections,
        "repeat": repeat,
        "duration": duration,
        "pinned": pinned,
        "runs": runs,
    }


def _cell(values: list[float], digits: int = 2) -> str:
    return (
        f"{statistics.median(values):.{digits}f} "
        f"({min(values):.{digits}f}-{max(values):.{digits}f})"
    )


def render_idle(result: dict[str, Any]) -> str:
    count = result["connections"]
    lines = [
        "## Idle connections",
        "",
        f"`ping` on one keep-alive connection (c=1, {result['duration']:g} s, "
        f"{result['repeat']} repetition(s), median (min-max)), with no other connection and "
        f"with {count:,} more TLS connections open and idle (full handshake with the client "
        "proxy, then silent). Server on core 0, generator on core 1"
        + ("" if result["pinned"] else " (**not pinned**)")
        + ".",
        "",
        "| target | idle connections | ping req/s | p50 ms | p99 ms | errors | server RSS MiB "
        "| seconds to open them |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    verdicts = []
    for target, reps in result["runs"].items():
        if not reps:
            continue
        for label, key, rss in (("0", "alone", "rss_alone_mib"), (f"{count:,}", "crowded", None)):
            rows = [rep[key] for rep in reps]
            memory = [rep[rss or "rss_crowded_mib"] for rep in reps]
            opened = "-" if key == "alone" else _cell([rep["open_seconds"] for rep in reps], 1)
            lines.append(
                f"| {target} | {label} | {_cell([r['rps'] for r in rows], 0)} "
                f"| {_cell([r['p50_ms'] for r in rows])} | {_cell([r['p99_ms'] for r in rows])} "
                f"| {sum(r['errors'] for r in rows)} | {_cell(memory, 0)} | {opened} |"
            )
        p99 = statistics.median(rep["crowded"]["p99_ms"] for rep in reps)
        kept = min(rep["still_open"] for rep in reps)
        met = p99 < TARGET_P99_MS and kept == count
        verdicts.append(
            f"- {target}: ping p99 {p99:.2f} ms with {count:,} idle connections "
            f"({'met' if met else 'NOT met'}, target < {TARGET_P99_MS:g} ms"
            + ("" if kept == count else f"; only {kept:,} stayed open")
            + ")"
        )
    lines += ["", *verdicts, ""]
    return "\n".join(lines)
