"""The deployment kit of docs/deployment.md: the systemd unit is valid for systemd itself, and
the lines the guide quotes are the unit's own."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.cli.support import TORNADOSERVICE
from tests.support.system import require_program

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "tornadoservice.service"
GUIDE = ROOT / "docs" / "deployment.md"
DOCKERFILE = ROOT / "Dockerfile"


def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = require_program("systemd-analyze", "/usr/bin/systemd-analyze")
    # The unit as a site installs it, with this venv's command and a user that exists here.
    text = UNIT.read_text().replace("/opt/tornadoservice/bin/tornadoservice", TORNADOSERVICE)
    text = re.sub(r"^(User|Group)=.*$", r"\1=root", text, flags=re.MULTILINE)
    unit = tmp_path / "tornadoservice.service"
    unit.write_text(text)
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_a_broken_unit_would_fail_that_check(tmp_path: Path) -> None:
    # The check above can fail: a command that does not exist is reported.
    analyze = require_program("systemd-analyze", "/usr/bin/systemd-analyze")
    unit = tmp_path / "tornadoservice.service"
    unit.write_text(UNIT.read_text().replace("/opt/tornadoservice/bin/", "/nonexistent/bin/"))
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "/nonexistent/bin/tornadoservice" in result.stderr


def test_the_guide_quotes_the_unit() -> None:
    match = re.search(r"```ini\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.DOTALL)
    assert match is not None
    unit_lines = set(UNIT.read_text().splitlines())
    for line in match.group(1).splitlines():
        assert line in unit_lines, f"{line!r} is in {GUIDE.name} but not in {UNIT.name}"
    for needed in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID"):
        assert needed in unit_lines
    assert any("--check" in line and line.startswith("ExecStartPre=") for line in unit_lines)
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE" in unit_lines


def test_the_dockerfile_runs_serve_config_and_probes_readiness() -> None:
    text = DOCKERFILE.read_text()
    assert 'ENTRYPOINT ["tornadoservice", "serve"]' in text
    assert 'CMD ["--config", "/site/dirac.cfg"]' in text
    assert "/health/ready" in text
    assert "pip install --no-cache-dir ." in text  # built from the repository itself
