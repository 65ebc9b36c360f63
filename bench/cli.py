"""``python -m bench``: options, progress on stderr, docs/benchmarks.md (and JSON) at the end."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

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
    p.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    p.add_argument("--json", type=Path, help="also write the raw results as JSON")
    p.add_argument("--workdir", type=Path, help="keep the PKI and server logs here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
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
    results = run_all(settings, lambda line: print(line, file=sys.stderr, flush=True), args.workdir)
    command = "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(results, command.strip()))
    print(f"wrote {args.output}", file=sys.stderr)
    if args.json is not None:
        args.json.write_text(json.dumps(results.to_json(), indent=1))
    return 0
