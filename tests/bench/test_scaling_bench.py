"""``python -m bench.scaling`` at small scale: real ``serve --processes`` and load generators."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bench.runner import ROOT
from bench.scaling import placement


def test_placement_pins_only_when_there_are_cores_for_everyone() -> None:
    server, generators = placement(1, 1)
    if server is not None:
        assert (server, generators) == ("0", "1")
    assert placement(10_000, 1) == (None, None)


@pytest.mark.slow
def test_one_and_two_workers_are_measured(tmp_path: Path) -> None:
    raw = tmp_path / "scaling.json"
    completed = subprocess.run(
        [sys.executable, "-m", "bench.scaling", "--processes", "1,2", "--repeat", "1",
         "--duration", "0.5", "--warmup", "0.2", "--json", str(raw)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    result = json.loads(raw.read_text())
    for count in (1, 2):
        (run,) = result["runs"][str(count)]
        assert run["workers"] == count  # the supervisor really forked N workers
        assert run["errors"] == 0 and run["rps"] > 0 and run["server_cores_busy"] > 0
    assert "| 2 |" in completed.stdout and "## Several processes" in completed.stdout
