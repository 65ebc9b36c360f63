"""How to spell the ``tornadoservice`` command in the lines that ``serve`` and ``init`` print.

Right after ``python3 -m venv .venv && .venv/bin/pip install ...`` the command is not on ``PATH``:
a line that starts with a bare ``tornadoservice`` would fail when pasted. So the printed lines
name the program the way this process was started, unless ``PATH`` finds that same program.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

PROGRAM = "tornadoservice"


def program() -> str:
    """``tornadoservice`` when ``PATH`` finds the running one, else its path (shell-quoted)."""
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.name == PROGRAM and script.is_file():
        found = shutil.which(PROGRAM)
        if found is not None and os.path.samefile(found, script):
            return PROGRAM
        return shlex.quote(str(script.absolute()))
    beside = Path(sys.executable).with_name(PROGRAM)
    if beside.is_file():
        return shlex.quote(str(beside))
    # Run as "python -m tornadoservice.cli.main" without the console script installed.
    return f"{shlex.quote(sys.executable)} -m tornadoservice.cli.main"


def quote(path: Path | str) -> str:
    return shlex.quote(str(path))
