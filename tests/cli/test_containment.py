"""``tornadoservice serve --config``: a handler raising SystemExit does not end the process."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import CliPKI
from tests.cli.support import assert_error, run_cli, running_server
from tests.cli.test_serve_config import config_text, service_section

EXITING_HANDLER = """\
import sys

from tornadoservice import S_OK, TornadoService


class EchoHandler(TornadoService):
    auth_leave = ["all"]

    def export_leave(self, how):
        if how == "exit":
            sys.exit(3)
        raise KeyboardInterrupt

    auth_leaveAsync = ["all"]

    async def export_leaveAsync(self):
        raise SystemExit("bye")

    auth_echo = ["all"]

    def export_echo(self, value):
        return S_OK(value)
"""


def test_a_handler_calling_sys_exit_leaves_the_server_serving(
    cli_pki: CliPKI, tmp_path: Path
) -> None:
    handlers = tmp_path / "handlers"
    handlers.mkdir()
    (handlers / "echo.py").write_text(EXITING_HANDLER)
    config = tmp_path / "site.cfg"
    config.write_text(config_text(cli_pki, service_section("handlers/echo.py")))
    args = ["serve", "--config", str(config), "--port", "0", "--host", "127.0.0.1"]
    with running_server(args, output_dir=tmp_path / "logs") as server:
        url = server.wait_for(r"serving Test/Echo on (https://\S+)", stream="stderr")[1]
        for method, call_args in (("leave", ['"exit"']), ("leave", ['"kbd"']), ("leaveAsync", [])):
            failed = run_cli("call", *cli_pki.credentials(), url, method, *call_args)
            assert_error(failed, 1, f"Unexpected error in {method}")
            assert server.process.poll() is None, server.stderr
        served = run_cli("call", *cli_pki.credentials(), url, "echo", '{"still": "here"}')
        assert served.returncode == 0, served.stderr
        assert json.loads(served.stdout) == {"still": "here"}
        # Each one logged, with its traceback, by the server that kept running.
        server.wait_for(r"SystemExit: bye", stream="stderr")
        assert "SystemExit: 3" in server.stderr
        assert "KeyboardInterrupt" in server.stderr
        assert server.stderr.count("Traceback") == 3
