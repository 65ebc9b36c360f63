"""The log of a real ``tornadoservice serve``: one request is one line, whatever the client sends."""

from __future__ import annotations

import re
import time

from tests.cli.conftest import DemoRun
from tornadoservice.client.transport import make_session

FORGED = (
    "2026-12-02 01:00:00,000 INFO tornadoservice.access: 10.9.8.7:1 "
    "dirac_admin:root Demo/Greeter shutdown 200 0.10ms OK"
)


def test_a_method_name_cannot_forge_a_line_in_the_serve_log(demo: DemoRun) -> None:
    session = make_session(demo.ca_dir, None, None)  # no certificate: anyone can do this
    try:
        response = session.post(
            demo.url, data={"method": f"hello\n{FORGED}\r\nmore", "args": "[]"}, timeout=30
        )
    finally:
        session.close()
    assert response.status_code == 401
    deadline = time.monotonic() + 10  # access lines are written in batches, 0.5 s late at most
    while "dirac_admin:root" not in demo.server.stderr and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line for line in demo.server.stderr.splitlines() if "dirac_admin:root" in line]
    assert len(lines) == 1, lines
    [line] = lines
    # The server's own line (its timestamp, its logger), with the client's text escaped in it.
    utc = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00"
    assert re.match(rf"{utc} INFO tornadoservice\.access\[{demo.server.process.pid}\]: ", line)
    assert f"hello\\n{FORGED}\\r\\nmore" in line
    assert not any(text.startswith(FORGED) for text in demo.server.stderr.splitlines())
