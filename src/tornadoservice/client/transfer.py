"""File transfers: the streamed body of ``receiveFile`` and ``sendFile``.

Both directions use constant memory: a download is written chunk by chunk as it arrives, an
upload is read chunk by chunk as the connection takes it.

A download to a path is first written to a temporary file in the destination's directory
(``.<name>.<random>.part``), flushed to disk, then renamed over the destination. A transfer that
breaks, or an ``S_ERROR`` answer, therefore never leaves a partial file under the destination
name (nor overwrites an existing one). The file gets ``mkstemp``'s mode 0600. A download into a
file object cannot be undone: what arrived before a failure stays written.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import requests
import urllib3

from tornadoservice.core.returnvalues import S_OK

from .rpc import DReturn, RPCConnectionError, short_reason

CHUNK_SIZE = 256 * 1024
"""Bytes asked of the response per read when saving a download. Against 64 KiB: a quarter of
the Python work per byte in requests/urllib3, about 10% less client CPU on a 1 GiB download
(bench.transfer); 1 MiB costs urllib3 a 1 MiB buffer per read and was slower."""

Progress = Callable[[int, "int | None"], None]
"""Called after each chunk with its size and the transfer's total size (``None`` if unknown)."""

RESULT_HEADER = "X-Tornadoservice-Result"
"""Our server's header on a 422 answer to a raw request that holds an ``S_ERROR`` (must equal
``tornadoservice.server.handler.RESULT_HEADER``; a test checks it)."""


def is_download(response: requests.Response) -> bool:
    """True for the file of a ``streamToClient`` answer, False for an error answer (any other
    status, a redirect included, or our 422 holding an ``S_ERROR``), which is an RPC reply."""
    return response.status_code == 200


def save_response(
    response: requests.Response,
    url: str,
    dest: str | os.PathLike[str] | IO[bytes],
    progress: Progress | None = None,
) -> DReturn:
    """Write the file of a 200 ``streamToClient`` answer to ``dest``, without a size bound."""
    try:
        chunks = _chunks(response, progress)
        if isinstance(dest, str | os.PathLike):
            write_atomically(Path(dest), chunks)
        else:
            for chunk in chunks:
                dest.write(chunk)
    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        raise RPCConnectionError(f"{url}: transfer broken: {short_reason(exc)}") from exc
    return S_OK()


def _chunks(response: requests.Response, progress: Progress | None) -> Iterator[bytes]:
    declared = response.headers.get("Content-Length", "")
    total = int(declared) if declared.isdigit() else None
    for chunk in response.iter_content(CHUNK_SIZE):
        if progress is not None:
            progress(len(chunk), total)
        yield chunk


def write_atomically(path: Path, chunks: Iterator[bytes]) -> None:
    """Write ``chunks`` to ``path`` all or nothing (temporary file, fsync, rename)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            # Without it, a crash right after the rename could leave an empty file by that name.
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        # Also on KeyboardInterrupt: the temporary file must not outlive a failed transfer.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


class ProgressReader:
    """A request body that reads ``size`` bytes from ``stream`` as requests asks for them.

    ``__len__`` lets requests announce ``Content-Length`` instead of chunked encoding.
    """

    def __init__(self, stream: IO[bytes], size: int, progress: Progress | None) -> None:
        self._stream = stream
        self._size = size
        self._left = size
        self._progress = progress

    def __len__(self) -> int:
        return self._left

    def read(self, amount: int = -1) -> bytes:
        if amount < 0 or amount > self._left:
            amount = self._left
        data = self._stream.read(amount)
        self._left -= len(data)
        if self._progress is not None and data:
            self._progress(len(data), self._size)
        return data
