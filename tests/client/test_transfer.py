"""receiveFile and sendFile: streamed both ways, all-or-nothing downloads."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.web import RequestHandler, stream_request_body

from tests.client.conftest import bare_server
from tests.conftest import DUMMY, dummy_config
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import ServerPKI
from tornadoservice import S_OK, TornadoClient, TornadoService, decode, encode
from tornadoservice.client import peers, transfer
from tornadoservice.server import handler


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_result_header_is_the_servers() -> None:
    assert transfer.RESULT_HEADER == handler.RESULT_HEADER


def test_receive_file_to_a_path(dummy_server: LiveServer, proxy_env: None, tmp_path: Path) -> None:
    client = TornadoClient(dummy_server.url(DUMMY))
    dest = tmp_path / "abc"
    assert client.receiveFile(dest, "bytes", "") == {"OK": True, "Value": None}
    assert dest.read_bytes() == b"content of abc\n" * 3
    assert client.receiveFile(str(dest), "chunks", "300")["OK"] is True
    expected = b"".join(f"chunk {n:06d}\n".encode() * 1000 for n in range(300))
    assert dest.read_bytes() == expected
    assert leftovers(tmp_path) == ["abc"]


def test_receive_file_to_a_file_object(dummy_server: LiveServer, proxy_env: None) -> None:
    sink = io.BytesIO()
    assert TornadoClient(dummy_server.url(DUMMY)).receiveFile(sink, "sok")["OK"] is True
    assert sink.getvalue() == b"wrapped bytes"


def test_an_s_error_is_returned_and_never_written(
    dummy_server: LiveServer, proxy_env: None, tmp_path: Path
) -> None:
    dest = tmp_path / "missing"
    result = TornadoClient(dummy_server.url(DUMMY)).receiveFile(dest, "missing")
    assert (result["OK"], result["Errno"]) == (False, 2)
    assert result["Message"] == "No such file or directory ( 2 : no such file)"
    assert leftovers(tmp_path) == []
    sink = io.BytesIO()
    assert TornadoClient(dummy_server.url(DUMMY)).receiveFile(sink, "missing")["OK"] is False
    assert sink.getvalue() == b""


class BreaksMidway(RequestHandler):
    """Announces 1 MB, sends 100 kB, then drops the connection."""

    async def post(self) -> None:
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Length", str(1_000_000))
        self.write(b"x" * 100_000)
        await self.flush()
        assert self.request.connection is not None
        self.request.connection.close()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def breaking(server_pki: ServerPKI) -> Iterator[str]:
    with bare_server(server_pki, [(r"/.*", BreaksMidway)]) as server:
        yield server.url()


def test_an_interrupted_download_leaves_no_half_file(
    breaking: str, proxy_env: None, tmp_path: Path
) -> None:
    dest = tmp_path / "file"
    dest.write_bytes(b"previous version")
    result = TornadoClient(breaking).receiveFile(dest, "abc")
    assert result["OK"] is False
    assert "transfer broken" in result["Message"]
    assert dest.read_bytes() == b"previous version"
    assert leftovers(tmp_path) == ["file"]


def test_an_http_error_writes_nothing(
    dummy_server: LiveServer, proxy_env: None, tmp_path: Path
) -> None:
    dest = tmp_path / "never"
    answer = TornadoClient(dummy_server.url("Framework/Unknown")).receiveFile(dest, "abc")
    assert answer["OK"] is False
    assert "is not found" in answer["Message"]
    assert leftovers(tmp_path) == []


@stream_request_body
class CountingUpload(RequestHandler):
    """A bare streamed upload: counts and hashes the body as it arrives. It marks its answers
    as ours do, so the client streams to it."""

    def set_default_headers(self) -> None:
        self.set_header(peers.VERSION_HEADER, "test")

    def prepare(self) -> None:
        self.received = 0
        self.digest = hashlib.sha256()

    def data_received(self, chunk: bytes) -> None:
        self.received += len(chunk)
        self.digest.update(chunk)

    def post(self) -> None:
        value = {
            "query": {k: self.get_query_argument(k) for k in self.request.query_arguments},
            "content_type": self.request.headers.get("Content-Type"),
            "content_length": self.request.headers.get("Content-Length"),
            "received": self.received,
            "sha256": self.digest.hexdigest(),
        }
        self.set_header("Content-Type", "application/json")
        self.finish(encode(S_OK(value)))


@pytest.fixture(scope="module")
def upload_target(server_pki: ServerPKI) -> Iterator[str]:
    with bare_server(server_pki, [(r"/.*", CountingUpload)]) as server:
        yield server.url()


def test_send_file_streams_the_body(upload_target: str, proxy_env: None, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)
    path = tmp_path / "upload"
    path.write_bytes(data)
    result = TornadoClient(upload_target).sendFile(path, "myFileId")
    assert result["OK"], result
    value = result["Value"]
    assert value["received"] == len(data)
    assert value["sha256"] == hashlib.sha256(data).hexdigest()
    assert value["content_type"] == "application/octet-stream"
    assert value["content_length"] == str(len(data))
    assert value["query"]["method"] == "streamFromClient"
    assert decode(value["query"]["args"])[0] == ["myFileId", "", len(data)]
    assert result["rpcStub"][1:] == ("streamFromClient", ["myFileId", ""])


def test_send_file_from_a_file_object_position(upload_target: str, proxy_env: None) -> None:
    stream = io.BytesIO(b"headerPAYLOAD")
    stream.seek(6)  # what is before the position is not sent
    calls: list[tuple[int, int | None]] = []
    client = TornadoClient(upload_target)
    value = client.send_file(stream, "f", "tok", progress=lambda n, t: calls.append((n, t)))[
        "Value"
    ]
    assert value["received"] == 7
    assert decode(value["query"]["args"])[0] == ["f", "tok", 7]
    assert sum(n for n, _ in calls) == 7
    assert {total for _, total in calls} == {7}


def test_send_file_of_a_missing_path_is_an_s_error(upload_target: str, tmp_path: Path) -> None:
    result = TornadoClient(upload_target).sendFile(tmp_path / "nope", "f")
    assert (result["OK"], result["Errno"]) == (False, 2)
    assert "nope" in result["Message"]


class UploadService(TornadoService):
    auth_streamFromClient = ["authenticated"]

    def export_streamFromClient(self, fileId: str, token: str, size: int, stream: Any) -> Any:
        digest = hashlib.sha256()
        received = 0
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
            received += len(chunk)
        return S_OK({"fileId": fileId, "token": token, "size": size, "received": received})


def test_send_file_to_our_server(server_pki: ServerPKI, proxy_env: None, tmp_path: Path) -> None:
    path = tmp_path / "upload"
    path.write_bytes(os.urandom(2 * 1024 * 1024 + 1))
    with live_server(dummy_config(server_pki), {DUMMY: UploadService}) as server:
        result = TornadoClient(server.url(DUMMY)).sendFile(path, "id-1", "t")
    assert result["Value"] == {
        "fileId": "id-1",
        "token": "t",
        "size": 2 * 1024 * 1024 + 1,
        "received": 2 * 1024 * 1024 + 1,
    }
