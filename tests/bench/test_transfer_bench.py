"""``python -m bench.transfer`` at small scale (real servers, real TLS), plus its verdict logic."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bench.runner import ROOT
from bench.transfer import (
    CASES,
    JUDGED,
    MIB,
    RSS_GROWTH_LIMIT_MIB,
    TARGET_RATIO,
    ratios,
    render_transfer,
    rss_growth,
    summarize,
)

SIZE_MIB = 8


@pytest.mark.slow
def test_small_transfer_benchmark_moves_every_file_intact(tmp_path: Path) -> None:
    raw, workdir = tmp_path / "transfer.json", tmp_path / "work"
    command = [sys.executable, "-m", "bench.transfer", "--size-mib", str(SIZE_MIB)]
    command += ["--repeat", "1", "--json", str(raw), "--workdir", str(workdir)]
    completed = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(raw.read_text())
    assert result["source"]["bytes"] == SIZE_MIB * MIB
    assert set(result["runs"]) == {case.key for case in CASES}
    assert len(result["warmup"]) == len(CASES)
    for rep in [*result["warmup"], *(rep for reps in result["runs"].values() for rep in reps)]:
        assert rep["ok"], (rep["case"], rep["error"])
        assert rep["received_bytes"] == SIZE_MIB * MIB and rep["sha256_ok"], rep["case"]
        assert rep["seconds"] > 0 and rep["mib_s"] > 0
        for side in ("server", "client"):
            # Peak over the transfer, reset just before it: never below the RSS measured then.
            assert 10 < rep[f"{side}_rss_before_mib"] <= rep[f"{side}_peak_rss_mib"] < 1024
            # CPU ticks are 10 ms: a short transfer may show 0, never a negative number.
            assert rep[f"{side}_cpu_pct"] >= 0
        assert rep["peak_reset"]
    for reps in result["runs"].values():
        assert len(reps) == 1 and reps[0]["repetition"] == 1
    assert result["summary"] == summarize(result["runs"])
    assert set(result["ratios"]) == set(JUDGED)
    assert all(ratio["ratio_of_medians"] > 0 for ratio in result["ratios"].values())

    report = completed.stdout
    assert report.startswith("## Transfers\n") and report == render_transfer(result) + "\n"
    assert "| tornadoservice | download | `receiveFile(path, fileId)` |" in report
    assert "| tornado | upload | PUT from an open file |" in report
    assert "all OK" in report and "FAILED" not in report
    # The received copies are deleted after their check; the framework logged every call.
    assert not any((workdir / "client").iterdir())
    assert not any((workdir / "data" / "uploads").iterdir())
    access_log = (workdir / "logs" / "tornadoservice.log").read_text()
    assert access_log.count("Framework/Files streamFromClient 200") == 2  # warm-up + 1
    assert access_log.count("Framework/Files streamToClient 200") == 4


def _rep(mib_s: float, ok: bool = True) -> dict[str, Any]:
    return {
        "ok": ok,
        "sha256_ok": ok,
        "mib_s": mib_s,
        "seconds": 1024 / mib_s,
        "server_cpu_pct": 90.0,
        "client_cpu_pct": 50.0,
        "server_rss_before_mib": 50.0,
        "server_peak_rss_mib": 55.0,
        "client_rss_before_mib": 30.0,
        "client_peak_rss_mib": 32.0,
        "peak_reset": True,
    }


def _result(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "settings": {
            "size_mib": 1024,
            "repeat": 3,
            "baseline_read": 256 * 1024,
            "client_read": 64 * 1024,
        },
        "machine": {"nproc": "2", "cpu": "cpu", "python": "3", "tornado": "6", "openssl": "x"},
        "pinned": True,
        "started": "now",
        "wall_seconds": 1.0,
        "cases": {case.key: case.__dict__ for case in CASES},
        "runs": runs,
        "summary": summarize(runs),
        "ratios": ratios(runs),
    }


def test_the_verdict_compares_medians_of_the_same_work() -> None:
    speeds = {key: [100.0, 110.0, 120.0] for key in (case.key for case in CASES)}
    speeds["tornadoservice/upload"] = [70.0, 90.0, 75.0]  # median 75 against 110
    runs = {key: [_rep(value) for value in values] for key, values in speeds.items()}
    verdict = ratios(runs)
    assert verdict["download"]["ratio_of_medians"] == pytest.approx(1.0)
    assert verdict["download"]["met"] and verdict["download"]["met_every_repetition"]
    assert verdict["upload"]["ratio_of_medians"] == pytest.approx(75 / 110)
    assert not verdict["upload"]["met"]
    # Paired by repetition: 70/100, 90/110, 75/120.
    assert verdict["upload"]["per_repetition"]["max"] == pytest.approx(90 / 110)
    report = render_transfer(_result(runs))
    assert f"**The {TARGET_RATIO} target is not met in every case:**" in report
    assert "upload 0.68 (NOT met, not in every repetition)" in report


def test_a_failed_transfer_is_reported_not_judged() -> None:
    runs = {case.key: [_rep(100.0)] for case in CASES}
    runs["tornado/upload"] = [_rep(100.0, ok=False) | {"error": "boom"}]
    result = _result(runs)
    assert "upload" not in result["ratios"]
    report = render_transfer(result)
    assert (
        "| tornado | upload | PUT from an open file | - | - | - | - | **1 of 1 FAILED** |" in report
    )
    assert "**Not judged:** some transfers failed" in report


def test_rss_growth_is_the_worst_repetition_and_judged_against_the_limit() -> None:
    runs = {case.key: [_rep(100.0) for _ in range(3)] for case in CASES}
    runs["tornadoservice/upload"][1]["server_peak_rss_mib"] = 50.0 + 70.0  # grew by 70 MiB once
    growth = rss_growth(runs)
    assert growth["upload server"] == pytest.approx(70.0)
    assert growth["download client"] == pytest.approx(2.0)
    assert not any(name.startswith("tornado/") for name in growth)
    report = render_transfer(_result(runs))
    assert f"at most 70 MiB (**not** below the {RSS_GROWTH_LIMIT_MIB} MiB limit)" in report
    runs["tornadoservice/upload"][1]["server_peak_rss_mib"] = 55.0
    assert f"at most 5 MiB (below the {RSS_GROWTH_LIMIT_MIB} MiB limit)" in render_transfer(
        _result(runs)
    )
