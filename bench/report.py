"""docs/benchmarks.md from a :class:`~bench.runner.Results`: machine, table, ratios, verdict."""

from __future__ import annotations

import os
import platform
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tornado

from bench.runner import ECHO_PAYLOAD, Results, case_key, summarize

BASELINE, FRAMEWORK, FASTAPI = "tornado", "tornadoservice", "fastapi"
TORNADO_TRANSPORT, LIMIT = "tornadoservice-tornado", "limit"
"""Our server on Tornado's own transport; asyncio + httptools with no framework (the ceiling)."""
BARE_ON_OURS = "tornado-httptools"
"""The bare Tornado handler fed by our transport: what the transport alone changes."""
OBSERVED = "tornadoservice-observed"
"""tornadoservice with metrics on and JSON access logs: its ratio to FRAMEWORK is their cost."""
SATURATED_PCT = 90.0


@dataclass(frozen=True)
class Target:
    """One target of the speed issue: ``ours`` against ``other``, on these cases."""

    other: str
    title: str
    methods: tuple[str, ...]
    levels: tuple[int, ...]
    min_rps_ratio: float
    max_p99_ratio: float | None = None


ALL_METHODS = ("echo", "add", "async", "whoami")
TARGETS = (
    Target(BASELINE, "bare Tornado", ALL_METHODS, (16, 64), 1.5, 1.0),
    Target(FASTAPI, "FastAPI/uvicorn", ALL_METHODS, (16, 64), 1.3),
    Target(BASELINE, "bare Tornado, one connection", ALL_METHODS, (1,), 1.0),
    Target(LIMIT, "the limit (asyncio + httptools, no framework)", ("echo",), (16, 64), 0.25),
)
"""The targets of the speed work: req/s at least ``min_rps_ratio`` of ``other``'s (and a p99 at
most ``max_p99_ratio`` of its), with full authentication, authorization and the access log."""
OBSERVED_TARGET = Target(BASELINE, "bare Tornado", ("echo", "add"), (16, 64), 0.85, 1.3)
"""The earlier target, kept for the observed row (metrics and JSON logs on)."""


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
        if match:
            model = match.group(1).strip()
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "tornado": tornado.version,
        "openssl": ssl.OPENSSL_VERSION,
        "kernel": platform.release(),
    }


def ratios(
    summary: dict[str, dict[str, Any]],
    other: str,
    methods: list[str],
    levels: list[int],
    ours_target: str = FRAMEWORK,
) -> list[dict[str, Any]]:
    """``ours_target`` / ``other`` per case: median req/s ratio and median p99 ratio."""
    rows = []
    for method in methods:
        for concurrency in levels:
            ours = summary.get(case_key(ours_target, method, concurrency))
            theirs = summary.get(case_key(other, method, concurrency))
            if (
                not ours
                or not theirs
                or not theirs["rps"]["median"]
                or not theirs["p99_ms"]["median"]
            ):
                continue
            rows.append(
                {
                    "method": method,
                    "concurrency": concurrency,
                    "rps_ratio": ours["rps"]["median"] / theirs["rps"]["median"],
                    "p99_ratio": ours["p99_ms"]["median"] / theirs["p99_ms"]["median"],
                }
            )
    return rows


def _cell(stats: dict[str, float], digits: int = 0) -> str:
    return f"{stats['median']:.{digits}f} ({stats['min']:.{digits}f}-{stats['max']:.{digits}f})"


def verdict(rows: list[dict[str, Any]], target: Target) -> tuple[list[str], bool | None]:
    """One line per judged case of ``rows`` (ratios against ``target.other``), and whether all
    were met (``None``: no case of the target was in the run)."""
    lines = []
    met_all: bool | None = None
    for row in rows:
        if row["method"] not in target.methods or row["concurrency"] not in target.levels:
            continue
        rps_ok = row["rps_ratio"] >= target.min_rps_ratio
        text = (
            f"- {row['method']} at c={row['concurrency']}: req/s {row['rps_ratio']:.2f}x "
            f"({'met' if rps_ok else 'NOT met'}, target ≥ {target.min_rps_ratio})"
        )
        p99_ok = True
        if target.max_p99_ratio is not None:
            p99_ok = row["p99_ratio"] <= target.max_p99_ratio
            text += (
                f", p99 {row['p99_ratio']:.2f}x ({'met' if p99_ok else 'NOT met'}, "
                f"target ≤ {target.max_p99_ratio})"
            )
        met_all = (met_all is not False) and rps_ok and p99_ok
        lines.append(text)
    return lines, met_all


def render(results: Results, command: str) -> str:
    settings = results.settings
    summary = summarize(results.runs)
    info = machine()
    methods = list(settings.methods)
    levels = list(settings.concurrency)
    out = [
        "# Benchmarks",
        "",
        f"Written by `{command}` on {results.started} ({results.wall_seconds:.0f} s). "
        "Run it again to refresh this page; see `python -m bench --help` for the options.",
        "",
        "## Machine",
        "",
        f"- CPUs: {info['nproc']}, {info['cpu']}",
        f"- Python {info['python']}, Tornado {info['tornado']}, {info['openssl']}, "
        f"Linux {info['kernel']}",
        "",
        "## Method",
        "",
        f"- Each server is its own process pinned to core 0, the load generator to core 1 "
        f"({'with `taskset`' if results.pinned else '**not pinned**: no taskset or one core'}).",
        "- HTTPS/1.1 keep-alive connections presenting a client RFC 3820 proxy certificate "
        "(`/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser`, group `dirac_user`), loopback only. Closed "
        "loop: each connection sends its next request when the previous answer has arrived.",
        f"- {settings.warmup:g} s warm-up, then {settings.duration:g} s measured (at most "
        f"{settings.max_requests} requests), {settings.repeat} repetition(s) per case, "
        "interleaved across targets. Cells show the median and (min-max) over the repetitions.",
        "- Request: `POST /Framework/Bench` with form fields `method` and `args` (JSON), as "
        f"DIRAC clients send them. echo sends one {len(ECHO_PAYLOAD)}-character string; "
        "add and async send `[20, 22]`; whoami sends no argument.",
        "- **tornadoservice**: built-in `echo` and `whoami`, a user-written sync `add(a, b)` "
        "(run in the thread pool), an async `asyncAdd(a, b)` (on the IOLoop), served as "
        "`tornadoservice serve` serves by default (the asyncio + `httptools` transport); full "
        "pipeline: "
        "X.509 proxy authentication against the registry, authorization, JEncode, and the "
        "access log at its default level (INFO) **to a file** (one line per request, "
        f"`{Path(results.server_log).name}` in the run's work directory, a temporary one "
        "removed afterwards unless `--workdir` is given), with the logging setup of "
        "`tornadoservice serve` (lines written in batches, at most 0.5 s late; warnings at once) "
        "and, as it does, the start-up heap frozen out of the garbage collector's walks "
        "(`gc.freeze`) once the server listens, on the event loop `serve` makes, which polls "
        "up to 100 µs for the next event before it sleeps (`IdleSpinMicroseconds`; the "
        "baselines run their stock loops).",
        "- **tornadoservice-observed**: the same service with Prometheus metrics on (every "
        "request recorded, gauges sampled each second; never scraped during the run) and the "
        "access log written as JSON lines: its ratio to tornadoservice is their cost.",
        "- **tornadoservice-tornado**: the same service and pipeline on Tornado's own "
        "transport (`/Systems/Tornado/HTTPImplementation = tornado`).",
        "- **tornado-httptools**: the bare Tornado handler below, in the same `Application`, "
        "fed by tornadoservice's asyncio + `httptools` transport instead of Tornado's: what the "
        "transport alone changes.",
        "- **limit**: an asyncio `Protocol` with the `httptools` parser and the stdlib TLS, no "
        "framework, doing the baselines' work (`bench/limit_server.py`): the ceiling.",
        "- **tornado** (the baseline): a bare `RequestHandler` doing the least equivalent work: "
        "parse the form, `json.loads` the args, `json.dumps` the result. No access log.",
        "- **fastapi**: FastAPI on uvicorn (default loop and HTTP parser, uvloop/httptools when "
        "installed), `Form()` fields, `JSONResponse`. No access log. Its whoami does not read "
        "the certificate (uvicorn does not expose it to the application).",
        "- Same TLS for all: tornadoservice's server context (TLS ≥ 1.2, same CA directory "
        "with CRL checking of the whole chain, `VERIFY_ALLOW_PROXY_CERTS`, no tickets); the "
        "baselines set `CERT_REQUIRED`, tornadoservice keeps `CERT_OPTIONAL` (tokens share the "
        "port) and authenticates the certificate itself.",
        "- Server CPU is utime+stime of the server process from `/proc/<pid>/stat` over the "
        "measured window (100% = one core). Generator CPU is the load generator's own; near "
        f"100% (≥ {SATURATED_PCT:.0f}%) means the generator, not the server, may be the limit.",
        "- The machine is shared (other developers run test suites on it): expect noise; "
        "compare ratios measured in the same run, not absolute numbers across runs.",
        "",
    ]
    if results.unavailable:
        out += [f"- Not run: {t} — {why}" for t, why in results.unavailable.items()] + [""]
    out += [
        "## Results",
        "",
        "| target | method | c | req/s | p50 ms | p90 ms | p99 ms | errors | server CPU % "
        "| generator CPU % |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method in methods:
        for concurrency in levels:
            for target in settings.targets:
                entry = summary.get(case_key(target, method, concurrency))
                if entry is None:
                    continue
                out.append(
                    f"| {target} | {method} | {concurrency} | {_cell(entry['rps'])} "
                    f"| {_cell(entry['p50_ms'], 2)} | {_cell(entry['p90_ms'], 2)} "
                    f"| {_cell(entry['p99_ms'], 2)} | {entry['errors']} "
                    f"| {_cell(entry['server_cpu_pct'])} | {_cell(entry['client_cpu_pct'])} |"
                )
    saturated = [
        key for key, entry in summary.items() if entry["client_cpu_pct"]["median"] >= SATURATED_PCT
    ]
    out.append("")
    if saturated:
        out.append(
            f"Generator at ≥ {SATURATED_PCT:.0f}% CPU (it may be the bottleneck) in: "
            + ", ".join(saturated)
            + "."
        )
    else:
        out.append(f"The load generator stayed below {SATURATED_PCT:.0f}% CPU in every case.")
    out.append("")
    pairs = [
        (ours, other, title)
        for ours in (FRAMEWORK, TORNADO_TRANSPORT)
        for other, title in ((BASELINE, "bare Tornado"), (FASTAPI, "FastAPI"), (LIMIT, "limit"))
    ]
    pairs += [
        (FRAMEWORK, TORNADO_TRANSPORT, "tornadoservice on Tornado's transport"),
        (BARE_ON_OURS, BASELINE, "bare Tornado (the transport alone)"),
        (OBSERVED, FRAMEWORK, "tornadoservice (the cost of metrics and JSON logs)"),
        (OBSERVED, BASELINE, "bare Tornado"),
    ]
    for ours_target, other, title in pairs:
        rows = ratios(summary, other, methods, levels, ours_target)
        if not rows:
            continue
        out += [
            f"## {ours_target} / {title}",
            "",
            "Medians of the same run; req/s ratio above 1 and p99 ratio below 1 favour "
            "tornadoservice.",
            "",
            "| method | c | req/s ratio | p99 ratio |",
            "|---|---:|---:|---:|",
        ]
        out += [
            f"| {r['method']} | {r['concurrency']} | {r['rps_ratio']:.2f} | {r['p99_ratio']:.2f} |"
            for r in rows
        ]
        out.append("")
    out += ["## Targets", ""]
    out.append(
        "tornadoservice (default transport, full authentication, authorization and the access "
        "log) against each other target, medians of the same run:"
    )
    out.append("")
    judged = False
    for goal in TARGETS:
        lines, met = verdict(ratios(summary, goal.other, methods, levels), goal)
        if met is None:
            continue
        judged = True
        out += [
            f"**Against {goal.title}:** " + ("all met." if met else "NOT all met."),
            "",
            *lines,
            "",
        ]
    if not judged:
        out += ["Not judged: the run has none of the cases the targets name.", ""]
    observed_lines, observed_met = verdict(
        ratios(summary, BASELINE, methods, levels, ours_target=OBSERVED), OBSERVED_TARGET
    )
    if observed_met is not None:
        out += [
            "With metrics and JSON logs on (tornadoservice-observed against bare Tornado, the "
            f"earlier target of ≥ {OBSERVED_TARGET.min_rps_ratio}x req/s and ≤ "
            f"{OBSERVED_TARGET.max_p99_ratio}x p99): "
            + ("**all met in this run.**" if observed_met else "**not all met in this run:**"),
            "",
            *observed_lines,
        ]
    out.append("")
    if results.wrk_check is not None:
        check = results.wrk_check
        ours, wrk = check["generator"], check["wrk"]

        def ms(value: float | None) -> str:
            return "?" if value is None else f"{value:.2f}"

        out += [
            "## Cross-check with wrk",
            "",
            f"{check['case']} (wrk cannot send a client certificate), one run each, wrk pinned "
            "to the same core:",
            "",
            "| generator | req/s | p50 ms | p90 ms | p99 ms | errors |",
            "|---|---:|---:|---:|---:|---:|",
            f"| bench.loadgen | {ours['rps']:.0f} | {ms(ours['p50_ms'])} | {ms(ours['p90_ms'])} "
            f"| {ms(ours['p99_ms'])} | {ours['errors']} |",
            f"| wrk {wrk['seconds']} s | {wrk['rps']:.0f} | {ms(wrk['p50_ms'])} "
            f"| {ms(wrk['p90_ms'])} | {ms(wrk['p99_ms'])} "
            f"| {wrk['non_2xx']} non-2xx {wrk['socket_errors']} |",
            "",
        ]
    elif "tornadoservice" in settings.targets and settings.wrk:
        out += ["wrk is not installed: no cross-check (`apt-get install wrk`).", ""]
    return "\n".join(out)
