"""``tornadoservice serve --processes N`` against one process: ``python -m bench.scaling``.

A real ``serve`` process (the CLI, with its default logging: access log at INFO) serves the
benchmark service from a configuration file, with N worker processes sharing the listening
socket. Several load-generator processes (``bench.loadgen``, closed loop, keep-alive HTTPS with
the client proxy) drive it at once; their requests per second are added up.

Placement: with enough cores the server (the supervisor and its workers inherit the mask) gets
cores ``0..N-1`` and the generators the cores after them (``taskset``). Where the machine has too
few cores for that, nothing is pinned and the report says so: the generators then compete with
the workers for the same cores, and the ratio is a lower bound of what N workers can do.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.loadgen import process_cpu_seconds
from bench.pki import BenchPKI, make_pki, service_config
from bench.procs import stop_process
from bench.runner import METHODS, ROOT

HANDLER_PATH = "bench.servers:BenchHandler"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return found


def _cpu_seconds(pids: Sequence[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):  # a worker that went away
            total += process_cpu_seconds(pid)
    return total


def _wait_until_serving(port: int, pki: BenchPKI, process: subprocess.Popen[bytes]) -> None:
    context = ssl.create_default_context(capath=str(pki.ca_dir))
    context.load_cert_chain(pki.proxy)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tornadoservice serve exited with code {process.returncode}")
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
                context.wrap_socket(raw, server_hostname="localhost"),
            ):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("tornadoservice serve did not start listening within 60 s")


@contextmanager
def serve(
    processes: int, pki: BenchPKI, workdir: Path, cores: str | None
) -> Iterator[tuple[int, int]]:
    """Run ``tornadoservice serve --processes N``; yield ``(pid, port)``; stop it by its PID."""
    config = service_config(pki)
    config["Systems"]["Framework"]["Services"]["Bench"]["HandlerPath"] = HANDLER_PATH
    config_file = workdir / f"scaling-{processes}.yaml"
    config_file.write_text(json.dumps(config))  # JSON is YAML
    port = _free_port()
    command = [
        str(Path(sys.executable).with_name("tornadoservice")),
        "serve",
        "--config", str(config_file),
        "--port", str(port),
        "--host", "127.0.0.1",
        "--processes", str(processes),
    ]  # fmt: skip
    if cores is not None:
        command = ["taskset", "-c", cores, *command]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(workdir / f"serve-{processes}.log", "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log, env=env)
        try:
            _wait_until_serving(port, pki, process)
            yield process.pid, port
        finally:
            stop_process(process)


def _generators(
    port: int,
    pki: BenchPKI,
    count: int,
    concurrency: int,
    warmup: float,
    duration: float,
    cores: str | None,
) -> list[dict[str, Any]]:
    method = METHODS["echo"]
    per = max(1, concurrency // count)
    command = [
        sys.executable, "-m", "bench.loadgen",
        "--port", str(port),
        "--body", method.body,
        "--ca-dir", str(pki.ca_dir),
        "--cert", str(pki.proxy),
        "--concurrency", str(per),
        "--warmup", str(warmup),
        "--duration", str(duration),
        "--max-requests", "2000000",
        "--expect", json.dumps(method.expect),
    ]  # fmt: skip
    if cores is not None:
        command = ["taskset", "-c", cores, *command]
    running = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(count)
    ]
    results = []
    for process in running:
        out, err = process.communicate(timeout=warmup + duration + 120)
        if process.returncode != 0:
            raise RuntimeError(f"load generator failed: {err.decode()[-2000:]}")
        results.append(json.loads(out))
    return results


def placement(processes: int, generators: int) -> tuple[str | None, str | None]:
    """``taskset`` core lists for the server and the generators, or ``(None, None)``."""
    cores = os.cpu_count() or 1
    if shutil.which("taskset") is None or processes + generators > cores:
        return None, None
    server = f"0-{processes - 1}" if processes > 1 else "0"
    first = processes
    last = min(cores - 1, processes + generators - 1)
    return server, f"{first}-{last}" if last > first else str(first)


def run_scaling(
    processes: Sequence[int] = (1, 2),
    *,
    repeat: int = 3,
    duration: float = 5.0,
    warmup: float = 1.0,
    concurrency_per_process: int = 32,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Requests/s of ``echo`` for each worker count, ``repeat`` times, interleaved."""
    with tempfile.TemporaryDirectory(prefix="tornadoservice-scaling-") as scratch:
        folder = workdir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        pki = make_pki(folder / "pki")
        runs: dict[str, list[dict[str, Any]]] = {str(n): [] for n in processes}
        placements: dict[str, Any] = {}
        for _ in range(repeat):
            for count in processes:
                generators = max(1, (count + 1) // 2)
                server_cores, generator_cores = placement(count, generators)
                placements[str(count)] = {
                    "server": server_cores,
                    "generators": generator_cores,
                    "generator_processes": generators,
                }
                with serve(count, pki, folder, server_cores) as (pid, port):
                    workers = _children(pid)
                    before = _cpu_seconds([pid, *workers])
                    started = time.monotonic()
                    results = _generators(
                        port,
                        pki,
                        generators,
                        concurrency_per_process * count,
                        warmup,
                        duration,
                        generator_cores,
                    )
                    elapsed = time.monotonic() - started
                    cpu = _cpu_seconds([pid, *workers]) - before
                runs[str(count)].append(
                    {
                        # --processes 1 serves from the process itself, with no worker.
                        "workers": len(workers) if count > 1 else 1,
                        "rps": sum(r["rps"] for r in results),
                        "errors": sum(r["errors"] for r in results),
                        "p99_ms": max(r["p99_ms"] for r in results),
                        # Over warm-up and measurement together: cores busy, on average.
                        "server_cores_busy": cpu / elapsed,
                        "generator_cpu_pct": sum(r["client_cpu_pct"] for r in results),
                    }
                )
    return {
        "processes": list(processes),
        "repeat": repeat,
        "duration": duration,
        "concurrency_per_process": concurrency_per_process,
        "cpus": os.cpu_count(),
        "placements": placements,
        "runs": runs,
    }


def _cell(values: Sequence[float], digits: int = 0) -> str:
    return (
        f"{statistics.median(values):.{digits}f} "
        f"({min(values):.{digits}f}-{max(values):.{digits}f})"
    )


def render_scaling(result: dict[str, Any]) -> str:
    runs = result["runs"]
    base = statistics.median(r["rps"] for r in runs[str(result["processes"][0])])
    lines = [
        "## Several processes",
        "",
        f"`tornadoservice serve --processes N` (the CLI, access log at INFO), built-in `echo`, "
        f"{result['concurrency_per_process']} keep-alive connections per worker spread over "
        f"several load-generator processes, {result['duration']:g} s measured, "
        f"{result['repeat']} repetition(s); median (min-max). Machine: {result['cpus']} CPUs.",
        "",
        "| processes | req/s | vs 1 process | p99 ms (worst generator) | errors "
        "| server cores busy | generators' CPU % | placement |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for count in result["processes"]:
        reps = runs[str(count)]
        rps = [r["rps"] for r in reps]
        where = result["placements"][str(count)]
        placed = (
            f"server cores {where['server']}, generators {where['generators']}"
            if where["server"] is not None
            else "not pinned (too few cores)"
        )
        lines.append(
            f"| {count} | {_cell(rps)} | {statistics.median(rps) / base:.2f}x "
            f"| {_cell([r['p99_ms'] for r in reps], 1)} | {sum(r['errors'] for r in reps)} "
            f"| {_cell([r['server_cores_busy'] for r in reps], 2)} "
            f"| {_cell([r['generator_cpu_pct'] for r in reps])} | {placed} |"
        )
    lines.append("")
    top = max(result["processes"])
    if top >= 8:
        ratio = statistics.median(r["rps"] for r in runs[str(top)]) / base
        verdict = "met" if ratio >= 6 else "NOT met"
        lines.append(f"Target: 8 workers at least 6x one worker: {verdict} ({ratio:.2f}x).")
    else:
        lines.append(
            f"Target (8 workers at least 6x one worker): **not measured**. This machine has "
            f"{result['cpus']} CPUs, so at most {top} worker(s) could be run, and the load "
            "generators share those cores; the figures above show that adding workers adds "
            "throughput, not what 8 workers do on 8 free cores."
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling")
    parser.add_argument("--processes", default="1,2", help="worker counts, e.g. 1,2,4,8")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--workdir", type=Path)
    options = parser.parse_args(argv)
    counts = [int(part) for part in options.processes.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        parser.error("--processes: positive integers, e.g. 1,2,4,8")
    result = run_scaling(
        counts,
        repeat=max(1, options.repeat),
        duration=options.duration,
        warmup=options.warmup,
        workdir=options.workdir,
    )
    if options.json:
        options.json.write_text(json.dumps(result, indent=1))
    sys.stdout.write(render_scaling(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
