"""The server's own event loop polls for a moment before it sleeps, only after a socket woke it,
never past its next timer (tornadoservice.server.idlespin)."""

from __future__ import annotations

import asyncio
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tornadoservice.cli import serve as serve_module
from tornadoservice.config.options import OptionError
from tornadoservice.config.tree import ConfigTree
from tornadoservice.server import idlespin
from tornadoservice.server.idlespin import SpinningSelector
from tornadoservice.server.pool import WorkerPool


class _Recorder(selectors.DefaultSelector):
    """Records the timeout of every call that reaches the platform's selector."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.calls: list[float | None] = []

    def select(self, timeout: float | None = None) -> Any:
        self.calls.append(timeout)
        return super().select(timeout)


class Recorded(SpinningSelector, _Recorder):
    pass


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    yield a, b
    a.close()
    b.close()


@pytest.fixture(autouse=True)
def pools_idle(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Other tests' pools may still be finishing a job: only the test about that sees them."""
    if "worker_thread" not in request.node.name:
        monkeypatch.setattr(idlespin, "any_busy", lambda: False)


def _woken(spin: float, pair: tuple[socket.socket, socket.socket]) -> Recorded:
    """A selector that a socket has just woken (as the server is once it read a request)."""
    reader, writer = pair
    selector = Recorded(spin)
    selector.register(reader, selectors.EVENT_READ)
    writer.send(b"x")
    assert len(selector.select(None)) == 1
    reader.recv(1)
    selector.calls.clear()
    return selector


def test_a_selector_no_socket_woke_waits_at_once(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    selector = Recorded(5.0)
    selector.register(pair[0], selectors.EVENT_READ)
    assert selector.select(0.01) == []
    assert selector.calls == [0.01]  # no polling: a server only timers wake costs nothing


def test_after_a_socket_woke_it_polls_then_waits_the_rest(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    selector = _woken(0.05, pair)
    started = time.monotonic()
    assert selector.select(0.3) == []
    elapsed = time.monotonic() - started
    *polls, wait = selector.calls
    assert polls and set(polls) == {0}
    assert wait is not None and 0 < wait <= 0.3 - 0.05 + 0.001
    assert 0.25 <= elapsed < 2.0
    # One spin per wake-up: with nothing new, the next wait starts at once.
    selector.calls.clear()
    assert selector.select(0.01) == []
    assert selector.calls == [0.01]


def test_an_event_during_the_spin_is_returned_without_sleeping(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    selector = _woken(5.0, pair)
    timer = threading.Timer(0.05, pair[1].send, (b"y",))
    timer.start()
    try:
        started = time.monotonic()
        ready = selector.select(None)
        elapsed = time.monotonic() - started
    finally:
        timer.join()
    assert [key.fileobj for key, _ in ready] == [pair[0]]
    assert selector.calls and set(selector.calls) == {0}  # it never blocked in the kernel
    assert elapsed < 4.0


def test_the_spin_never_outlasts_the_loops_next_timer(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    selector = _woken(5.0, pair)
    started = time.monotonic()
    assert selector.select(0.05) == []
    assert time.monotonic() - started < 2.0
    assert all(call is not None and call <= 0.05 for call in selector.calls)


def test_a_poll_without_waiting_never_spins(pair: tuple[socket.socket, socket.socket]) -> None:
    selector = _woken(5.0, pair)
    assert selector.select(0) == []
    assert selector.calls == [0]


def test_no_spin_while_a_worker_thread_runs(pair: tuple[socket.socket, socket.socket]) -> None:
    """Polling holds the GIL, which a sync method or a transfer's file I/O in a pool needs."""
    pool = WorkerPool(1)
    release = threading.Event()
    job = pool.submit(release.wait, 10)
    try:
        selector = _woken(5.0, pair)
        assert pool.busy() == 1
        assert selector.select(0.01) == []
        assert selector.calls == [0.01]
    finally:
        release.set()
        job.result(10)
        pool.shutdown()
    deadline = time.monotonic() + 10
    while pool.busy() and time.monotonic() < deadline:
        time.sleep(0.01)
    pair[1].send(b"z")  # woken by a socket again, with the pool idle: it polls first
    selector.select(None)
    pair[0].recv(1)
    selector.calls.clear()
    assert selector.select(0.01) == []
    assert 0 in selector.calls


def _config(value: str | None) -> ConfigTree:
    config = ConfigTree.from_dict({"Systems": {"Tornado": {}}})
    if value is not None:
        config.set_option("/Systems/Tornado/IdleSpinMicroseconds", value)
    return config


def test_the_option_is_microseconds_with_100_by_default() -> None:
    assert idlespin.idle_spin(_config(None)) == pytest.approx(100e-6)
    assert idlespin.idle_spin(_config("250")) == pytest.approx(250e-6)
    assert idlespin.idle_spin(_config("0")) == 0


@pytest.mark.parametrize(
    ("value", "problem"),
    [("fast", "not a whole number"), ("-1", "from 0 to 10000"), ("10001", "from 0 to 10000")],
)
def test_a_bad_option_value_is_refused(value: str, problem: str) -> None:
    with pytest.raises(OptionError, match=problem):
        idlespin.idle_spin(_config(value))


def test_zero_keeps_asyncios_own_loop_and_a_spin_makes_a_spinning_one() -> None:
    assert idlespin.loop_factory(0) is asyncio.new_event_loop

    async def selector_and_timer() -> tuple[Any, float]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.sleep(0.05)  # timers still fire on the spinning loop
        return loop._selector, loop.time() - started  # type: ignore[attr-defined]

    selector, slept = idlespin.run(selector_and_timer(), 0.001)
    assert isinstance(selector, SpinningSelector)
    assert selector.spin == 0.001
    assert 0.05 <= slept < 2.0


def test_tornadoservice_serve_runs_on_the_spinning_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def record(main: Any, spin: float) -> None:
        seen["spin"] = spin
        main.close()

    monkeypatch.setattr(idlespin, "run", record)
    serve_module.run_server((), port=0, host=None, state_dir=tmp_path / "state")
    assert seen["spin"] == pytest.approx(100e-6)
