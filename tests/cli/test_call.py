"""``tornadoservice call`` against the demo: output and exit codes; ``--help`` everywhere."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from tests.cli.conftest import CliPKI, DemoRun
from tests.cli.support import assert_error, free_port, run_cli
from tornadoservice.cli.call import pretty


def service_config(tmp_path: Path, demo: DemoRun, *urls: str) -> Path:
    """A client configuration: Demo/Greeter's URLs and the demo's CA directory."""
    path = tmp_path / "client.cfg"
    path.write_text(
        "DIRAC\n{\n  Security\n  {\n"
        f"    CALocation = {demo.ca_dir}\n"
        "  }\n}\nSystems\n{\n  Demo\n  {\n    URLs\n    {\n"
        f"      Greeter = {', '.join(urls)}\n"
        "    }\n  }\n}\n"
    )
    return path


def test_s_ok_prints_the_value(demo: DemoRun) -> None:
    result = run_cli("call", *demo.credentials(), demo.url, "add", "1.5", "2")
    assert (result.returncode, result.stdout, result.stderr) == (0, "3.5\n", "")


def test_json_prints_the_whole_result(demo: DemoRun) -> None:
    result = run_cli("call", *demo.credentials(), "--json", demo.url, "hello", '"world"')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"OK": True, "Value": "Hello, world!"}


def test_s_error_exits_1_with_the_message_on_stderr(demo: DemoRun) -> None:
    result = run_cli("call", *demo.credentials(), demo.url, "adminOnly")
    assert_error(result, 1, "S_ERROR", "Permission denied", "No access")
    assert result.stdout == ""


def test_s_error_with_json(demo: DemoRun) -> None:
    result = run_cli("call", *demo.credentials(), "--json", demo.url, "adminOnly")
    assert result.returncode == 1, result.stderr
    answer = json.loads(result.stdout)
    assert answer["OK"] is False
    assert answer["Errno"] == 13
    assert "Permission denied" in answer["Message"]
    assert "CallStack" not in answer
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("args", "fragments", "lines"),
    [
        (["{url}", "hello", "world"], ["argument 1 is not JSON", "'\"world\"'"], 1),
        (["{url}"], ["usage error", "Missing argument 'METHOD'"], 2),
        (["--cert", "{proxy}", "{url}", "hello", '"x"'], ["--cert and --key go together"], 1),
        (["Demo/Greeter", "hello", '"x"'], ["'Demo/Greeter' is not a URL"], 1),
        (["http://127.0.0.1:1/Demo/Greeter", "hello", '"x"'], ["only https:// URLs"], 1),
    ],
    ids=["non-json-arg", "missing-method", "cert-without-key", "not-a-url", "plain-http"],
)
def test_usage_errors_exit_2(
    demo: DemoRun, args: list[str], fragments: list[str], lines: int
) -> None:
    filled = [arg.format(url=demo.url, proxy=demo.proxy) for arg in args]
    result = run_cli("call", "--ca-dir", demo.ca_dir, *filled)
    assert_error(result, 2, *fragments, lines=lines)
    assert result.stdout == ""


def test_unreachable_server_exits_3(demo: DemoRun) -> None:
    url = f"https://127.0.0.1:{free_port()}/Demo/Greeter"
    result = run_cli("call", *demo.credentials(), url, "hello", '"x"')
    assert_error(result, 3, f"cannot reach {url}", "Connection refused")


def test_untrusted_server_exits_3(demo: DemoRun, cli_pki: CliPKI) -> None:
    # Trusting another CA than the demo's: the server's certificate must be refused.
    result = run_cli("call", *cli_pki.credentials(), demo.url, "hello", '"x"')
    assert_error(result, 3, f"cannot reach {demo.url}", "certificate verify failed")


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["call"],
        ["get-file"],
        ["put-file"],
        ["pki"],
        ["pki", "init"],
        ["pki", "host"],
        ["pki", "user"],
        ["proxy-init"],
    ],
    ids=lambda command: " ".join(command) or "tornadoservice",
)
def test_help(command: list[str]) -> None:
    result = run_cli(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: {' '.join(['tornadoservice', *command])} ")
    assert result.stderr == ""


def test_system_service_target_with_failover(demo: DemoRun, tmp_path: Path) -> None:
    down = f"https://127.0.0.1:{free_port()}/Demo/Greeter"
    config = service_config(tmp_path, demo, down, demo.url)
    result = run_cli(
        "call", "--config", config, "--proxy", demo.proxy, "Demo/Greeter", "add", "1", "2"
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "3\n", "")


def test_unknown_service_name_is_a_usage_error(demo: DemoRun, tmp_path: Path) -> None:
    config = service_config(tmp_path, demo, demo.url)
    result = run_cli("call", "--config", config, "--proxy", demo.proxy, "Demo/Nothing", "ping")
    assert_error(result, 2, "/Systems/Demo/URLs/Nothing is missing or empty")


def test_pretty_output_shows_dates_in_iso(demo: DemoRun) -> None:
    result = run_cli("call", *demo.credentials(), demo.url, "now")
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"\n', result.stdout), result.stdout
    strings = run_cli("call", *demo.credentials(), demo.url, "hello", '"you"')
    assert strings.stdout == '"Hello, you!"\n'
    raw = run_cli("call", *demo.credentials(), "--json", demo.url, "now")
    assert json.loads(raw.stdout)["Value"]["__dCls"] == "dt"


def test_read_timeout_exits_3_and_says_it_may_have_run(demo: DemoRun) -> None:
    result = run_cli("call", *demo.credentials(), "--timeout", "0.5", demo.url, "sleep", "3")
    assert_error(result, 3, "no answer within 0.5 s", "not sent to another server")


def test_token_options_exclude_each_other(demo: DemoRun, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("abc")
    result = run_cli(
        "call", *demo.credentials(), "--token", "x", "--token-file", token_file, demo.url, "ping"
    )
    assert_error(result, 2, "--token and --token-file exclude each other")
    assert "abc" not in result.stderr


def test_missing_token_file_is_a_usage_error(demo: DemoRun, tmp_path: Path) -> None:
    result = run_cli(
        "call", *demo.credentials(), "--token-file", tmp_path / "none", demo.url, "ping"
    )
    assert_error(result, 2, "cannot read the token file")


def test_pretty_values() -> None:
    value = {
        "when": dt.datetime(2024, 1, 2, 3, 4, 5),
        "day": dt.date(2024, 1, 2),
        "raw": b"\x00\xff",
    }
    assert json.loads(pretty(value)) == {
        "when": "2024-01-02T03:04:05",
        "day": "2024-01-02",
        "raw": "base64:AP8=",
    }
    assert pretty([]) == "[]"
    assert pretty("é") == '"é"'
