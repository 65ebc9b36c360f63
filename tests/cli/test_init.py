"""``tornadoservice init DIR``: a complete setup that ``serve`` serves as is, and whose printed
lines work when pasted into a shell."""

from __future__ import annotations

import os
import shlex
import shutil
import stat
from pathlib import Path

import pytest

from tests.cli.support import (
    TORNADOSERVICE,
    assert_error,
    child_env,
    free_port,
    run_argv,
    run_cli,
    running_server,
)
from tornadoservice.config.tree import ConfigTree


def _section(output: str, title: str, end: str | None) -> list[str]:
    lines = output.splitlines()
    start = lines.index(title) + 1
    stop = lines.index(end) if end is not None else len(lines)
    return [line.strip() for line in lines[start:stop]]


def _bash(line: str, cwd: Path) -> tuple[int, str, str]:
    result = run_argv(["bash", "-c", line], env=child_env(), cwd=cwd)
    return result.returncode, result.stdout.strip(), result.stderr.strip()


@pytest.mark.slow
def test_init_serves_as_is_and_its_printed_lines_work(tmp_path: Path) -> None:
    setup = tmp_path / "setup"
    port = free_port()
    made = run_cli("init", setup, "--port", str(port))
    assert made.returncode == 0, made.stderr
    [serve_line] = _section(made.stdout, "Serve it:", "Then, from another shell:")
    serve_argv = shlex.split(serve_line)
    # A bare name when PATH finds this venv's program (as under .ci/run), else its full path.
    program = shutil.which(serve_argv[0], path=child_env().get("PATH")) or serve_argv[0]
    assert os.path.samefile(program, TORNADOSERVICE)
    assert serve_argv[1:] == ["serve", "--config", str(setup / "dirac.cfg")]
    then = _section(made.stdout, "Then, from another shell:", None)
    assert len(then) == 6, then
    # Elsewhere than DIR: the lines hold absolute paths.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with running_server(serve_argv[1:], output_dir=tmp_path / "logs", cwd=elsewhere) as server:
        server.wait_for(rf"serving Example/Catalog on https://\S+:{port}/", stream="stderr")
        size, listing, wrong_type, get, echo, put = (_bash(line, elsewhere) for line in then)
        assert size == (0, str(len(b"Hello from tornadoservice init!\n")), ""), size
        assert listing[0] == 0 and listing[1].split() == ["[", '"hello.txt"', "]"], listing
        assert wrong_type[0] == 1 and "400" in wrong_type[2], wrong_type
        assert "types_size" in then[2]  # the line says why it is refused
        assert get[0] == 0, get
        assert (setup / "downloaded.txt").read_bytes() == (setup / "files/hello.txt").read_bytes()
        assert echo[0] == 0 and put[0] == 0, (echo, put)
        assert (setup / "files" / "uploaded.txt").read_text() == "some text\n"
        # The uploaded file is listed by the async method, and its size read by the sync one.
        after = _bash(then[1], elsewhere)
        assert after[0] == 0 and '"uploaded.txt"' in after[1], after
        # The example service keeps to its DataDir: a path is no file name.
        outside = _bash(then[0].replace("'\"hello.txt\"'", "'\"../dirac.cfg\"'"), elsewhere)
        assert outside[0] == 1 and "No such file" in outside[2], outside
        upload = shlex.split(then[5])
        escape = _bash(shlex.join([*upload[:-1], "../escaped.txt"]), elsewhere)
        assert escape[0] == 1 and "not a plain file name" in escape[2], escape
        assert not (setup / "escaped.txt").exists()
    assert "Traceback" not in server.stderr


def test_init_writes_a_commented_config_with_security_and_registry(tmp_path: Path) -> None:
    setup = tmp_path / "setup"
    assert run_cli("init", setup).returncode == 0
    config_file = setup / "dirac.cfg"
    tree = ConfigTree.load(config_file)
    assert tree.get("/Systems/Tornado/Port") == "8443"
    for option in ("CertFile", "KeyFile", "CALocation"):
        value = tree.get(f"/DIRAC/Security/{option}")
        assert value and Path(value).is_absolute() and Path(value).exists(), option
    assert tree.get("/Registry/Users/dev/DN") == "/C=ch/O=tornadoservice/OU=dev/CN=dev"
    assert tree.get("/Registry/Hosts/localhost/DN") == "/C=ch/O=tornadoservice/OU=dev/CN=localhost"
    assert tree.get("/Systems/Example/Services/Catalog/HandlerPath") == "catalog.py"
    text = config_file.read_text()
    assert text.count("\n#") + text.count("  #") >= 10  # commented, on lines of their own
    service = (setup / "catalog.py").read_text()
    for piece in ("types_size", "async def export_", "streamToClient", "streamFromClient"):
        assert piece in service, piece
    for secret in (setup / "user-proxy.pem", setup / "pki" / "ca" / "ca.key.pem"):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret


def test_init_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    setup = tmp_path / "setup"
    setup.mkdir()
    (setup / "mine.txt").write_text("keep me")
    result = run_cli("init", setup)
    assert_error(result, 2, f"{setup} is not empty")
    assert [p.name for p in setup.iterdir()] == ["mine.txt"]
    assert (setup / "mine.txt").read_text() == "keep me"


def test_init_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    assert_error(run_cli("init", target), 2, "exists and is not a directory")
    assert target.read_text() == "x"


def test_printed_program_is_bare_only_when_path_finds_it(tmp_path: Path) -> None:
    venv_bin = str(Path(TORNADOSERVICE).parent)
    others = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin]
    without = child_env(PATH=os.pathsep.join(others or ["/usr/bin"]))
    with_it = child_env(PATH=os.pathsep.join([venv_bin, *others]))
    for env, expected in ((without, shlex.quote(TORNADOSERVICE)), (with_it, "tornadoservice")):
        target = tmp_path / f"setup-{len(env['PATH'])}"
        result = run_argv([TORNADOSERVICE, "init", str(target)], env=env)
        assert result.returncode == 0, result.stderr
        [serve_line] = _section(result.stdout, "Serve it:", "Then, from another shell:")
        assert serve_line.startswith(f"{expected} serve --config "), serve_line
