"""``tornadoservice get-file`` and ``put-file``: ``receiveFile``/``sendFile`` from the shell.

Both stream (constant memory) and show a progress bar when stdout is a terminal. A download is
all or nothing: an ``S_ERROR`` answer or a broken transfer leaves nothing under DEST (and an
existing DEST untouched). Exit codes as for ``call``: 0, 1 ``S_ERROR``, 2 usage, 3 connection.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tornadoservice.cli.call import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    build_client,
    client_errors,
    client_options,
)
from tornadoservice.cli.errors import CLIError

if TYPE_CHECKING:
    from tornadoservice.client.transfer import Progress


@contextmanager
def progress_bar(label: str) -> Iterator[Progress | None]:
    """A byte counter for the transfer, drawn only on a terminal."""
    if not sys.stdout.isatty():
        yield None
        return
    with ExitStack() as stack:
        bar: Any = None

        def advance(amount: int, total: int | None) -> None:
            nonlocal bar
            if bar is None:
                bar = stack.enter_context(click.progressbar(length=total or 0, label=label))
            bar.update(amount)

        yield advance


def _finish(result: dict[str, Any], done: str) -> int:
    if not result["OK"]:
        click.echo(f"tornadoservice: S_ERROR: {result['Message']}", err=True)
        return EXIT_FAILURE
    click.echo(done)
    return EXIT_OK


@click.command("get-file")
@click.argument("target")
@click.argument("file_id")
@click.argument("dest", type=click.Path(path_type=Path, dir_okay=False))
@client_options
def get_file(target: str, file_id: str, dest: Path, **options: Any) -> None:
    """Download FILE_ID from the service TARGET (its streamToClient) into DEST.

    TARGET is an https:// URL or System/Service (with --config); FILE_ID is the name the
    service's export_streamToClient receives; DEST is the local file to write.
    """
    if not dest.parent.is_dir():
        raise CLIError(f"{dest.parent} is not a directory", EXIT_USAGE)
    client = build_client(target, **options)
    try:
        with client_errors(target), progress_bar(f"{file_id} ->") as progress:
            result = client.receive_file(dest, file_id, progress=progress)
    except OSError as exc:
        raise CLIError(f"cannot write {dest}: {exc.strerror or exc}", EXIT_FAILURE) from exc
    finally:
        client.close()
    size = dest.stat().st_size if result["OK"] else 0
    sys.exit(_finish(result, f"{dest}: {size} bytes"))


@click.command("put-file")
@click.argument("target")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.argument("file_id")
@client_options
def put_file(target: str, path: Path, file_id: str, **options: Any) -> None:
    """Upload the local file PATH to the service TARGET (its streamFromClient) as FILE_ID.

    TARGET is an https:// URL or System/Service (with --config); FILE_ID is the name the
    service's export_streamFromClient receives.
    """
    client = build_client(target, **options)
    size = os.path.getsize(path)
    try:
        with client_errors(target), progress_bar(f"-> {file_id}") as progress:
            result = client.send_file(path, file_id, progress=progress)
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror or exc}", EXIT_FAILURE) from exc
    finally:
        client.close()
    sys.exit(_finish(result, f"{path}: {size} bytes sent"))
