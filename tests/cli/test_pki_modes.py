"""Under ``umask 000`` the PKI and the demo state get explicit modes: nothing is world-writable.

Each command runs as a real process whose umask is set to 000 before it starts, as a user's
shell would; whoever can write to ``certificates/`` could plant a CA or a CRL.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from tests.cli.conftest import USER_DN
from tests.cli.support import (
    COMMAND_TIMEOUT,
    DEMO_READY,
    TORNADOSERVICE,
    assert_error,
    child_env,
    running_server,
)


def _umask_000() -> None:  # runs in the child, between fork and exec
    os.umask(0)


def run_with_umask_000(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TORNADOSERVICE, *map(str, args)],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=COMMAND_TIMEOUT,
        check=False,
        preexec_fn=_umask_000,
    )


def _ok(*args: str | Path) -> None:
    result = run_with_umask_000(*args)
    assert result.returncode == 0, result.stderr


def modes(top: Path) -> dict[str, int]:
    """Relative path -> permission bits, for ``top`` and everything under it."""
    found = {".": stat.S_IMODE(top.stat().st_mode)}
    for path in top.rglob("*"):
        found[str(path.relative_to(top))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def assert_nothing_writable_by_others(found: dict[str, int]) -> None:
    loose = {name: oct(mode) for name, mode in found.items() if mode & 0o022}
    assert not loose, f"writable by group or others: {loose}"


def test_pki_under_umask_000(tmp_path: Path) -> None:
    pki = tmp_path / "new" / "pki"  # the parent is missing too
    _ok("pki", "init", pki)
    _ok("pki", "host", pki, "localhost", "--ip", "127.0.0.1")
    _ok("pki", "user", pki, USER_DN)
    proxy = tmp_path / "proxies" / "proxy.pem"
    user = pki / "users" / "ciuser"
    _ok(
        "proxy-init", "--cert", user / "usercert.pem", "--key", user / "userkey.pem", "--out", proxy
    )

    found = modes(pki)
    assert_nothing_writable_by_others(found)
    ca_files = {name for name in found if name.startswith("certificates/")}
    assert len(ca_files) == 2  # <hash>.0 and <hash>.r0, nothing else
    expected = {
        ".": 0o755,
        "certificates": 0o755,
        "ca": 0o700,
        "ca/ca.key.pem": 0o600,
        "ca/ca.cert.pem": 0o644,
        "hosts": 0o755,
        "hosts/localhost": 0o700,
        "hosts/localhost/hostkey.pem": 0o600,
        "hosts/localhost/hostcert.pem": 0o644,
        "users": 0o755,
        "users/ciuser": 0o700,
        "users/ciuser/userkey.pem": 0o600,
        "users/ciuser/usercert.pem": 0o644,
        **dict.fromkeys(ca_files, 0o644),
    }
    assert found == expected
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o755
    assert stat.S_IMODE(proxy.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(proxy.stat().st_mode) == 0o600


def test_existing_loose_directories_are_tightened(tmp_path: Path) -> None:
    """Left world-writable by an older version: issuing again gives them their modes back."""
    pki = tmp_path / "pki"
    _ok("pki", "init", pki)
    _ok("pki", "user", pki, USER_DN)
    for name in ("users", "users/ciuser"):
        os.chmod(pki / name, 0o777)
    _ok("pki", "user", pki, USER_DN, "--force")
    assert stat.S_IMODE((pki / "users").stat().st_mode) == 0o755
    assert stat.S_IMODE((pki / "users" / "ciuser").stat().st_mode) == 0o700


def test_pki_under_a_file(tmp_path: Path) -> None:
    """A file where a folder must go: a clear one-line error, no traceback, nothing written."""
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory\n")
    assert_error(run_with_umask_000("pki", "init", blocker / "pki"), 1, str(blocker))
    assert blocker.read_text() == "not a directory\n"
    assert sorted(tmp_path.iterdir()) == [blocker]


def test_demo_state_under_umask_000(tmp_path: Path) -> None:
    state = tmp_path / "xdg" / "state"  # parents missing, like a fresh ~/.local/state
    args: list[str | Path] = ["serve", "--state-dir", state, "--port", "0"]
    with running_server(args, output_dir=tmp_path / "logs", preexec_fn=_umask_000) as server:
        server.wait_for(DEMO_READY)
    found = modes(state)
    assert_nothing_writable_by_others(found)
    assert found["."] == 0o700
    assert found["data"] == 0o700
    assert found["pki/certificates"] == 0o755
    assert found["pki/ca"] == 0o700
    assert found["user-proxy.pem"] == 0o600
    assert stat.S_IMODE((tmp_path / "xdg").stat().st_mode) == 0o700
