"""Raw results and streaming to the client (reference 5.3, SPEC section 2)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import DUMMY, dummy_config
from tests.support.live_server import LiveServer, live_server
from tests.support.memory import rss_bytes
from tests.support.pki import ClientCred, ServerPKI
from tornadoservice import S_OK, TornadoService
from tornadoservice.server.handler import RESULT_HEADER

Sessions = Callable[[ClientCred | None], requests.Session]


def stream_call(
    session: requests.Session, server: LiveServer, args: list[Any], raw: bool = True
) -> requests.Response:
    data = {"method": "streamToClient", "args": json.dumps(args)}
    if raw:
        data["rawContent"] = "True"
    return session.post(server.url(DUMMY), data=data, timeout=60, stream=True)


def test_raw_bytes_with_raw_content(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    response = stream_call(session_for(server_pki.proxy), dummy_server, ["bytes", ""])
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Length"] == "45"
    assert response.content == b"content of abc\n" * 3


def test_plain_text_without_raw_content_is_a_500_not_html(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    # DIRAC answers 200 text/html, which its own client reports as a protocol error: a bare str
    # is a forgotten S_OK (tests/server/test_hardening_request.py has the log side).
    response = session_for(server_pki.proxy).post(
        dummy_server.url(DUMMY), data={"method": "plainText"}, timeout=30
    )
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.text) == {
        "OK": False,
        "Errno": 0,
        "Message": "plainText returned an unsupported value",
    }


def test_plain_text_with_raw_content_is_the_content(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    response = session_for(server_pki.proxy).post(
        dummy_server.url(DUMMY), data={"method": "plainText", "rawContent": "True"}, timeout=30
    )
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.content == b"just text"


def test_raw_content_with_s_error_is_an_error_not_content(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    response = stream_call(session_for(server_pki.proxy), dummy_server, ["missing", ""])
    assert response.status_code == 422
    assert response.headers[RESULT_HEADER] == "S_ERROR"
    assert json.loads(response.text) == {
        "OK": False,
        "Errno": 2,
        "Message": "No such file or directory ( 2 : no such file)",
    }


def test_raw_content_with_s_ok_bytes_sends_the_bytes(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    response = stream_call(session_for(server_pki.proxy), dummy_server, ["sok", ""])
    assert response.content == b"wrapped bytes"


def test_raw_content_with_s_ok_data_is_json(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    response = stream_call(session_for(server_pki.proxy), dummy_server, ["other", ""])
    assert response.headers["Content-Type"] == "application/json"
    assert response.text == '{"OK": true, "Value": {"not": "raw"}}'


def test_an_iterator_is_sent_in_chunks(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    response = stream_call(session_for(server_pki.proxy), dummy_server, ["chunks", "50"])
    assert response.headers.get("Transfer-Encoding") == "chunked"
    expected = b"".join(f"chunk {i:06d}\n".encode() * 1000 for i in range(50))
    assert response.content == expected


class FileService(TornadoService):
    auth_streamToClient = ["all"]

    def export_streamToClient(self, fileId: str, token: str = "") -> Any:
        if fileId == "generated":
            return _generated(int(token))
        return open(self.getCSOption("DataFile", ""), "rb")  # the framework closes it

    auth_asyncStream = ["all"]

    async def export_asyncStream(self, count: int) -> Any:
        async def produce() -> Any:
            for index in range(count):
                yield f"{index},".encode()

        return S_OK(produce())


def _generated(megabytes: int) -> Iterator[bytes]:
    block = bytes(range(256)) * 4096  # 1 MiB
    for _ in range(megabytes):
        yield block


@pytest.fixture(scope="module")
def file_server(
    server_pki: ServerPKI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, Path]]:
    data = tmp_path_factory.mktemp("data") / "blob.bin"
    with data.open("wb") as out:
        for _ in range(32):
            out.write(os.urandom(1024 * 1024))
    config = dummy_config(server_pki)
    config.set_option("/Systems/Framework/Services/DummyTornado/DataFile", str(data))
    with live_server(config, {DUMMY: FileService}) as server:
        yield server, data


def test_a_file_is_streamed_with_its_length(
    file_server: tuple[LiveServer, Path], session_for: Sessions, server_pki: ServerPKI
) -> None:
    server, data = file_server
    response = stream_call(session_for(server_pki.proxy), server, ["file", ""])
    assert response.headers["Content-Length"] == str(data.stat().st_size)
    digest = hashlib.sha256()
    for chunk in response.iter_content(256 * 1024):
        digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(data.read_bytes()).hexdigest()


def test_an_async_iterator_is_streamed(
    file_server: tuple[LiveServer, Path], session_for: Sessions, server_pki: ServerPKI
) -> None:
    server, _ = file_server
    response = session_for(server_pki.proxy).post(
        server.url(DUMMY),
        data={"method": "asyncStream", "args": "[5]", "rawContent": "1"},
        timeout=30,
    )
    assert response.content == b"0,1,2,3,4,"


def test_streaming_512_mib_keeps_memory_flat(
    file_server: tuple[LiveServer, Path], session_for: Sessions, server_pki: ServerPKI
) -> None:
    # Server and client share this process: if either buffered the body, RSS would grow by it.
    server, _ = file_server
    session = session_for(server_pki.proxy)
    assert len(stream_call(session, server, ["generated", "8"]).content) == 8 << 20  # warm up
    before = rss_bytes()
    peak = before
    received = 0
    response = stream_call(session, server, ["generated", "512"])
    for chunk in response.iter_content(1024 * 1024):
        received += len(chunk)
        peak = max(peak, rss_bytes())
    assert received == 512 * 1024 * 1024
    assert peak - before < 64 * 1024 * 1024, f"RSS grew by {(peak - before) >> 20} MiB"


def test_dirac_send_file_form_with_base64_in_args_is_accepted(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    # What DIRAC's TornadoClient.sendFile puts on the wire: the whole file base64 in 'args'.
    content = bytes(range(256)) * 40
    import base64

    args = json.dumps(
        ["myFileId", "", len(content), {"__dCls": "b64", "obj": base64.b64encode(content).decode()}]
    )
    response = session_for(server_pki.proxy).post(
        dummy_server.url(DUMMY), data={"method": "streamFromClient", "args": args}, timeout=30
    )
    assert response.text == (
        '{"OK": true, "Value": {"fileId": "myFileId", "size": 10240, '
        '"head": {"__dCls": "b64", "obj": "AAECAw=="}}}'
    )
