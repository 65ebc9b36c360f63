"""``tornadoservice call`` against the demo: output and exit codes; ``--help`` everywhere."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import CliPKI, DemoRun
from tests.cli.support import assert_error, free_port, run_cli


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
