"""Every code block of README.md and docs/*.md runs as written, or says why it does not.

A document is one session, in a temporary directory of its own, its blocks in order:

* ``sh`` blocks: each command (``\\`` continuations joined) runs with ``bash`` and must succeed,
  with the venv's ``bin`` first on ``PATH`` and ``HOME``/``XDG_STATE_HOME`` in the session;
  ``tornadoservice serve ...`` starts in the background, as in a second shell, and is waited for
  (its "serving" line), then stopped by its PID when the document ends;
* configuration blocks (no language, ``cfg`` or ``yaml``): loaded by our configuration reader (so
  an inline ``#`` comment or a syntax error fails), merged over a test PKI's ``/DIRAC/Security``
  and ``/Registry`` and served on a free loopback port, each https service answering ``ping``
  (a stand-in handler serves it: the block is about configuration, not code);
* ``python`` blocks: joined into one module, each block at its own line of the document so that
  a traceback points into it, and run when the document ends (its servers still up); a module
  that defines ``test_`` functions is run by pytest, with the plugin's fixtures.

A block that cannot run has ``<!-- not run: <reason> -->`` on the line before it; any other
language needs that marker too. The one rewrite: none. Documents serve on 8443 as written, so
this test needs that port free on 127.0.0.1 (it says so, rather than failing obscurely).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.system import require_program
from tornadoservice import S_OK, TornadoService
from tornadoservice.cli.init import EXAMPLE_SERVICE
from tornadoservice.config.tree import ConfigTree
from tornadoservice.testing import TestPKI, running_server

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
VENV_BIN = Path(sys.executable).parent
COMMAND_TIMEOUT = 60.0
SERVE_TIMEOUT = 30.0
DOC_PORT = 8443

_FENCE = re.compile(r"^(\s*)```\s*([\w+-]*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*not run:(.*?)-->\s*$")
SHELL = {"sh", "bash", "shell", "console"}
PYTHON = {"python", "py"}
CONFIG = {"", "cfg", "yaml", "yml"}


@dataclass(frozen=True)
class Block:
    document: Path
    line: int  # of the first line inside the fence (1-based)
    language: str
    text: str
    not_run: str | None  # the marker's reason, "" for a marker without one

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"


def code_blocks(document: Path) -> list[Block]:
    lines = document.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, language = opening[1], opening[2].lower()
        previous = next((line for line in reversed(lines[:index]) if line.strip()), "")
        marker = _MARKER.match(previous)
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        body = [line.removeprefix(indent) for line in lines[index + 1 : end]]
        text = "\n".join(body) + "\n"
        blocks.append(Block(document, index + 2, language, text, marker and marker[1].strip()))
        index = end + 1
    return blocks


def commands(text: str) -> list[str]:
    """Shell commands of a block: ``\\`` continuations joined, blank and comment lines left out."""
    joined = re.sub(r"\s*\\\n\s*", " ", text)
    return [
        line.strip()
        for line in joined.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


class _StandIn(TornadoService):
    """Serves each service of a configuration block: the block is checked, not its handler."""

    auth_hello = ["all"]

    def export_hello(self) -> dict[str, Any]:
        return S_OK("hello")


@dataclass
class Session:
    """One document's run: its directory, environment, background servers and Python blocks."""

    directory: Path
    pki: TestPKI
    servers: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)
    python: list[Block] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("X509_") and name not in ("XDG_STATE_HOME", "PYTHONPATH")
        }
        env.update(
            PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            HOME=str(self.directory / "home"),
            XDG_STATE_HOME=str(self.directory / "state"),
        )
        return env

    def run_shell(self, block: Block) -> None:
        for command in commands(block.text):
            argv = shlex.split(command, comments=True)
            if argv[:1] == ["curl"]:
                require_program("curl", "/usr/bin/curl")
            if argv[:2] == ["tornadoservice", "serve"]:
                self.start_server(block, command)
                continue
            result = subprocess.run(
                ["bash", "-c", command],
                cwd=self.directory,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
                check=False,
            )
            assert result.returncode == 0, (
                f"{block.where}: {command!r} exited {result.returncode}\n"
                f"{result.stdout}\n{result.stderr}"
            )
            assert "Traceback" not in result.stderr, f"{block.where}: {result.stderr}"

    def start_server(self, block: Block, command: str) -> None:
        with socket.socket() as probe:
            in_use = probe.connect_ex(("127.0.0.1", DOC_PORT)) == 0
        assert not in_use, f"{block.where} serves on {DOC_PORT}, which something else uses"
        log = self.directory / f"serve-{len(self.servers)}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                ["bash", "-c", f"exec {command}"],
                cwd=self.directory,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.servers.append((process, log))
        deadline = time.monotonic() + SERVE_TIMEOUT
        while "serving " not in log.read_text():
            assert process.poll() is None, f"{block.where}: {command!r} exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"{block.where}: {command!r} never served"
            time.sleep(0.05)

    def serve_config(self, block: Block) -> None:
        suffix = ".yaml" if block.language in ("yaml", "yml") else ".cfg"
        path = self.directory / f"block-{block.line}{suffix}"
        path.write_text(block.text, encoding="utf-8")
        tree = ConfigTree.load(path)  # raises, naming file and line, on what the reader refuses
        names = [
            f"{system}/{service}"
            for system in tree.sections("/Systems")
            for service in tree.sections(f"/Systems/{system}/Services")
            if (tree.get(f"/Systems/{system}/Services/{service}/Protocol") or "") == "https"
        ]
        handlers: dict[str, type[TornadoService]] = dict.fromkeys(names or ["Docs/Probe"], _StandIn)
        with running_server(self.pki, handlers, config=tree) as server:
            for name in handlers:
                answer = server.client(name, timeout=10).ping()
                assert answer["OK"], f"{block.where}: {name}: {answer}"

    def run_python(self) -> None:
        padded: list[str] = []
        for block in self.python:
            padded.extend([""] * (block.line - 1 - len(padded)))
            padded.extend(block.text.splitlines())
        module = self.directory / "test_doc_examples.py"
        module.write_text("\n".join(padded) + "\n", encoding="utf-8")
        has_tests = re.search(r"^\s*def test_", module.read_text(), re.MULTILINE) is not None
        argv = (
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-W",
                "error",
                "-p",
                "no:cacheprovider",
                module.name,
            ]
            if has_tests
            else [sys.executable, "-W", "error", module.name]
        )
        result = subprocess.run(
            argv,
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT * 2,
            check=False,
        )
        where = self.python[0].document.relative_to(ROOT)
        assert result.returncode == 0, (
            f"{where}: python blocks failed\n{result.stdout}\n{result.stderr}"
        )

    def stop(self) -> None:
        for process, _ in self.servers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(15)


@pytest.fixture
def session(tmp_path: Path, tornadoservice_pki: TestPKI) -> Iterator[Session]:
    (tmp_path / "home").mkdir()
    running = Session(tmp_path, tornadoservice_pki)
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.slow
@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_block_runs_as_written(document: Path, session: Session) -> None:
    blocks = code_blocks(document)
    for block in blocks:
        if block.not_run is not None:
            assert block.not_run, f"{block.where}: a 'not run' marker needs a reason"
            continue
        if block.language in SHELL:
            session.run_shell(block)
        elif block.language in CONFIG:
            session.serve_config(block)
        elif block.language in PYTHON:
            session.python.append(block)
        else:
            pytest.fail(f"{block.where}: a {block.language!r} block is neither run nor marked")
    if session.python:
        session.run_python()
    for process, log in session.servers:
        assert process.poll() is None, (
            f"{document.name}: a server stopped early:\n{log.read_text()}"
        )
        assert "Traceback" not in log.read_text(), log.read_text()


def test_the_readme_service_is_the_file_init_writes() -> None:
    python = [block.text for block in code_blocks(ROOT / "README.md") if block.language in PYTHON]
    assert EXAMPLE_SERVICE in python


def test_the_extractor_sees_markers_and_reasons(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "text\n\n<!-- not run: needs a grid -->\n```sh\necho never\n```\n\n"
        "<!-- not run: -->\n```python\nx = 1\n```\n  ```cfg\n  A\n  {\n  }\n  ```\n",
        encoding="utf-8",
    )
    found = [(b.line, b.language, b.text, b.not_run) for b in code_blocks(doc)]
    assert found == [
        (5, "sh", "echo never\n", "needs a grid"),
        (10, "python", "x = 1\n", ""),
        (13, "cfg", "A\n{\n}\n", None),
    ]
    assert commands("a \\\n   b\n# note\n\nc  # tail\n") == ["a b", "c  # tail"]


def test_a_config_block_with_an_inline_comment_fails(session: Session, tmp_path: Path) -> None:
    bad = Block(tmp_path / "x.md", 3, "", "A\n{\n  Port = 8443  # the port\n}\n", None)
    with pytest.raises(ValueError, match=r"block-3\.cfg:3: the value of 'Port'"):
        session.serve_config(bad)
