"""``python -m bench --quick`` end to end (real servers, real TLS), plus its small parsers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bench.loadgen import build_request, parse_response, percentile
from bench.pki import make_pki
from bench.runner import METHODS, ROOT, Settings, run_generator, server_process, summarize


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([], 0.99) == 0.0


def test_parse_response_frames_by_content_length() -> None:
    buffer = bytearray(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 4")
    assert parse_response(buffer) == (200, b"ok", 40)
    assert parse_response(bytearray(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok")) is None


def test_request_bytes_carry_the_form_body() -> None:
    request = build_request(8443, "/Framework/Bench", b"method=echo&args=%5B1%5D")
    assert request.startswith(b"POST /Framework/Bench HTTP/1.1\r\nHost: 127.0.0.1:8443\r\n")
    assert request.endswith(b"Content-Length: 24\r\n\r\nmethod=echo&args=%5B1%5D")


@pytest.mark.slow
def test_quick_benchmark_writes_sane_numbers(tmp_path: Path) -> None:
    # Without --output, a quick run writes to a temporary file, never over the committed page.
    raw = tmp_path / "results.json"
    committed = ROOT / "docs" / "benchmarks.md"
    before = committed.read_bytes()
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(raw)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert committed.read_bytes() == before
    (wrote,) = [line for line in completed.stderr.splitlines() if line.startswith("wrote ")]
    output = Path(wrote.removeprefix("wrote "))
    assert output != committed and output.name == "benchmarks.md"
    results = json.loads(raw.read_text())
    assert set(results["runs"]) == {"tornadoservice/echo/1", "tornado/echo/1"}
    for key, reps in results["runs"].items():
        (rep,) = reps
        assert rep["errors"] == 0, (key, rep["error_samples"])
        assert rep["requests"] > 10 and rep["rps"] > 0, key
        assert 0 < rep["p50_ms"] <= rep["p90_ms"] <= rep["p99_ms"] <= rep["max_ms"] < 1000
        assert rep["server_cpu_pct"] > 0 and rep["client_cpu_pct"] > 0
    assert summarize(results["runs"]) == results["summary"]
    report = output.read_text()
    assert "| tornadoservice | echo | 1 |" in report and "| tornado | echo | 1 |" in report
    assert "## tornadoservice / bare Tornado" in report
    output.unlink()
    output.parent.rmdir()


@pytest.mark.slow
@pytest.mark.parametrize(
    "target", ["tornadoservice-tornado", "tornadoservice-observed", "tornado-httptools", "limit"]
)
def test_the_other_targets_answer_correctly(tmp_path: Path, target: str) -> None:
    """Each target serves echo over mutual TLS (the generator checks every first answer)."""
    pki = make_pki(tmp_path / "pki")
    settings = Settings(
        targets=[target], methods=["echo"], concurrency=[2], duration=0.5, warmup=0.1,
        repeat=1, max_requests=200_000, wrk=False,  # the 0.5 s bound it; the limit row is fast
    )  # fmt: skip
    with server_process(target, pki, tmp_path / "server.log", pinned=False) as (pid, port):
        result = run_generator(
            port=port, pki=pki, method=METHODS["echo"], concurrency=2, settings=settings,
            server_pid=pid, pinned=False,
        )  # fmt: skip
    assert result["errors"] == 0, result["error_samples"]
    assert result["requests"] > 10


def test_the_verdict_judges_each_named_case_and_only_those() -> None:
    from bench.report import TARGETS, Target, verdict

    goal = Target("tornado", "bare Tornado", ("echo", "add"), (16, 64), 1.5, 1.0)
    rows = [
        {"method": "echo", "concurrency": 16, "rps_ratio": 1.6, "p99_ratio": 0.9},
        {"method": "echo", "concurrency": 64, "rps_ratio": 1.5, "p99_ratio": 1.0},
        {"method": "echo", "concurrency": 1, "rps_ratio": 0.5, "p99_ratio": 9.0},  # not named
        {"method": "whoami", "concurrency": 16, "rps_ratio": 0.1, "p99_ratio": 9.0},  # not named
    ]
    lines, met = verdict(rows, goal)
    assert met is True and len(lines) == 2
    lines, met = verdict([*rows, {**rows[0], "method": "add", "p99_ratio": 1.01}], goal)
    assert met is False
    assert lines[-1] == (
        "- add at c=16: req/s 1.60x (met, target ≥ 1.5), p99 1.01x (NOT met, target ≤ 1.0)"
    )
    no_p99 = Target("fastapi", "FastAPI", ("echo",), (16,), 1.3)
    lines, met = verdict([{**rows[0], "rps_ratio": 1.29}], no_p99)
    assert met is False and lines == ["- echo at c=16: req/s 1.29x (NOT met, target ≥ 1.3)"]
    assert verdict(rows, Target("x", "x", ("async",), (16,), 1.0)) == ([], None)
    # The targets: 1.5x bare Tornado with its p99, 1.3x FastAPI, c=1 not below bare
    # Tornado, a quarter of the limit for echo.
    assert [(t.other, t.levels, t.min_rps_ratio, t.max_p99_ratio) for t in TARGETS] == [
        ("tornado", (16, 64), 1.5, 1.0),
        ("fastapi", (16, 64), 1.3, None),
        ("tornado", (1,), 1.0, None),
        ("limit", (16, 64), 0.25, None),
    ]
