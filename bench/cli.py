"""``python -m bench``: options, progress on stderr, docs/benchmarks.md (and JSON) at the end."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shlex
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.report import render
from bench.runner import METHODS, ROOT, Settings, run_all
from bench.servers import TARGETS


def _int_list(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of positive integers")
    return values


def _names(choices: tuple[str, ...]) -> type:
    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",") if part.strip()]
        unknown = [name for name in names if name not in choices]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"choose among {', '.join(choices)}")
        return names

    return parse  # type: ignore[return-value]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="tornadoservice against bare Tornado and FastAPI over mutual TLS, "
        "server on core 0 and load generator on core 1; writes docs/benchmarks.md.",
    )
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each run")
    p.add_argument("--repeat", type=int, default=3, help="repetitions of each case")
    p.add_argument("--concurrency", type=_int_list, default=[1, 16, 64], help="e.g. 1,16,64")
    p.add_argument("--targets", type=_names(TARGETS), default=list(TARGETS))
    p.add_argument("--methods", type=_names(tuple(METHODS)), default=list(METHODS))
    p.add_argument("--max-requests", type=int, default=1_000_000, help="cap per run")
    p.add_argument("--no-wrk", action="store_true", help="skip the wrk cross-check")
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny run: tornadoservice and tornado, echo, c=1, 1 s, once (for tests)",
    )
    p.add_argument(
        "--output",
        type=Path,
        help="where to write the page (default docs/benchmarks.md; with --quick, a temporary file, "
        "so a tiny run never replaces the committed figures)",
    )
    p.add_argument("--json", type=Path, help="also write the raw results as JSON")
    p.add_argument("--workdir", type=Path, help="keep the PKI and server logs here")
    p.add_argument(
        "--suites",
        type=_names(SUITES),
        default=list(SUITES),
        help="what to run: rpc (the request table), encoding (JEncode micro-benchmark), "
        "transfer (1 GiB each way), scaling (serve --processes), idle (ping latency with "
        "thousands of idle TLS connections open); default all of them",
    )
    p.add_argument(
        "--idle-connections", type=int, default=2000, help="idle connections of the idle suite"
    )
    p.add_argument("--transfer-mib", type=int, default=1024, help="size of the transfer file")
    p.add_argument(
        "--scaling-processes",
        type=_int_list,
        help="worker counts for the scaling suite (default: 1, 2, 4, 8 as far as half the "
        "cores go, the other half driving the load; 1,2 unpinned on a smaller machine)",
    )
    return p


SUITES = ("rpc", "encoding", "transfer", "scaling", "idle")


def _default_worker_counts() -> list[int]:
    """1, 2, 4, 8 workers as far as half the cores go (the other half drives the load); on a
    machine too small for that, 1 and 2 unpinned."""
    cores = os.cpu_count() or 1
    counts = [n for n in (1, 2, 4, 8) if 2 * n <= cores]
    return counts if len(counts) > 1 else [1, 2]


def run_suites(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """The optional sections after the RPC table, in the order of SUITES."""
    extra: dict[str, dict[str, Any]] = {}
    repeat = max(1, args.repeat)
    if "encoding" in args.suites:
        from bench.encoding import run_encoding

        log("encoding: 10,000 records, DIRAC-style stdlib json against JEncode")
        extra["encoding"] = run_encoding(10_000, max(7, repeat))
    if "transfer" in args.suites:
        from bench.transfer import run_transfer

        log(f"transfer: {args.transfer_mib} MiB each way, tornadoservice against bare Tornado")
        extra["transfer"] = run_transfer(args.transfer_mib, repeat, args.workdir, progress=log)
    if "scaling" in args.suites:
        from bench.scaling import run_scaling

        counts = args.scaling_processes or _default_worker_counts()
        log(f"scaling: serve --processes {','.join(map(str, counts))}")
        extra["scaling"] = run_scaling(
            counts, repeat=repeat, duration=args.duration, warmup=args.warmup
        )
    if "idle" in args.suites:
        from bench.idle import run_idle

        log(f"idle: ping with {args.idle_connections} idle TLS connections open")
        extra["idle"] = run_idle(
            args.idle_connections, repeat, max(args.duration, 3.0), args.workdir
        )
    return extra


def render_suites(extra: dict[str, dict[str, Any]]) -> str:
    sections = []
    for name, result in extra.items():
        module = importlib.import_module(f"bench.{name}")
        sections.append("\n" + getattr(module, f"render_{name}")(result))
    return "".join(sections)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.output is None:
        args.output = (
            Path(tempfile.mkdtemp(prefix="bench-quick-")) / "benchmarks.md"
            if args.quick
            else ROOT / "docs" / "benchmarks.md"
        )
    if args.quick:
        settings = Settings(
            targets=["tornadoservice", "tornado"],
            methods=["echo"],
            concurrency=[1],
            duration=1.0,
            warmup=0.3,
            repeat=1,
            max_requests=20_000,
            wrk=False,
        )
    else:
        settings = Settings(
            targets=args.targets,
            methods=args.methods,
            concurrency=args.concurrency,
            duration=args.duration,
            warmup=args.warmup,
            repeat=max(1, args.repeat),
            max_requests=args.max_requests,
            wrk=not args.no_wrk,
        )
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    suites = ["rpc"] if args.quick else args.suites
    if "rpc" not in suites:
        settings = Settings(
            targets=[], methods=[], concurrency=[], duration=0, warmup=0, repeat=1,
            max_requests=0, wrk=False,
        )  # fmt: skip
    args.suites = suites
    results = run_all(settings, log, args.workdir)
    extra = run_suites(args, log)
    command = "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    page = render(results, command.strip()) if "rpc" in suites else "# Benchmarks\n"
    args.output.write_text(page + render_suites(extra))
    print(f"wrote {args.output}", file=sys.stderr)
    if args.json is not None:
        args.json.write_text(json.dumps({**results.to_json(), **extra}, indent=1))
    return 0
