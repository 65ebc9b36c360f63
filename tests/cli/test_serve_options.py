"""``serve`` refuses a bad option value in one line naming option, file and value (issue 11
item 6), instead of a silent default or a traceback; so does ``serve --host`` with a bad name."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import CliPKI
from tests.cli.support import assert_error, run_cli, running_server
from tests.cli.test_serve_config import service_section, write_site


def site_with(tmp_path: Path, cli_pki: CliPKI, option: str, value: str) -> Path:
    config = write_site(tmp_path / "site", cli_pki, service_section("handlers/echo.py"))
    text = config.read_text()
    tornado = f"  Tornado\n  {{\n    {option} = {value}\n  }}\n"
    config.write_text(text.replace("Systems\n{\n", "Systems\n{\n" + tornado, 1))
    return config


@pytest.mark.parametrize(
    ("option", "value", "problem"),
    [
        ("MaxThreads", "abc", "not a whole number"),
        ("MaxThreads", "0", "must be at least 1"),
        ("MaxBodySize", "10MB", "not a whole number of bytes (sizes are plain bytes: 10000000"),
        (
            "MaxBufferedBytes",
            "1G",
            "not a whole number of bytes (sizes are plain bytes: 1000000000",
        ),
        ("MaxQueuedCalls", "-1", "must be at least 0"),
        ("BodyTimeout", "soon", "not a number of seconds"),
        ("IdleConnectionTimeout", "0", "must be more than 0 seconds"),
        ("HandshakeTimeout", "-1", "must be more than 0 seconds"),
        ("WriteTimeout", "1m", "not a number of seconds"),
        ("CAReloadInterval", "-5", "must be 0 or more seconds"),
        ("IdleSpinMicroseconds", "-1", "must be from 0 to 10000"),
        ("IdleSpinMicroseconds", "fast", "not a whole number"),
        ("ListenAddress", "nonsense..host", "not an IP address or a host name"),
    ],
)
def test_a_bad_value_stops_serve_naming_it(
    tmp_path: Path, cli_pki: CliPKI, option: str, value: str, problem: str
) -> None:
    config = site_with(tmp_path, cli_pki, option, value)
    # --host would override ListenAddress: that one runs without it.
    host = [] if option == "ListenAddress" else ["--host", "127.0.0.1"]
    result = run_cli("serve", "--config", config, "--port", "0", *host)
    line = assert_error(result, 1, f"{config}: /Systems/Tornado/{option} = {value!r}: {problem}")
    assert line.startswith("tornadoservice: error: ")


def test_a_good_value_is_used(tmp_path: Path, cli_pki: CliPKI) -> None:
    """The same file with a usable value starts (so the refusals above are about the values)."""
    config = site_with(tmp_path, cli_pki, "MaxBodySize", "10485760")
    args: list[str | Path] = ["serve", "--config", config, "--port", "0", "--host", "127.0.0.1"]
    with running_server(args, output_dir=tmp_path / "logs") as server:
        server.wait_for(r"serving Test/Echo on https://", stream="stderr")


@pytest.mark.parametrize("host", ["nonsense..host", "bad host", "-x"])
def test_serve_host_must_be_an_address_or_a_name(tmp_path: Path, host: str) -> None:
    result = run_cli("serve", "--state-dir", tmp_path / "state", "--host", host, "--port", "0")
    assert_error(result, 2, f"--host {host!r}: not an IP address or a host name")
    assert not (tmp_path / "state").exists()  # refused before the demo made anything
