"""The plugin as a service author meets it: a test file of their own, run by pytest in a folder
with no conftest, the fixtures coming from the ``pytest11`` entry point alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# The whole test file of issue 11, as a service author writes it.
EXAMPLE = """\
from tornadoservice import S_OK, TornadoService

class KVHandler(TornadoService):
    auth_get = ["authenticated"]
    types_get = [str]
    def export_get(self, key):
        return S_OK(key.upper())

def test_get(tornadoservice_server):
    server = tornadoservice_server({"Test/KV": KVHandler})
    client = server.client("Test/KV")
    assert client.get("a")["Value"] == "A"
    assert not client.get(1)["OK"]
"""

RUN_TIMEOUT = 120


def _pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-W", "error", "-p", "no:cacheprovider", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


@pytest.mark.slow
def test_the_issue_example_is_a_whole_passing_test_file(tmp_path: Path) -> None:
    (tmp_path / "test_kv.py").write_text(EXAMPLE, encoding="utf-8")
    result = _pytest(tmp_path, "-q", "test_kv.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout, result.stdout


@pytest.mark.slow
def test_a_failing_assertion_in_the_example_fails(tmp_path: Path) -> None:
    # The fixtures really call the server: a wrong expectation is red, not vacuously green.
    wrong = EXAMPLE.replace('== "A"', '== "a"')
    (tmp_path / "test_kv.py").write_text(wrong, encoding="utf-8")
    result = _pytest(tmp_path, "-q", "test_kv.py")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed" in result.stdout, result.stdout


def test_the_plugin_is_registered_and_loads_nothing_of_the_client() -> None:
    probe = (
        "import importlib.metadata as m, sys\n"
        "[ep] = [e for e in m.entry_points(group='pytest11') if e.name == 'tornadoservice']\n"
        "plugin = ep.load()\n"
        "print(ep.value)\n"
        "print(sorted(n for n in sys.modules if n.startswith('tornadoservice.client')))\n"
        "print(sorted(n for n in dir(plugin) if n.startswith('tornadoservice_')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "tornadoservice.testing.plugin",
        "[]",
        "['tornadoservice_pki', 'tornadoservice_server']",
    ]
