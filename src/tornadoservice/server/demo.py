"""The demo service that ``tornadoservice serve`` runs when given no configuration.

It shows each kind of rule and result: a method anyone may call, one for registered users, one
for a property the demo user lacks, a datetime result, a blocking method that does not block the
server, and a file streamed in chunks.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any, BinaryIO

from tornadoservice.core.returnvalues import S_ERROR, S_OK
from tornadoservice.server.handler import TornadoService

MAX_SLEEP = 10.0


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
        if not isinstance(fileId, str) or fileId not in {p.name for p in data_dir.glob("*")}:
            return S_ERROR(2, f"no file {fileId!r} in the demo data")
        handle: BinaryIO = (data_dir / fileId).open("rb")
        return handle
