"""The service the reference was recorded against (Framework/DummyTornado), rewritten for tests."""

from __future__ import annotations

import datetime as dt
import errno
import threading
import time
from collections.abc import Iterator
from typing import Any

from tornadoservice import S_ERROR, S_OK, TornadoService, authentication, authorization


class DummyTornadoHandler(TornadoService):
    init_calls = 0
    init_lock = threading.Lock()

    @classmethod
    def initializeHandler(cls, serviceInfo: dict[str, Any]) -> Any:
        with cls.init_lock:
            cls.init_calls += 1
        time.sleep(0.2)  # widen the window in which concurrent first requests could race
        cls.service_info = serviceInfo
        return S_OK()

    def initializeRequest(self) -> None:
        self.request_thread = threading.get_ident()

    auth_true = ["all"]

    def export_true(self) -> dict[str, Any]:
        return S_OK()

    auth_false = ["all"]

    def export_false(self) -> dict[str, Any]:
        return S_ERROR()

    auth_add = ["authenticated"]

    def export_add(self, a: Any, b: Any) -> dict[str, Any]:
        return S_OK(a + b)

    auth_nobody: list[str] = ["nobody"]

    def export_nobody(self) -> dict[str, Any]:
        return S_OK("should never be seen")

    auth_normalUserOnly = ["NormalUser"]

    def export_normalUserOnly(self) -> dict[str, Any]:
        return S_OK(self.getUserName())

    auth_fail = ["all"]

    def export_fail(self, msg: str) -> dict[str, Any]:
        return S_ERROR(errno.ENOENT, msg)

    auth_boom = ["all"]

    def export_boom(self) -> dict[str, Any]:
        raise RuntimeError("secret internal detail")

    auth_types = ["all"]

    def export_types(self) -> dict[str, Any]:
        return S_OK(
            {
                "dt": dt.datetime(2024, 1, 2, 3, 4, 5),
                "date": dt.date(2024, 1, 2),
                "bytes": b"\x00\xffz",
                "tuple": (1, 2),
                "float": 1.5,
                "none": None,
            }
        )

    auth_plainText = ["all"]

    def export_plainText(self) -> str:
        return "just text"

    auth_sleep = ["all"]

    def export_sleep(self, seconds: float) -> dict[str, Any]:
        time.sleep(seconds)
        return S_OK(threading.get_ident())

    auth_asyncThread = ["all"]

    async def export_asyncThread(self) -> dict[str, Any]:
        return S_OK(threading.get_ident())

    auth_big = ["all"]

    def export_big(self, n: int) -> dict[str, Any]:
        return S_OK("x" * n)

    auth_optional = ["all"]

    def export_optional(self, a: Any, b: Any = 2, *rest: Any) -> dict[str, Any]:
        return S_OK([a, b, *rest])

    @authorization(["all"])
    @authentication(["VISITOR"])
    def export_visitorOnly(self) -> dict[str, Any]:
        return S_OK(self.getRemoteCredentials())

    auth_streamToClient = ["all"]

    def export_streamToClient(self, fileId: str, token: str = "") -> Any:
        if fileId == "missing":
            return S_ERROR(errno.ENOENT, "no such file")
        if fileId == "chunks":
            return _chunks(int(token))
        if fileId == "bytes":
            return b"content of abc\n" * 3
        if fileId == "sok":
            return S_OK(b"wrapped bytes")
        return S_OK({"not": "raw"})

    auth_streamFromClient = ["authenticated"]

    def export_streamFromClient(self, fileId: str, token: str, size: int, data: bytes) -> Any:
        if len(data) != size:
            return S_ERROR(errno.EIO, f"got {len(data)} bytes, expected {size}")
        return S_OK({"fileId": fileId, "size": size, "head": data[:4]})

    auth_whereAmI = ["all"]

    def export_whereAmI(self) -> dict[str, Any]:
        return S_OK(
            {
                "address": list(self.getRemoteAddress()),
                "formatted": self.srv_getFormattedRemoteCredentials(),
                "service": self.srv_getServiceName(),
                "url": self.srv_getURL(),
                "option": self.getCSOption("Greeting", "none"),
                "absolute": self.getCSOption("/DIRAC/VirtualOrganization", "none"),
                "registered": self.isRegisteredUser(),
                "thread_matches": self.request_thread == threading.get_ident(),
            }
        )


def _chunks(count: int) -> Iterator[bytes]:
    for index in range(count):
        yield f"chunk {index:06d}\n".encode() * 1000
