"""The demo service that ``tornadoservice serve`` runs when given no configuration.

It shows each kind of rule and result: a method anyone may call, one for registered users, one
for a property the demo user lacks, a datetime result, a blocking method that does not block the
server, a file streamed in chunks to the client, and an upload read as it arrives.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO

from tornadoservice.core.returnvalues import S_ERROR, S_OK
from tornadoservice.server.demo_state import SHIPPED_FILES
from tornadoservice.server.handler import TornadoService

MAX_SLEEP = 10.0
MAX_UPLOAD = 64 * 1024 * 1024
READ_SIZE = 1024 * 1024


class DemoHandler(TornadoService):
    """A small service to try the framework with curl and ``tornadoservice call``."""

    @classmethod
    def initializeHandler(cls, serviceInfo: dict[str, Any]) -> Any:
        cls.log.info("demo service starting", serviceInfo["URL"])
        return S_OK()

    auth_hello = ["all"]

    def export_hello(self, name: str) -> dict[str, Any]:
        """Greet anyone, registered or not."""
        if not isinstance(name, str):
            return S_ERROR("name must be a string")
        return S_OK(f"Hello, {name}!")

    auth_add = ["authenticated"]

    def export_add(self, a: float, b: float) -> dict[str, Any]:
        """Add two numbers; registered users only."""
        if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in (a, b)):
            return S_ERROR("add takes two numbers")
        return S_OK(a + b)

    auth_now = ["all"]

    async def export_now(self) -> dict[str, Any]:
        """The server's time (UTC): an async method, and a datetime on the wire."""
        return S_OK(dt.datetime.now(dt.UTC).replace(tzinfo=None))

    auth_sleep = ["authenticated"]

    def export_sleep(self, seconds: float) -> dict[str, Any]:
        """Block a worker thread for a while; the server keeps answering other calls."""
        if not isinstance(seconds, int | float) or not 0 <= seconds <= MAX_SLEEP:
            return S_ERROR(f"seconds must be a number between 0 and {MAX_SLEEP:g}")
        self.log.info(f"sleeping {seconds:g}s for {self.srv_getFormattedRemoteCredentials()}")
        time.sleep(seconds)
        return S_OK(seconds)

    auth_adminOnly = ["ServiceAdministrator"]

    def export_adminOnly(self) -> dict[str, Any]:
        """Needs the ServiceAdministrator property, which the demo user does not have (403)."""
        return S_OK("you are an administrator")

    auth_streamToClient = ["authenticated"]

    def export_streamToClient(self, fileId: str, token: str = "") -> Any:
        """Stream a file of the demo data directory in chunks (``receiveFile``)."""
        data_dir = Path(self.getCSOption("DataDir", ""))
        names = {p.name for p in data_dir.glob("*") if not p.name.startswith(".")}
        if not isinstance(fileId, str) or fileId not in names:
            return S_ERROR(2, f"no file {fileId!r} in the demo data")
        handle: BinaryIO = (data_dir / fileId).open("rb")
        return handle

    auth_streamFromClient = ["authenticated"]

    def export_streamFromClient(self, fileId: str, token: str, size: int, stream: BinaryIO) -> Any:
        """Store an upload (``sendFile``, ``put-file``) in the demo data, for ``get-file``."""
        if (
            not isinstance(fileId, str)
            or fileId != Path(fileId).name
            or fileId.startswith(".")
            or fileId in SHIPPED_FILES
        ):
            return S_ERROR(f"fileId must be a plain file name other than {SHIPPED_FILES}")
        if not isinstance(size, int) or size > MAX_UPLOAD:
            return S_ERROR(f"the demo keeps uploads of at most {MAX_UPLOAD // 2**20} MiB")
        data_dir = Path(self.getCSOption("DataDir", ""))
        # Written beside its final name and renamed at the end: a broken upload leaves nothing.
        descriptor, partial = tempfile.mkstemp(dir=data_dir, prefix=".upload-")
        try:
            with os.fdopen(descriptor, "wb") as out:
                while chunk := stream.read(READ_SIZE):
                    out.write(chunk)
            os.replace(partial, data_dir / fileId)
        except BaseException:
            os.unlink(partial)
            raise
        return S_OK(size)
