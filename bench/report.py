"""docs/benchmarks.md from a :class:`~bench.runner.Results`: machine, table, ratios, verdict."""

from __future__ import annotations

import os
import platform
import re
import ssl
from pathlib import Path
from typing import Any

import tornado

from bench.runner import ECHO_PAYLOAD, Results, case_key, summarize

BASELINE, FRAMEWORK, FASTAPI = "tornado", "tornadoservice", "fastapi"
HTTPTOOLS, LIMIT = "tornadoservice-httptools", "limit"
OBSERVED = "tornadoservice-observed"
"""tornadoservice with metrics on and JSON access logs: its ratio to FRAMEWORK is their cost."""
"""Our server on the asyncio + httptools transport; asyncio + httptools with no framework."""
TARGET_RPS_RATIO, TARGET_P99_RATIO = 0.85, 1.3
JUDGED_METHODS, JUDGED_CONCURRENCY = ("echo", "add"), (16, 64)
SATURATED_PCT = 90.0


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


def verdict(rows: list[dict[str, Any]]) -> tuple[list[str], bool | None]:
    lines = []
    met_all: bool | None = None
    for row in rows:
        if row["method"] not in JUDGED_METHODS or row["concurrency"] not in JUDGED_CONCURRENCY:
            continue
        rps_ok = row["rps_ratio"] >= TARGET_RPS_RATIO
        p99_ok = row["p99_ratio"] <= TARGET_P99_RATIO
        met_all = (met_all is not False) and rps_ok and p99_ok
        lines.append(
            f"- {row['method']} at c={row['concurrency']}: req/s {row['rps_ratio']:.2f}x baseline "
            f"({'met' if rps_ok else 'NOT met'}, target ≥ {TARGET_RPS_RATIO}), p99 "
            f"{row['p99_ratio']:.2f}x baseline ({'met' if p99_ok else 'NOT met'}, "
            f"target ≤ {TARGET_P99_RATIO})"
        )
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
        "(run in the thread pool), an async `asyncAdd(a, b)` (on the IOLoop); full pipeline: "
        "X.509 proxy authentication against the registry, authorization, JEncode, and the "
        "access log at its default level (INFO) **to a file** (one line per request, "
        f"`{Path(results.server_log).name}` in the run's work directory, a temporary one "
        "removed afterwards unless `--workdir` is given), with the logging setup of "
        "`tornadoservice serve` (lines written in batches, at most 0.5 s late; warnings at once).",
        "- **tornadoservice-observed**: the same service with Prometheus metrics on (every "
        "request recorded, gauges sampled each second; never scraped during the run) and the "
        "access log written as JSON lines: its ratio to tornadoservice is their cost.",
        "- **tornadoservice-httptools**: the same service and pipeline on the asyncio + "
        "`httptools` transport (`/Systems/Tornado/HTTPImplementation = httptools`).",
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
        for ours in (FRAMEWORK, HTTPTOOLS)
        for other, title in ((BASELINE, "bare Tornado"), (FASTAPI, "FastAPI"), (LIMIT, "limit"))
    ]
    pairs += [
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
    lines, met = verdict(ratios(summary, BASELINE, methods, levels))
    if met is None:
        out.append(
            "Not judged: the run did not include tornadoservice and the bare Tornado baseline "
            "for echo or add at c=16 or 64."
        )
    else:
        out.append(
            f"Target: at least {TARGET_RPS_RATIO} of the baseline's req/s and a p99 at most "
            f"{TARGET_P99_RATIO}x the baseline's, for echo and add at c=16 and 64. "
            + ("**All met in this run.**" if met else "**Not all met in this run:**")
        )
        out.append("")
        out += lines
    observed_lines, observed_met = verdict(
        ratios(summary, BASELINE, methods, levels, ours_target=OBSERVED)
    )
    if observed_met is not None:
        out += [
            "",
            "With metrics and JSON logs on (tornadoservice-observed against the same baseline): "
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
