"""WorkerPool: the thread hop of sync methods (results, errors, bounds, shutdown, speed)."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

from tornadoservice.server import pool as pool_module
from tornadoservice.server.pool import WorkerPool, any_busy


def _add(a: int, b: int) -> int:
    return a + b


def _fail() -> None:
    raise KeyError("nope")


def test_call_returns_the_result_from_a_worker_thread() -> None:
    pool = WorkerPool(2)

    async def main() -> tuple[int, str]:
        where = await pool.call(lambda: threading.current_thread().name)
        return await pool.call(_add, 20, 22), where

    try:
        value, thread = asyncio.run(main())
    finally:
        pool.shutdown()
    assert value == 42
    assert thread.startswith("tornadoservice_") and thread != threading.current_thread().name


def test_call_raises_the_exception_of_the_function() -> None:
    pool = WorkerPool(1)

    async def main() -> None:
        await pool.call(_fail)

    try:
        with pytest.raises(KeyError, match="nope"):
            asyncio.run(main())
    finally:
        pool.shutdown()


def test_many_concurrent_calls_all_complete_with_their_own_results() -> None:
    pool = WorkerPool(4)

    async def main() -> list[int]:
        return list(await asyncio.gather(*(pool.call(_add, i, i) for i in range(2000))))

    try:
        assert asyncio.run(main()) == [2 * i for i in range(2000)]
    finally:
        pool.shutdown()


def test_never_more_threads_than_max_workers_and_jobs_wait_for_a_free_one() -> None:
    pool = WorkerPool(3)
    running, peak, lock = 0, 0, threading.Lock()

    def job() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1

    async def main() -> None:
        await asyncio.gather(*(pool.call(job) for _ in range(12)))

    try:
        asyncio.run(main())
        assert peak == 3
        assert len(pool._threads) == 3
    finally:
        pool.shutdown()


def test_idle_workers_are_reused_instead_of_starting_new_ones() -> None:
    pool = WorkerPool(8)

    async def main() -> None:
        for _ in range(50):
            await pool.call(_add, 1, 1)

    try:
        asyncio.run(main())
        assert len(pool._threads) == 1
    finally:
        pool.shutdown()


def test_a_cancelled_awaiter_does_not_break_delivery_of_other_results() -> None:
    pool = WorkerPool(2)
    release = threading.Event()

    async def main() -> int:
        slow = pool.call(release.wait, 5)
        slow.cancel()
        release.set()
        return await pool.call(_add, 1, 2)

    try:
        assert asyncio.run(main()) == 3
    finally:
        pool.shutdown()


def test_submit_and_run_in_executor_work_as_an_executor() -> None:
    pool = WorkerPool(2)
    try:
        assert pool.submit(_add, 2, 3).result(5) == 5

        async def main() -> int:
            return await asyncio.get_running_loop().run_in_executor(pool, _add, 3, 4)

        assert asyncio.run(main()) == 7
        with pytest.raises(KeyError):
            pool.submit(_fail).result(5)
    finally:
        pool.shutdown()


def test_shutdown_refuses_new_work_and_cancels_queued_jobs() -> None:
    pool = WorkerPool(1)
    gate, started = threading.Event(), threading.Event()

    def blocking() -> bool:
        started.set()
        return gate.wait(5)

    first = pool.submit(blocking)
    assert started.wait(5)
    queued = pool.submit(_add, 1, 1)
    pool.shutdown(wait=False, cancel_futures=True)
    gate.set()
    assert first.result(5) is True
    assert queued.cancelled()
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(_add, 1, 1)
    for thread in pool._threads:
        thread.join(5)
        assert not thread.is_alive()


def test_max_workers_must_be_positive() -> None:
    with pytest.raises(ValueError):
        WorkerPool(0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_working_threads_of_its_own() -> None:
    pool = WorkerPool(2)
    try:
        assert pool.submit(_add, 1, 1).result(5) == 2  # the parent's worker now exists
        pid = os.fork()
        if pid == 0:  # the child: its copy of the pool must start its own worker
            code = 1
            try:

                async def main() -> int:
                    return await pool.call(_add, 2, 3)

                code = 0 if asyncio.run(asyncio.wait_for(main(), 10)) == 5 else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert pool.submit(_add, 2, 2).result(5) == 4  # the parent's pool is untouched
    finally:
        pool.shutdown()


def test_a_second_shutdown_is_harmless() -> None:
    pool = WorkerPool(max_workers=2)
    started = threading.Event()
    release = threading.Event()

    def block() -> None:
        started.set()
        release.wait(10)

    pool.submit(block)
    assert started.wait(10)
    pool.shutdown(wait=False, cancel_futures=True)
    pool.shutdown(wait=False, cancel_futures=True)  # used to raise TypeError on a stop marker
    release.set()
    pool.shutdown(wait=True, cancel_futures=True)


def test_any_busy_counts_the_jobs_of_every_pool_until_they_end_or_are_cancelled() -> None:
    # Counted from what other tests may have left running, so that they cannot disturb it.
    base = pool_module._running
    first, second = WorkerPool(1), WorkerPool(1)
    release = threading.Event()
    try:
        running = second.submit(release.wait, 10)
        assert any_busy()
        queued = [second.submit(release.wait, 10) for _ in range(3)]  # wait for the worker
        assert pool_module._running == base + 4
        assert first.submit(lambda: 5).result(10) == 5
        assert pool_module._running == base + 4  # first's job ended; second's run or wait
        second.shutdown(wait=False, cancel_futures=True)
        assert all(job.cancelled() for job in queued)
        assert pool_module._running == base + 1  # the cancelled ones will never run
        release.set()
        running.result(10)
        deadline = time.monotonic() + 10
        while pool_module._running > base and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pool_module._running == base
    finally:
        release.set()
        first.shutdown()
        second.shutdown()
