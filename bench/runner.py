"""Start the servers and the load generator as pinned processes, run every case, gather numbers.

Layout: every server is its own process on core 0 (``taskset -c 0``), the load generator (and
wrk) on core 1. Repetitions are interleaved (repetition 1 of every case, then repetition 2...),
so that a burst of noise from other work on the machine spreads over all targets instead of
landing on one. Every process started here is stopped by its PID.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.pki import BenchPKI, make_pki
from bench.procs import announced_server

ROOT = Path(__file__).resolve().parent.parent
SERVER_CORE, CLIENT_CORE = "0", "1"
ECHO_PAYLOAD = "tornadoservice benchmark payload"


@dataclass(frozen=True)
class Method:
    name: str  # the RPC method
    args: list[Any]
    expect: Any  # the Value every connection's first answer must carry (None: not checked)

    @property
    def body(self) -> str:
        return urlencode({"method": self.name, "args": json.dumps(self.args)})


METHODS: dict[str, Method] = {
    "echo": Method("echo", [ECHO_PAYLOAD], ECHO_PAYLOAD),
    "add": Method("add", [20, 22], 42),
    "async": Method("asyncAdd", [20, 22], 42),
    "whoami": Method("whoami", [], None),
}
ANONYMOUS_ECHO = Method("anonEcho", [ECHO_PAYLOAD], ECHO_PAYLOAD)
"""For the wrk cross-check: wrk cannot present a client certificate."""


@dataclass(frozen=True)
class Settings:
    targets: Sequence[str]
    methods: Sequence[str]
    concurrency: Sequence[int]
    duration: float
    warmup: float
    repeat: int
    max_requests: int
    wrk: bool = True


@dataclass
class Results:
    settings: Settings
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """``target/method/c`` -> one load-generator result per repetition."""
    unavailable: dict[str, str] = field(default_factory=dict)
    wrk_check: dict[str, Any] | None = None
    server_log: str = ""
    pinned: bool = False
    started: str = ""
    wall_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "settings": self.settings.__dict__ | {"targets": list(self.settings.targets)},
            "runs": self.runs,
            "summary": summarize(self.runs),
            "unavailable": self.unavailable,
            "wrk_check": self.wrk_check,
            "server_log": self.server_log,
            "pinned": self.pinned,
            "started": self.started,
            "wall_seconds": self.wall_seconds,
        }


def case_key(target: str, method: str, concurrency: int) -> str:
    return f"{target}/{method}/{concurrency}"


def spread(values: Sequence[float]) -> dict[str, float]:
    return {
        "min": min(values),
        "median": statistics.median(values),
        "max": max(values),
    }


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per case: min/median/max of each metric over the repetitions, and the total errors."""
    summary: dict[str, dict[str, Any]] = {}
    for key, reps in runs.items():
        if not reps:
            continue
        entry: dict[str, Any] = {
            metric: spread([rep[metric] for rep in reps])
            for metric in ("rps", "p50_ms", "p90_ms", "p99_ms", "server_cpu_pct", "client_cpu_pct")
        }
        entry["errors"] = sum(rep["errors"] for rep in reps)
        entry["repetitions"] = len(reps)
        summary[key] = entry
    return summary


def pinning_available() -> bool:
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def _pin(core: str, command: list[str], pinned: bool) -> list[str]:
    return ["taskset", "-c", core, *command] if pinned else command


def target_available(target: str) -> str | None:
    """None if the target can run here, else why not."""
    if target == "fastapi":
        missing = [name for name in ("fastapi", "uvicorn", "multipart") if find_spec(name) is None]
        if missing:
            return "not installed (pip install -e '.[bench]')"
    return None


@contextmanager
def server_process(
    target: str, pki: BenchPKI, log_file: Path, pinned: bool
) -> Iterator[tuple[int, int]]:
    """Start one server, wait for its port, yield ``(pid, port)``, stop it by its PID."""
    command = _pin(
        SERVER_CORE,
        [
            sys.executable,
            "-m",
            "bench.servers",
            target,
            "--pki",
            str(pki.folder),
            "--log",
            str(log_file),
        ],
        pinned,
    )
    with announced_server(command, ROOT, f"{target} server (see {log_file})") as server:
        yield server


def run_generator(
    *,
    port: int,
    pki: BenchPKI,
    method: Method,
    concurrency: int,
    settings: Settings,
    server_pid: int,
    pinned: bool,
    anonymous: bool = False,
) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "bench.loadgen",
        "--port", str(port),
        "--body", method.body,
        "--ca-dir", str(pki.ca_dir),
        "--concurrency", str(concurrency),
        "--warmup", str(settings.warmup),
        "--duration", str(settings.duration),
        "--max-requests", str(settings.max_requests),
        "--server-pid", str(server_pid),
    ]  # fmt: skip
    if not anonymous:
        command += ["--cert", str(pki.proxy)]
    if method.expect is not None:
        command += ["--expect", json.dumps(method.expect)]
    completed = subprocess.run(
        _pin(CLIENT_CORE, command, pinned),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=settings.warmup + settings.duration + 60,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"load generator failed: {completed.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk_ms(text: str, label: str) -> float | None:
    match = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    return float(match.group(1)) * _WRK_UNITS[match.group(2)] if match else None


def run_wrk(
    port: int, method: Method, concurrency: int, settings: Settings, pinned: bool, workdir: Path
) -> dict[str, Any]:
    """wrk on the same case, anonymously (wrk cannot present a client certificate)."""
    script = workdir / "wrk-post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(method.body)}\n"
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
    )
    seconds = max(1, round(settings.duration))
    command = [
        "wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--latency", "-s", str(script),
        f"https://127.0.0.1:{port}/Framework/Bench",
    ]  # fmt: skip
    completed = subprocess.run(
        _pin(CLIENT_CORE, command, pinned),
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=False,
    )
    text = completed.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    socket_errors = re.search(r"Socket errors: (.*)", text)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": _wrk_ms(text, "50%"),
        "p90_ms": _wrk_ms(text, "90%"),
        "p99_ms": _wrk_ms(text, "99%"),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
        "returncode": completed.returncode,
        "seconds": seconds,
    }


def run_all(
    settings: Settings, progress: Callable[[str], None], workdir: Path | None = None
) -> Results:
    results = Results(settings, pinned=pinning_available())
    results.started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    began = time.monotonic()
    with ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        pki = make_pki(workdir / "pki")
        servers: dict[str, tuple[int, int]] = {}
        for target in settings.targets:
            problem = target_available(target)
            if problem is not None:
                results.unavailable[target] = problem
                progress(f"{target}: {problem}")
                continue
            log_file = workdir / f"{target}.log"
            servers[target] = stack.enter_context(
                server_process(target, pki, log_file, results.pinned)
            )
        results.server_log = str(workdir / "tornadoservice.log")
        for repetition in range(1, settings.repeat + 1):
            for method_name in settings.methods:
                for concurrency in settings.concurrency:
                    for target, (pid, port) in servers.items():
                        result = run_generator(
                            port=port,
                            pki=pki,
                            method=METHODS[method_name],
                            concurrency=concurrency,
                            settings=settings,
                            server_pid=pid,
                            pinned=results.pinned,
                        )
                        key = case_key(target, method_name, concurrency)
                        results.runs.setdefault(key, []).append(result)
                        progress(
                            f"[{repetition}/{settings.repeat}] {key}: {result['rps']:.0f} req/s, "
                            f"p99 {result['p99_ms']:.2f} ms, {result['errors']} errors, "
                            f"server CPU {result['server_cpu_pct']:.0f}%, "
                            f"generator CPU {result['client_cpu_pct']:.0f}%"
                        )
        if settings.wrk and shutil.which("wrk") and "tornadoservice" in servers:
            results.wrk_check = wrk_cross_check(
                servers["tornadoservice"], pki, settings, results, workdir
            )
            ours, wrk = results.wrk_check["generator"], results.wrk_check["wrk"]
            progress(
                f"wrk cross-check ({results.wrk_check['case']}): bench.loadgen "
                f"{ours['rps']:.0f} req/s, wrk {wrk['rps']:.0f} req/s"
            )
    results.wall_seconds = time.monotonic() - began
    return results


def wrk_cross_check(
    server: tuple[int, int], pki: BenchPKI, settings: Settings, results: Results, workdir: Path
) -> dict[str, Any]:
    """One anonymous case (tornadoservice anonEcho, c=16) through our generator, then wrk."""
    pid, port = server
    concurrency = 16
    ours = run_generator(
        port=port,
        pki=pki,
        method=ANONYMOUS_ECHO,
        concurrency=concurrency,
        settings=settings,
        server_pid=pid,
        pinned=results.pinned,
        anonymous=True,
    )
    wrk = run_wrk(port, ANONYMOUS_ECHO, concurrency, settings, results.pinned, workdir)
    return {
        "case": "tornadoservice anonEcho (echo for a VISITOR), c=16, no client certificate",
        "generator": ours,
        "wrk": wrk,
    }
