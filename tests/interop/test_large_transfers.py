"""1 GiB each way between a real ``tornadoservice serve`` process and a real client process,
with the peak memory (VmHWM from /proc) of each growing by less than 64 MiB, content checked by
hash. Memory, not time: stable on a shared machine."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.support import running_server
from tests.support.pki import ServerPKI

GIB = 1024 * 1024 * 1024
LIMIT = 64 * 1024 * 1024
BLOCK_SEED = b"tornadoservice large transfer"

HANDLER = """
import hashlib
from tornadoservice import S_OK, TornadoService

def _block():
    out, counter = b"", 0
    while len(out) < 1024 * 1024:
        out += hashlib.sha256(SEED + counter.to_bytes(8, "big")).digest()
        counter += 1
    return out

SEED = {seed!r}

class BigHandler(TornadoService):
    auth_streamToClient = ["authenticated"]
    auth_streamFromClient = ["authenticated"]

    def export_streamToClient(self, fileId, token=""):
        block = _block()
        return (block for _ in range(int(fileId)))

    def export_streamFromClient(self, fileId, token, size, stream):
        digest, received = hashlib.sha256(), 0
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
            received += len(chunk)
        return S_OK({{"size": received, "sha256": digest.hexdigest()}})
"""

CLIENT = """
import hashlib, json, sys
from tornadoservice import TornadoClient

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

url, proxy, mode, path = sys.argv[1:5]
client = TornadoClient(url, proxyLocation=proxy)
assert client.echo(1)["OK"]  # warm: imports, TLS, pools
before = status("VmRSS:")
if mode == "download":
    result = client.receiveFile(path, sys.argv[5], "")
else:
    result = client.sendFile(path, "upload")
peak = status("VmHWM:")
result.pop("rpcStub", None)
print(json.dumps({"result": result, "before": before, "peak": peak}))
"""


def block() -> bytes:
    out, counter = b"", 0
    while len(out) < 1024 * 1024:
        out += hashlib.sha256(BLOCK_SEED + counter.to_bytes(8, "big")).digest()
        counter += 1
    return out


def server_memory(pid: int) -> tuple[int, int]:
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
    return values["VmRSS"], values["VmHWM"]


@pytest.fixture(scope="module")
def big_server(
    server_pki: ServerPKI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, int]]:
    base = tmp_path_factory.mktemp("big")
    (base / "BigHandler.py").write_text(HANDLER.format(seed=BLOCK_SEED))
    cfg = base / "big.cfg"
    cfg.write_text(
        textwrap.dedent(
            f"""
            DIRAC
            {{
              Security
              {{
                CertFile = {server_pki.host_cert}
                KeyFile = {server_pki.host_key}
                CALocation = {server_pki.ca_dir}
              }}
            }}
            Systems
            {{
              Test
              {{
                Services
                {{
                  Big
                  {{
                    Protocol = https
                    HandlerPath = BigHandler.py
                  }}
                }}
              }}
            }}
            Registry
            {{
              DefaultGroup = dirac_user
              Users
              {{
                ciuser
                {{
                  DN = /C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser
                }}
              }}
              Groups
              {{
                dirac_user
                {{
                  Users = ciuser
                  Properties = NormalUser
                }}
              }}
            }}
            """
        )
    )
    args: list[str | Path] = ["serve", "--config", cfg, "--port", "0", "--host", "127.0.0.1"]
    with running_server(args, output_dir=base / "logs") as server:
        url = server.wait_for(r"serving Test/Big on (https://\S+)", stream="stderr")[1]
        yield url.replace("https://127.0.0.1:", "https://localhost:"), server.process.pid


def run_client(server_pki: ServerPKI, url: str, *args: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("X509_")}
    env["X509_CERT_DIR"] = str(server_pki.ca_dir)
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, url, str(server_pki.proxy.cert), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_download_of_1_gib_keeps_both_sides_flat(
    big_server: tuple[str, int], server_pki: ServerPKI, tmp_path: Path
) -> None:
    url, pid = big_server
    server_before, _ = server_memory(pid)
    dest = tmp_path / "downloaded.bin"
    report = run_client(server_pki, url, "download", str(dest), "1024")
    _, server_peak = server_memory(pid)
    assert report["result"] == {"OK": True, "Value": None}
    assert dest.stat().st_size == GIB
    expected = hashlib.sha256()
    one = block()
    for _ in range(1024):
        expected.update(one)
    actual = hashlib.sha256()
    with dest.open("rb") as handle:
        while chunk := handle.read(8 * 1024 * 1024):
            actual.update(chunk)
    assert actual.hexdigest() == expected.hexdigest()
    client_growth = int(report["peak"]) - int(report["before"])  # type: ignore[call-overload]
    print(f"client +{client_growth >> 20} MiB, server +{(server_peak - server_before) >> 20} MiB")
    assert client_growth < LIMIT, f"client grew by {client_growth >> 20} MiB"
    assert server_peak - server_before < LIMIT, (
        f"server grew by {(server_peak - server_before) >> 20} MiB"
    )


def test_upload_of_1_gib_keeps_both_sides_flat(
    big_server: tuple[str, int], server_pki: ServerPKI, tmp_path: Path
) -> None:
    url, pid = big_server
    source = tmp_path / "upload.bin"
    expected = hashlib.sha256()
    one = block()
    with source.open("wb") as out:
        for _ in range(1024):
            out.write(one)
            expected.update(one)
    server_before, _ = server_memory(pid)
    report = run_client(server_pki, url, "upload", str(source))
    _, server_peak = server_memory(pid)
    assert report["result"] == {
        "OK": True,
        "Value": {"size": GIB, "sha256": expected.hexdigest()},
    }
    client_growth = int(report["peak"]) - int(report["before"])  # type: ignore[call-overload]
    print(f"client +{client_growth >> 20} MiB, server +{(server_peak - server_before) >> 20} MiB")
    assert client_growth < LIMIT, f"client grew by {client_growth >> 20} MiB"
    assert server_peak - server_before < LIMIT, (
        f"server grew by {(server_peak - server_before) >> 20} MiB"
    )
