"""A request leaves no cyclic garbage behind (server and client in this process).

Objects in reference cycles are freed only by the cyclic garbage collector; one cycle per
request makes collections frequent and long, which shows as tail latency under load (it once
tripled the p99 at concurrency 64). Tornado breaks its own cycles for the same reason.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable

import pytest
import requests

from tests.conftest import DUMMY
from tests.support.live_server import LiveServer
from tests.support.pki import ClientCred, ServerPKI

Sessions = Callable[[ClientCred | None], requests.Session]

SERVER_PACKAGES = frozenset({"tornadoservice", "tornado", "asyncio"})


@pytest.mark.parametrize(
    ("method", "args"), [("echo", [1]), ("add", [1, 2]), ("whoami", []), ("ping", [])]
)
def test_requests_leave_no_cyclic_garbage(
    dummy_server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    method: str,
    args: list[int],
) -> None:
    session = session_for(server_pki.proxy)
    data = {"method": method, "args": json.dumps(args)}
    for _ in range(5):  # warm: connection, caches, lazily built objects
        assert session.post(dummy_server.url(DUMMY), data=data, timeout=30).status_code == 200
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # unreachable objects go to gc.garbage instead of away
    try:
        for _ in range(100):
            response = session.post(dummy_server.url(DUMMY), data=data, timeout=30)
            assert response.status_code == 200
        gc.collect()
        # Only the server's objects: a cycle in the HTTP client library is not ours to judge.
        ours = [o for o in gc.garbage if type(o).__module__.split(".")[0] in SERVER_PACKAGES]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    kinds = sorted({type(o).__qualname__ for o in ours})
    assert len(ours) < 5, f"{len(ours)} objects in cycles after 100 {method} requests: {kinds}"
