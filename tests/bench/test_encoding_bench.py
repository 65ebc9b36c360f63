"""``python -m bench.encoding`` at small scale: the structure of its results and its report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.encoding import (
    dirac_style_decode,
    dirac_style_encode,
    load_pure_jencode,
    make_payload,
    render_encoding,
    run_encoding,
)
from bench.runner import ROOT

from tornadoservice.wire import jencode


def test_payload_is_fixed_and_the_baseline_agrees_with_jencode() -> None:
    payload = make_payload(50)
    assert payload == make_payload(50)
    assert len(payload["Value"]["Successful"]) == 50
    text = dirac_style_encode(payload)
    assert text == jencode.encode(payload)
    assert dirac_style_decode(text) == payload == jencode.decode(text)[0]


def test_pure_copy_of_jencode_runs_without_speedups() -> None:
    pure = load_pure_jencode()
    assert pure._speedups is None
    assert pure is not jencode
    payload = make_payload(20)
    assert pure.encode(payload) == jencode.encode(payload)


def test_small_run_has_every_number_and_the_report_shows_them() -> None:
    result = run_encoding(records=200, repeat=2)
    json.dumps(result)  # JSON-serialisable
    assert result["records"] == 200 and result["repeat"] == 2
    assert result["payload_bytes"] > 200 * 300
    assert set(result["summary_ms"]) == {"baseline", "speedups", "pure"}
    for name, operations in result["samples_ms"].items():
        for operation in ("encode", "decode"):
            samples = operations[operation]
            assert len(samples) == 2 and all(ms > 0 for ms in samples), (name, operation)
            spread = result["summary_ms"][name][operation]
            assert spread["min"] <= spread["median"] <= spread["max"]
    ratios = result["ratios"]
    assert set(ratios) == {"encode", "decode", "encode_pure", "decode_pure"}
    assert all(ratio > 0 for ratio in ratios.values())
    assert result["target_met"] == {
        "encode": ratios["encode"] >= 3.0,
        "decode": ratios["decode"] >= 3.0,
    }
    assert result["speedups_built"] is (getattr(jencode, "_speedups", None) is not None)

    report = render_encoding(result)
    assert report.startswith("## Encoding\n")
    assert "200 records" in report
    for name in ("baseline", "speedups", "pure"):
        label = result["labels"][name]
        encode_ms = result["summary_ms"][name]["encode"]
        assert f"| {label} | {encode_ms['median']:.1f} ({encode_ms['min']:.1f}-" in report
    assert f"encode **{ratios['encode']:.1f}x**" in report
    assert f"decode **{ratios['decode']:.1f}x**" in report
    for operation in ("encode", "decode"):
        verdict = "met" if result["target_met"][operation] else "**not met**"
        assert f"- {operation} at least 3x faster than the baseline: {verdict}" in report


def test_command_line_writes_markdown_and_json(tmp_path: Path) -> None:
    raw = tmp_path / "encoding.json"
    command = ["-m", "bench.encoding", "--records", "100", "--repeat", "1", "--json", str(raw)]
    completed = subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("## Encoding\n")
    result = json.loads(raw.read_text())
    assert result["records"] == 100
    assert render_encoding(result) == completed.stdout
