"""A server in a process of its own freezes its start-up heap out of the garbage collector's
walks, and a configuration reload collects what it replaced (tornadoservice.server.heap).

Each check runs in a fresh interpreter: freezing is process-wide, and pytest's own heap must
stay as the collector leaves it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tornadoservice.cli import serve as serve_module
from tornadoservice.cli.errors import CLIError


def _run(script: str, *args: str) -> Any:
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_freeze_collects_first_and_refreeze_collects_what_became_garbage() -> None:
    result = _run(
        """
        import gc, json, weakref
        from tornadoservice.server import heap

        class Node:
            pass

        def cycle():
            a, b = Node(), Node()
            a.other, b.other = b, a
            return a

        garbage = cycle()
        dropped = weakref.ref(garbage)
        del garbage                     # cyclic garbage made before the freeze
        kept = cycle()
        frozen = weakref.ref(kept)
        heap.freeze()
        out = {"dropped_before_freeze": dropped() is None, "count": gc.get_freeze_count()}
        del kept                        # garbage now, but frozen: a collection skips it
        gc.collect()
        out["frozen_survives_collect"] = frozen() is not None
        heap.refreeze()
        out["refreeze_collects_it"] = frozen() is None
        out["count_after_refreeze"] = gc.get_freeze_count()
        print(json.dumps(out))
        """
    )
    assert result["dropped_before_freeze"]
    assert result["count"] > 1000  # the modules, classes and objects of the start-up
    assert result["frozen_survives_collect"]
    assert result["refreeze_collects_it"]
    assert result["count_after_refreeze"] > 1000


SERVE = """
    import asyncio, gc, json, os, signal, sys
    from pathlib import Path
    from tornadoservice.config.tree import ConfigTree
    from tornadoservice.server.demo_state import ensure_demo
    from tornadoservice.server.server import TornadoServer

    demo = ensure_demo(Path(sys.argv[1]))
    server = TornadoServer(
        ConfigTree.load(demo.config), port=0, host="127.0.0.1",
        config_files=(demo.config,), freeze_heap=sys.argv[2] == "1",
    )
    out = {"before": gc.get_freeze_count()}

    def ready():
        out["serving"] = gc.get_freeze_count()
        out["reloaded"] = server.reload_config()
        out["after_reload"] = gc.get_freeze_count()
        # After serve_forever has put its signal handlers in place: a graceful stop.
        asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGTERM)

    asyncio.run(server.serve_forever(ready=ready))
    print(json.dumps(out))
"""


def test_a_server_of_its_own_process_freezes_once_it_listens_and_after_a_reload(
    tmp_path: Path,
) -> None:
    result = _run(SERVE, str(tmp_path / "state"), "1")
    assert result["before"] == 0
    assert result["serving"] > 1000
    assert result["reloaded"] is True
    assert result["after_reload"] > 1000


def test_a_server_left_at_the_default_leaves_the_collector_alone(tmp_path: Path) -> None:
    result = _run(SERVE, str(tmp_path / "state"), "0")
    assert result == {"before": 0, "serving": 0, "reloaded": True, "after_reload": 0}


def test_tornadoservice_serve_asks_for_the_freeze(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    class Recorder:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            seen.update(kwargs)
            raise CLIError("recorded")

    monkeypatch.setattr(serve_module, "TornadoServer", Recorder)
    with pytest.raises(CLIError, match="recorded"):
        serve_module.run_server((), port=0, host=None, state_dir=tmp_path / "state")
    assert seen["freeze_heap"] is True
