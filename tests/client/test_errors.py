"""HTTP errors become DIRAC's S_ERRORs (reference 8), for DIRAC's HTML pages and our JSON."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tornado.web import HTTPError, RequestHandler

from tests.client.conftest import bare_server
from tests.conftest import DUMMY
from tests.support.live_server import LiveServer
from tests.support.pki import ServerPKI
from tornadoservice import TornadoClient

# What DIRAC 9 answers for an unknown path (reference 5.4), shortened: the client never shows it.
DIRAC_404 = (
    "<!DOCTYPE html>\n<html><head><title>DIRAC - Not found.</title></head>"
    "<body>Nothing matches the given URI.</body></html>"
)


class DiracErrors(RequestHandler):
    """Answers like DIRAC's Tornado: tornado's default error page for the status in the path."""

    def post(self, status: str) -> None:
        if status == "404":
            self.set_status(404)
            self.finish(DIRAC_404)
            return
        raise HTTPError(int(status))

    def log_exception(self, *args: object) -> None:
        """The errors are what the test asks for: nothing to log."""


@pytest.fixture(scope="module")
def dirac_errors(server_pki: ServerPKI) -> Iterator[str]:
    with bare_server(server_pki, [(r"/Status/(\d+)", DiracErrors)]) as server:
        yield server.url("Status/")


@pytest.mark.parametrize(
    ("status", "errno", "message"),
    [
        ("401", 13, "Permission denied ( 13 : No access to {url})"),
        ("403", 13, "Permission denied ( 13 : No access to {url})"),
        ("501", 38, "Function not implemented ( 38 : doesNotExist is not implemented)"),
        (
            "500",
            0,
            "500 Server Error: Internal Server Error for url: {url}: "
            "<html><title>500: Internal Server Error</title>"
            "<body>500: Internal Server Error</body></html>",
        ),
        (
            "503",
            0,
            "503 Server Error: Service Unavailable for url: {url}: "
            "<html><title>503: Service Unavailable</title>"
            "<body>503: Service Unavailable</body></html>",
        ),
        ("404", 0, "404 Client Error: Not Found for url: {url}: {url} is not found"),
        (
            "400",
            0,
            "400 Client Error: Bad Request for url: {url}: "
            "<html><title>400: Bad Request</title><body>400: Bad Request</body></html>",
        ),
    ],
)
def test_dirac_html_errors(
    dirac_errors: str, proxy_env: None, status: str, errno: int, message: str
) -> None:
    url = dirac_errors + status
    result = TornadoClient(url).doesNotExist(1)
    assert result["OK"] is False
    assert (result["Errno"], result["Message"]) == (errno, message.format(url=url))
    assert result["CallStack"]
    assert result["rpcStub"][1:] == ("doesNotExist", [1])


def test_our_json_errors(dummy_server: LiveServer, proxy_env: None) -> None:
    url = dummy_server.url(DUMMY)
    client = TornadoClient(url)
    nobody = client.nobody()
    assert (nobody["Errno"], nobody["Message"]) == (
        13,
        f"Permission denied ( 13 : No access to {url})",
    )
    missing = client.doesNotExist()
    assert (missing["Errno"], missing["Message"]) == (
        38,
        "Function not implemented ( 38 : doesNotExist is not implemented)",
    )
    boom = client.boom()
    assert boom["Errno"] == 0
    assert boom["Message"].startswith(f"500 Server Error: Internal Server Error for url: {url}: ")
    assert "secret internal detail" not in boom["Message"]
    # A service's own S_ERROR is the answer itself, not an HTTP error.
    failed = client.fail("no such file")
    assert (failed["Errno"], failed["Message"]) == (
        2,
        "No such file or directory ( 2 : no such file)",
    )
