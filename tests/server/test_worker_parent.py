"""The portable half of "a worker never outlives its supervisor": the parent check alone.

``tests/cli/test_supervision.py`` kills a real supervisor (on Linux ``PR_SET_PDEATHSIG`` may act
first); here a real process forks a child that runs only the worker's parent check, with no
``prctl``, then dies: the check must turn the parent's death into the worker's SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import asyncio, os, signal, sys, time
    from pathlib import Path
    from tornadoservice.server.workers import _watch_parent

    folder = Path(sys.argv[1])
    parent = os.getpid()
    if os.fork():
        deadline = time.monotonic() + 20
        while not (folder / "ready").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os._exit(0)  # the supervisor dies, telling nobody

    async def worker() -> None:
        stopped = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
        watch = asyncio.create_task(_watch_parent(parent))
        (folder / "pid").write_text(str(os.getpid()))
        (folder / "ready").touch()
        await asyncio.wait_for(stopped.wait(), 20)
        (folder / "stopped").write_text(str(time.monotonic()))
        watch.cancel()

    asyncio.run(worker())
    os._exit(0)
    """
)


def test_the_parent_check_stops_an_orphan(tmp_path: Path) -> None:
    started = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=30,
        check=False,
    )
    assert started.returncode == 0
    died = time.monotonic()
    worker = int((tmp_path / "pid").read_text())
    try:
        deadline = died + 10
        while not (tmp_path / "stopped").exists():
            assert time.monotonic() < deadline, "the orphan did not notice its parent died"
            time.sleep(0.05)
        # One check interval (1 s), plus slack for a loaded machine.
        assert float((tmp_path / "stopped").read_text()) - died < 3
    finally:
        if not (tmp_path / "stopped").exists():  # the test failed: never leave it running
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)
