"""``tornadoservice init DIR``: a complete development setup to start from.

``DIR`` gets a development PKI (``pki/``: a CA with its CRL, a host certificate for localhost,
127.0.0.1 and ::1, a user certificate), a proxy of that user (``user-proxy.pem``), an example
service (``catalog.py``: a sync method, an async method, ``types_``, a download and an upload),
the files it serves (``files/``) and a commented ``dirac.cfg`` naming all of them, which
``tornadoservice serve --config DIR/dirac.cfg`` serves as is. The printed lines call it.

``DIR`` must be missing or empty: nothing is overwritten, and on a failure nothing is left
half made inside it.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import click

from tornadoservice.cli.errors import CLIError
from tornadoservice.cli.hints import program, quote
from tornadoservice.identity.devpki import PUBLIC_DIR_MODE, DevPKI, DevPKIError, make_directory
from tornadoservice.identity.pem import load_pem_chain, load_private_key, write_public_file
from tornadoservice.identity.proxy import make_proxy, write_proxy_file

SERVICE = "Example/Catalog"
USER_DN = "/C=ch/O=tornadoservice/OU=dev/CN=dev"
HOST_DN = "/C=ch/O=tornadoservice/OU=dev/CN=localhost"
GROUP = "dev_user"
PROXY_LIFETIME = dt.timedelta(days=7)

EXAMPLE_SERVICE = '''\
"""An example service made by 'tornadoservice init': a small file catalogue. Edit and restart."""

import asyncio
import errno
from pathlib import Path

from tornadoservice import S_ERROR, S_OK, TornadoService


class CatalogHandler(TornadoService):
    @classmethod
    def initializeHandler(cls, serviceInfo):
        # Once per service, in a worker thread, before its first call.
        cls.log.info("catalog starting", serviceInfo["URL"])
        return S_OK()

    # Sync: runs in a bounded thread pool, so it may block. types_ checks the arguments
    # (a wrong type is refused with 400 before the method runs).
    auth_size = ["authenticated"]
    types_size = [str]

    def export_size(self, name):
        path = self._path(name)
        if path is None or not path.is_file():
            return S_ERROR(errno.ENOENT, name)
        return S_OK(path.stat().st_size)

    # Async: runs on the event loop, so it must not block; blocking work goes to a thread.
    auth_listFiles = ["all"]
    types_listFiles = []

    async def export_listFiles(self):
        return S_OK(await asyncio.to_thread(self._names))

    # Download ('tornadoservice get-file', TornadoClient.receiveFile): streamed in chunks.
    auth_streamToClient = ["authenticated"]

    def export_streamToClient(self, fileId, token=""):
        path = self._path(fileId)
        if path is None or not path.is_file():
            return S_ERROR(errno.ENOENT, fileId)
        return path.open("rb")

    # Upload ('tornadoservice put-file', TornadoClient.sendFile): read as it arrives.
    auth_streamFromClient = ["authenticated"]

    def export_streamFromClient(self, fileId, token, size, stream):
        path = self._path(fileId)
        if path is None:
            return S_ERROR(errno.EINVAL, f"not a plain file name: {fileId!r}")
        with path.open("wb") as out:
            while chunk := stream.read(1024 * 1024):
                out.write(chunk)
        return S_OK(size)

    def _path(self, name):
        """The file called name in DataDir; None for a path or a hidden name."""
        if not isinstance(name, str) or name != Path(name).name or name.startswith("."):
            return None
        return Path(self.getCSOption("DataDir", "")) / name

    def _names(self):
        return sorted(p.name for p in Path(self.getCSOption("DataDir", "")).iterdir())
'''


@dataclass(frozen=True, slots=True)
class InitFiles:
    directory: Path
    config: Path
    service: Path
    proxy: Path
    ca_dir: Path
    data_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/{SERVICE}"


def _config_text(files: InitFiles, host_cert: Path, host_key: Path, made: dt.datetime) -> str:
    return f"""\
# Made by 'tornadoservice init' on {made:%Y-%m-%d}: a complete configuration for development.
# Serve it with: tornadoservice serve --config {files.config}
# The .cfg format has no inline comments: a comment is a line of its own that starts with '#'.
DIRAC
{{
  # The virtual organisation of the groups below.
  VirtualOrganization = dev
  Security
  {{
    # The server's certificate and key, and the CA directory (certificates and CRLs) that
    # every caller's certificate is checked against.
    CertFile = {host_cert}
    KeyFile = {host_key}
    CALocation = {files.ca_dir}
  }}
}}
Systems
{{
  Tornado
  {{
    # The one HTTPS port of every service ('serve --port' overrides it).
    Port = {files.port}
  }}
  Example
  {{
    Services
    {{
      Catalog
      {{
        Protocol = https
        # A .py file relative to this .cfg, or a module[:Class].
        HandlerPath = catalog.py
        # Read by the service with self.getCSOption("DataDir", "").
        DataDir = {files.data_dir}
        # Authorization
        # {{
        #   size = authenticated
        # }}
      }}
    }}
    # Where clients find the services: 'tornadoservice call --config dirac.cfg Example/Catalog'.
    URLs
    {{
      Catalog = {files.url}
    }}
  }}
}}
Registry
{{
  # The group of a caller whose proxy names none.
  DefaultGroup = {GROUP}
  Users
  {{
    dev
    {{
      DN = {USER_DN}
    }}
  }}
  Groups
  {{
    {GROUP}
    {{
      Users = dev
      Properties = NormalUser
      VO = dev
    }}
    dev_admin
    {{
      Users = dev
      Properties = ServiceAdministrator
      VO = dev
    }}
  }}
  Hosts
  {{
    # The server's own certificate, so that it may call other services as a host.
    localhost
    {{
      DN = {HOST_DN}
      Properties = TrustedHost
    }}
  }}
}}
"""


def make_setup(directory: Path, *, port: int = 8443) -> InitFiles:
    """Write everything into ``directory`` (missing or empty); raise :class:`CLIError` if not."""
    directory = directory.expanduser().absolute()
    if directory.exists() and not directory.is_dir():
        raise CLIError(f"{directory} exists and is not a directory", 2)
    created = not directory.exists()
    if not created and any(directory.iterdir()):
        raise CLIError(f"{directory} is not empty: give a new or empty directory", 2)
    files = InitFiles(
        directory=directory,
        config=directory / "dirac.cfg",
        service=directory / "catalog.py",
        proxy=directory / "user-proxy.pem",
        ca_dir=directory / "pki" / "certificates",
        data_dir=directory / "files",
        port=port,
    )
    try:
        _write(files)
    except (DevPKIError, OSError) as exc:
        _undo(directory, created)
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CLIError(f"cannot make {directory}: {detail}") from exc
    return files


def _write(files: InitFiles) -> None:
    make_directory(files.directory, PUBLIC_DIR_MODE)
    pki = DevPKI(files.directory / "pki")
    pki.create("tornadoservice init development CA")
    host = pki.issue_host("localhost", dns_names=["localhost"], ip_addresses=["127.0.0.1", "::1"])
    user = pki.issue_user(USER_DN, name="dev")
    certs, _ = load_pem_chain(user.cert)
    proxy_cert, proxy_key = make_proxy(
        certs[0], load_private_key(user.key), certs, group=GROUP, lifetime=PROXY_LIFETIME
    )
    write_proxy_file(files.proxy, proxy_cert, proxy_key, certs)
    make_directory(files.data_dir, PUBLIC_DIR_MODE)
    write_public_file(files.data_dir / "hello.txt", b"Hello from tornadoservice init!\n")
    write_public_file(files.service, EXAMPLE_SERVICE.encode())
    made = dt.datetime.now(dt.UTC)
    write_public_file(files.config, _config_text(files, host.cert, host.key, made).encode())


def _undo(directory: Path, created: bool) -> None:
    """Leave ``directory`` as it was: removed if this command made it, emptied otherwise."""
    if created:
        shutil.rmtree(directory, ignore_errors=True)
        return
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def instructions(files: InitFiles) -> str:
    cmd = program()
    config, proxy = quote(files.config), quote(files.proxy)
    client = f"{cmd} call --config {config} --proxy {proxy} {SERVICE}"
    transfer = f"--config {config} --proxy {proxy} {SERVICE}"
    upload = quote(files.directory / "upload-me.txt")
    download = quote(files.directory / "downloaded.txt")
    return "\n".join(
        [
            f"tornadoservice init: made {files.directory}",
            f"  dirac.cfg, catalog.py ({SERVICE}), pki/ (CA, host and user certificates),",
            f"  user-proxy.pem (user {USER_DN}, group {GROUP}), files/",
            "Serve it:",
            f"  {cmd} serve --config {config}",
            "Then, from another shell:",
            f"  {client} size '\"hello.txt\"'",
            f"  {client} listFiles",
            f"  {client} size 42            # refused: 400, types_size wants a string",
            f"  {cmd} get-file {transfer} hello.txt {download}",
            f"  echo 'some text' > {upload}",
            f"  {cmd} put-file {transfer} {upload} uploaded.txt",
        ]
    )


@click.command("init")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8443,
    show_default=True,
    help="The HTTPS port written into dirac.cfg.",
)
def init(directory: Path, port: int) -> None:
    """Make DIRECTORY: dirac.cfg, an example service, a development PKI and a user proxy."""
    click.echo(instructions(make_setup(directory, port=port)))
