"""Streamed uploads: ``export_streamFromClient(fileId, token, size, stream)`` reads the body as
it arrives, with constant memory and flow control back to the client."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from tests.conftest import DUMMY, dummy_config
from tests.support.live_server import LiveServer, live_server
from tests.support.memory import rss_bytes
from tests.support.pki import ClientCred, ServerPKI
from tornadoservice import S_ERROR, S_OK, TornadoService
from tornadoservice.server.upload import UploadAbortedError

Sessions = Callable[[ClientCred | None], requests.Session]


class UploadService(TornadoService):
    aborted: list[BaseException] = []
    auth_streamFromClient = ["authenticated"]

    def export_streamFromClient(self, fileId: str, token: str, size: int, stream: Any) -> Any:
        if fileId == "early":
            return S_ERROR("refused before reading")
        if fileId == "slow":
            time.sleep(1.0)  # the client must be held back meanwhile, not buffered in memory
        digest = hashlib.sha256()
        received = 0
        try:
            while chunk := stream.read(1024 * 1024):
                digest.update(chunk)
                received += len(chunk)
        except UploadAbortedError as exc:
            type(self).aborted.append(exc)
            raise
        return S_OK({"fileId": fileId, "size": received, "sha256": digest.hexdigest()})


@pytest.fixture(scope="module")
def upload_server(server_pki: ServerPKI) -> Iterator[LiveServer]:
    with live_server(dummy_config(server_pki), {DUMMY: UploadService}) as server:
        yield server


def upload_url(server: LiveServer, file_id: str, size: int) -> str:
    query = urlencode({"method": "streamFromClient", "args": json.dumps([file_id, "", size])})
    return f"{server.url(DUMMY)}?{query}"


class Pattern:
    """A file-like body of ``size`` pseudo-random bytes, generated as it is read."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.sent = 0
        self.digest = hashlib.sha256()
        self.block = os.urandom(1024 * 1024)

    def read(self, n: int = -1) -> bytes:
        n = min(n if n > 0 else len(self.block), len(self.block), self.size - self.sent)
        chunk = self.block[:n]
        self.sent += n
        self.digest.update(chunk)
        return chunk

    def __len__(self) -> int:
        return self.size


def post_stream(session: requests.Session, url: str, body: Any, size: int) -> requests.Response:
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
    return session.post(url, data=body, headers=headers, timeout=120)


def test_a_file_is_uploaded_intact(
    upload_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    body = Pattern(20 * 1024 * 1024 + 123)
    response = post_stream(
        session_for(server_pki.proxy), upload_url(upload_server, "f1", body.size), body, body.size
    )
    assert response.status_code == 200, response.text
    assert json.loads(response.text)["Value"] == {
        "fileId": "f1",
        "size": body.size,
        "sha256": body.digest.hexdigest(),
    }


def test_a_slow_reader_holds_the_client_back_with_flat_memory(
    upload_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    # Client and server share this process: buffering the body anywhere would show in RSS.
    session = session_for(server_pki.proxy)
    warm = Pattern(4 * 1024 * 1024)
    post_stream(session, upload_url(upload_server, "warm", warm.size), warm, warm.size)
    body = Pattern(384 * 1024 * 1024)
    before = rss_bytes()
    peak = [before]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], rss_bytes())

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        response = post_stream(
            session, upload_url(upload_server, "slow", body.size), body, body.size
        )
    finally:
        done.set()
        watcher.join(10)
    assert json.loads(response.text)["Value"]["sha256"] == body.digest.hexdigest()
    assert peak[0] - before < 64 * 1024 * 1024, f"RSS grew by {(peak[0] - before) >> 20} MiB"


def test_announced_size_must_match_the_body(
    upload_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    body = b"x" * 1000
    response = post_stream(
        session_for(server_pki.proxy), upload_url(upload_server, "f2", 999), body, len(body)
    )
    assert response.status_code == 400
    assert "the body has 1000 bytes but the arguments say 999" in response.text


@pytest.mark.parametrize(("cred_name", "status"), [(None, 401), ("stranger_proxy", 403)])
def test_uploads_are_refused_before_the_method_runs(
    upload_server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    cred_name: str | None,
    status: int,
) -> None:
    cred = getattr(server_pki, cred_name) if cred_name else None
    body = b"y" * 50_000
    response = post_stream(
        session_for(cred), upload_url(upload_server, "f3", len(body)), body, len(body)
    )
    assert response.status_code == status


def test_a_method_that_returns_early_answers_and_drops_the_rest(
    upload_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    session = session_for(server_pki.proxy)
    body = Pattern(16 * 1024 * 1024)
    response = post_stream(session, upload_url(upload_server, "early", body.size), body, body.size)
    assert json.loads(response.text) == {
        "OK": False,
        "Errno": 0,
        "Message": "refused before reading",
    }
    # The connection is still usable for the next call.
    again = session.post(
        upload_server.url(DUMMY), data={"method": "echo", "args": "[1]"}, timeout=30
    )
    assert again.text == '{"OK": true, "Value": 1}'


def test_a_client_that_goes_away_mid_upload_aborts_the_reader(
    upload_server: LiveServer, server_pki: ServerPKI
) -> None:
    UploadService.aborted.clear()
    context = ssl.create_default_context(capath=str(server_pki.ca_dir))
    context.load_cert_chain(str(server_pki.proxy.cert))
    size = 10 * 1024 * 1024
    path = upload_url(upload_server, "gone", size).split(str(upload_server.port), 1)[1]
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n"
    )
    with (
        socket.create_connection(("127.0.0.1", upload_server.port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(head.encode() + b"z" * (1024 * 1024))
        time.sleep(0.3)
    deadline = time.monotonic() + 10
    while not UploadService.aborted and time.monotonic() < deadline:
        time.sleep(0.05)
    assert UploadService.aborted, "the reader was not told that the upload broke off"
    assert upload_server.server.state.in_flight == 0
