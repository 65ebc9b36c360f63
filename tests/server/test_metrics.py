"""Prometheus metrics over their plain-HTTP listener after a known sequence of real HTTPS calls,
and DIRAC's ``activityMonitoringReporter`` records."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import DUMMY, dummy_config
from tests.support.dummy import DummyTornadoHandler
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import ClientCred, ServerPKI
from tornadoservice import S_OK
from tornadoservice.server.server import ServerStartError

Sessions = Callable[[ClientCred | None], requests.Session]
DOCS = Path(__file__).resolve().parents[2] / "docs"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class Held(DummyTornadoHandler):
    release = threading.Event()
    entered = threading.Event()
    auth_hold = ["all"]

    def export_hold(self) -> dict[str, Any]:
        self.entered.set()
        assert self.release.wait(20)
        return S_OK("done")


@pytest.fixture(scope="module")
def metered(server_pki: ServerPKI, http_implementation: str) -> Iterator[LiveServer]:
    config = dummy_config(server_pki)
    config.set_option("/Systems/Tornado/Metrics/Port", "0")  # a free port
    with live_server(config, {DUMMY: Held}, http_implementation=http_implementation) as server:
        yield server


def scrape(server: LiveServer) -> Samples:
    assert server.server.metrics is not None and server.server.metrics.listener is not None
    listener = server.server.metrics.listener
    assert listener.host == "127.0.0.1"  # the default: not reachable from elsewhere
    text = requests.get(f"http://127.0.0.1:{listener.port}/metrics", timeout=10).text
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def rpc(session: requests.Session, server: LiveServer, method: str, *args: Any) -> int:
    answer = session.post(
        server.url(DUMMY), data={"method": method, "args": json.dumps(list(args))}, timeout=30
    )
    return answer.status_code


def test_requests_by_service_method_and_status_after_a_known_sequence(
    metered: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    user = session_for(server_pki.proxy)
    rpc(user, metered, "ping")  # initialized, connection open: not part of the sequence
    before = scrape(metered)
    assert [rpc(user, metered, "add", 1, 2) for _ in range(3)] == [200] * 3
    assert rpc(user, metered, "fail", "no") == 200  # an S_ERROR is still a 200
    names = [f"made-up-{n}" for n in range(5)]
    assert [rpc(user, metered, name) for name in names] == [501] * 5
    assert rpc(session_for(None), metered, "add", 1, 2) == 401
    after = scrape(metered)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    total = "tornadoservice_requests_total"
    assert delta(total, service=DUMMY, method="add", status="200") == 3
    assert delta(total, service=DUMMY, method="fail", status="200") == 1
    assert delta(total, service=DUMMY, method="unknown", status="501") == 5
    assert delta(total, service=DUMMY, method="add", status="401") == 1
    # Label values stay bounded: no method name a client made up becomes a label.
    assert not any(name in str(key) for key in after for name in names)
    histogram = "tornadoservice_request_duration_seconds"
    assert delta(f"{histogram}_count", service=DUMMY, method="add") == 4
    assert delta(f"{histogram}_sum", service=DUMMY, method="add") > 0
    bucket = delta(f"{histogram}_bucket", service=DUMMY, method="add", le="+Inf")
    assert bucket == 4
    assert delta("tornadoservice_request_bytes_total", service=DUMMY) > 0
    # "add" answers '{"OK": true, "Value": 3}' (25 bytes, before compression) four times...
    out = delta("tornadoservice_response_bytes_total", service=DUMMY)
    assert out >= 3 * len('{"OK": true, "Value": 3}')


def test_in_flight_and_busy_threads_are_sampled(
    metered: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    Held.entered.clear()
    Held.release.clear()
    held = threading.Thread(target=rpc, args=(session_for(server_pki.proxy), metered, "hold"))
    held.start()
    try:
        assert Held.entered.wait(10)
        deadline = time.monotonic() + 5
        while True:
            samples = scrape(metered)
            busy = value(samples, "tornadoservice_threads_busy", service=DUMMY)
            flying = value(samples, "tornadoservice_requests_in_flight")
            if busy >= 1 and flying >= 1:
                break
            assert time.monotonic() < deadline, (busy, flying)
            time.sleep(0.2)
    finally:
        Held.release.set()
        held.join(30)
    deadline = time.monotonic() + 5
    while value(scrape(metered), "tornadoservice_threads_busy", service=DUMMY) != 0:
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_certificate_and_crl_expiry_and_reloads(metered: LiveServer, server_pki: ServerPKI) -> None:
    samples = scrape(metered)
    cert = x509.load_pem_x509_certificate(server_pki.host_cert.read_bytes())
    left = (cert.not_valid_after_utc - dt.datetime.now(dt.UTC)).total_seconds()
    seen = value(
        samples, "tornadoservice_certificate_expiry_seconds", file=str(server_pki.host_cert)
    )
    assert abs(seen - left) < 60
    crls = [key for key in samples if key[0] == "tornadoservice_crl_next_update_seconds"]
    assert crls, "no CRL expiry"
    assert all(samples[key] > 0 for key in crls)  # the test CA's CRL is fresh
    reloads = "tornadoservice_reloads_total"
    before = value(samples, reloads, what="tls", outcome="ok")
    metered.loop.call_soon_threadsafe(metered.server._on_sighup)
    deadline = time.monotonic() + 5
    while value(scrape(metered), reloads, what="tls", outcome="ok") != before + 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_failed_tls_handshakes_are_counted_by_reason(
    metered: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    failures = "tornadoservice_tls_handshake_failures_total"
    before = scrape(metered)
    for cred in (server_pki.foreign_user, server_pki.foreign_user, server_pki.expired_user):
        with pytest.raises(requests.exceptions.SSLError):
            rpc(session_for(cred), metered, "ping")
    deadline = time.monotonic() + 5
    while True:
        after = scrape(metered)
        counted = {
            dict(labels)["reason"]: value - before.get((name, labels), 0.0)
            for (name, labels), value in after.items()
            if name == failures
        }
        if sum(counted.values()) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    # OpenSSL's reason for an unknown CA and for an expired certificate.
    assert counted.get("CERTIFICATE_VERIFY_FAILED", 0) == 3, counted
    assert rpc(session_for(server_pki.proxy), metered, "ping") == 200


def test_a_bad_metrics_port_stops_the_start(server_pki: ServerPKI) -> None:
    config = dummy_config(server_pki)
    config.set_option("/Systems/Tornado/Metrics/Port", "91OO")
    with (
        pytest.raises(ServerStartError, match="Metrics/Port: '91OO' is not a port number"),
        live_server(config, {DUMMY: DummyTornadoHandler}),
    ):
        pytest.fail("the server started")


def test_a_metrics_port_in_use_stops_the_start(metered: LiveServer, server_pki: ServerPKI) -> None:
    assert metered.server.metrics is not None and metered.server.metrics.listener is not None
    config = dummy_config(server_pki)
    config.set_option("/Systems/Tornado/Metrics/Port", str(metered.server.metrics.listener.port))
    with (
        pytest.raises(ServerStartError, match=re.escape("metrics port 127.0.0.1:")),
        live_server(config, {DUMMY: DummyTornadoHandler}),
    ):
        pytest.fail("the server started")


# ------------------------------------------------------------------ activityMonitoringReporter
class Collecting:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def addRecord(self, record: dict[str, Any]) -> None:
        self.records.append(record)


class Broken:
    calls = 0

    def addRecord(self, record: dict[str, Any]) -> None:
        Broken.calls += 1
        raise RuntimeError("monitoring database is down")


def test_a_service_reporter_gets_one_record_per_request(
    server_pki: ServerPKI, session_for: Sessions
) -> None:
    reporter = Collecting()

    class Reported(DummyTornadoHandler):
        activityMonitoringReporter = reporter

    with live_server(dummy_config(server_pki), {DUMMY: Reported}) as server:
        user = session_for(server_pki.proxy)
        assert rpc(user, server, "add", 2, 3) == 200
        assert rpc(user, server, "no-such") == 501
        assert rpc(session_for(None), server, "add", 1, 1) == 401
    added, unknown, anonymous = reporter.records
    assert added["ServiceName"] == "Framework_DummyTornado"
    assert added["Location"] == server.url(DUMMY)
    assert (added["MethodName"], added["Status"], added["StatusCode"]) == ("add", "OK", 200)
    assert (added["User"], added["Group"]) == ("ciuser", "dirac_user")
    assert added["Protocol"] == "https"
    assert 0 < added["ResponseTime"] < 30
    assert abs(added["timestamp"] / 1000 - time.time()) < 60
    assert (unknown["MethodName"], unknown["Status"], unknown["StatusCode"]) == (
        "unknown",
        "ERROR",
        501,
    )
    assert (anonymous["StatusCode"], anonymous["User"]) == (401, None)


def test_a_failing_reporter_never_fails_the_request(
    server_pki: ServerPKI, session_for: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    class Reported(DummyTornadoHandler):
        activityMonitoringReporter = Broken()

    with live_server(dummy_config(server_pki), {DUMMY: Reported}) as server:
        user = session_for(server_pki.proxy)
        assert [rpc(user, server, "add", 1, 1) for _ in range(3)] == [200] * 3
    assert Broken.calls == 3
    failures = [r for r in caplog.records if "activity reporter Broken failed" in r.getMessage()]
    assert len(failures) == 1  # once, not once per request


def test_the_grafana_dashboard_asks_for_metrics_that_exist(metered: LiveServer) -> None:
    assert metered.server.metrics is not None and metered.server.metrics.listener is not None
    port = metered.server.metrics.listener.port
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    exposed: set[str] = set()
    for family in text_string_to_metric_families(text):
        exposed.add(family.name)
        if family.type == "counter":
            exposed.add(f"{family.name}_total")
        if family.type == "histogram":
            exposed.update(f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count"))
        exposed.update(sample.name for sample in family.samples)
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {name for e in expressions for name in re.findall(r"tornadoservice_[a-z_]+", e)}
    assert len(used) >= 10
    assert used <= exposed, used - exposed


def test_a_reporter_is_committed_about_once_a_minute(
    server_pki: ServerPKI, session_for: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As DIRAC's server commits each handler's MonitoringReporter periodically.
    from tornadoservice.server import activity

    monkeypatch.setattr(activity, "COMMIT_INTERVAL", 0.3)

    class Committing(Collecting):
        def __init__(self) -> None:
            super().__init__()
            self.commits: list[int] = []

        def commit(self) -> None:
            self.commits.append(len(self.records))

    reporter = Committing()

    class Reported(DummyTornadoHandler):
        activityMonitoringReporter = reporter

    with live_server(dummy_config(server_pki), {DUMMY: Reported}) as server:
        user = session_for(server_pki.proxy)
        assert rpc(user, server, "add", 1, 1) == 200
        assert rpc(user, server, "add", 1, 1) == 200
        assert reporter.commits == []  # not yet: less than the interval since the first
        time.sleep(0.4)
        assert rpc(user, server, "add", 1, 1) == 200
        deadline = time.monotonic() + 5
        while not reporter.commits:
            assert time.monotonic() < deadline, "never committed"
            time.sleep(0.02)
        assert rpc(user, server, "add", 1, 1) == 200
    assert len(reporter.commits) == 1
    assert len(reporter.records) == 4
