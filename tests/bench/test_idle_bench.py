"""``python -m bench --suites idle`` at small scale: real servers, real TLS, real idle sockets."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.idle import TARGETS, render_idle, run_idle


@pytest.mark.slow
def test_idle_connections_stay_open_and_ping_is_measured_with_them(tmp_path: Path) -> None:
    result = run_idle(connections=20, repeat=1, duration=0.5, workdir=tmp_path)
    for target in TARGETS:
        [rep] = result["runs"][target]
        assert rep["still_open"] == 20  # the server kept every idle connection
        for key in ("alone", "crowded"):
            assert rep[key]["errors"] == 0 and rep[key]["requests"] > 10
        assert rep["rss_crowded_mib"] > 0 and rep["rss_alone_mib"] > 0
    page = render_idle(result)
    assert "| tornadoservice | 20 |" in page and "| tornadoservice-tornado | 0 |" in page
    assert page.count("target < 15 ms") == len(TARGETS)


def test_the_verdict_names_connections_the_server_closed() -> None:
    ping = {"rps": 100.0, "p50_ms": 1.0, "p99_ms": 2.0, "errors": 0}
    rep = {
        "alone": ping, "crowded": ping, "rss_alone_mib": 40.0, "rss_crowded_mib": 80.0,
        "open_seconds": 1.0, "still_open": 15,
    }  # fmt: skip
    page = render_idle(
        {"connections": 20, "repeat": 1, "duration": 1, "pinned": True,
         "runs": {"tornadoservice": [rep], "tornadoservice-tornado": [{**rep, "still_open": 20}]}}
    )  # fmt: skip
    assert "- tornadoservice: ping p99 2.00 ms with 20 idle connections (NOT met" in page
    assert "only 15 stayed open" in page
    assert "- tornadoservice-tornado: ping p99 2.00 ms with 20 idle connections (met" in page
