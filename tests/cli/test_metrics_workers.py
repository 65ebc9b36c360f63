"""``serve --processes 2`` with metrics: one scrape of the supervisor's ``/metrics`` counts the
calls of both worker processes (prometheus-client's multiprocess mode), real processes."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.cli.conftest import CliPKI
from tests.cli.support import free_port, running_server
from tests.cli.test_serve_config import config_text
from tornadoservice.client.transport import make_session

PID_HANDLER = """\
import os

from tornadoservice import S_OK, TornadoService


class PidHandler(TornadoService):
    auth_pid = ["all"]

    def export_pid(self):
        return S_OK(os.getpid())
"""

SERVICE = """\
  Test
  {{
    Services
    {{
      Pid
      {{
        Protocol = https
        HandlerPath = handlers/pid.py
      }}
    }}
  }}
  Tornado
  {{
    Metrics
    {{
      Port = {port}
    }}
  }}"""


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_one_scrape_counts_the_calls_of_both_workers(cli_pki: CliPKI, tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "handlers").mkdir(parents=True)
    (site / "handlers" / "pid.py").write_text(PID_HANDLER)
    metrics_port = free_port()
    config = site / "site.cfg"
    config.write_text(config_text(cli_pki, SERVICE.format(port=metrics_port)))
    args = ["serve", "--config", config, "--port", "0", "--host", "127.0.0.1"]
    with running_server([*args, "--processes", "2"], output_dir=tmp_path / "logs") as server:
        url = server.wait_for(r"serving Test/Pid on (https://\S+)", stream="stderr")[1]
        server.wait_for(r"serving Test/Pid on .*\n(.*\n)*.*serving Test/Pid", stream="stderr")
        pids: set[int] = set()
        calls = 0
        deadline = time.monotonic() + 30
        while len(pids) < 2 or calls < 10:  # new connections until both workers answered
            assert time.monotonic() < deadline, f"only {pids} answered"
            with make_session(cli_pki.ca_dir, cli_pki.proxy, cli_pki.proxy) as session:
                answer = session.post(url, data={"method": "pid"}, timeout=10)
            assert answer.status_code == 200, answer.text
            pids.add(answer.json()["Value"])
            calls += 1
        assert server.process.pid not in pids
        key = (
            "tornadoservice_requests_total",
            (("method", "pid"), ("service", "Test/Pid"), ("status", "200")),
        )
        samples = scrape(metrics_port)
        assert samples[key] == calls  # the sum over both workers, in one scrape
        count = samples[
            (
                "tornadoservice_request_duration_seconds_count",
                (("method", "pid"), ("service", "Test/Pid")),
            )
        ]
        assert count == calls
        server.send_signal(signal.SIGTERM)
        assert server.wait_exit() == 0
    assert "Traceback" not in server.stderr
