"""CLI polish (issue 11 item 7): missing credentials, passphrases, proxy-info, pki user --force,
exit codes and help texts."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import click
import pytest
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
)

from tests.cli.conftest import USER_DN, CliPKI
from tests.cli.support import (
    COMMAND_TIMEOUT,
    TORNADOSERVICE,
    assert_error,
    child_env,
    free_port,
    run_cli,
)
from tornadoservice.cli.main import cli
from tornadoservice.identity.pem import load_pem_chain, load_private_key
from tornadoservice.identity.proxy import make_proxy, write_proxy_file

PASSPHRASE = "correct horse battery staple"


# --- call without a credential ------------------------------------------------------------


@pytest.mark.parametrize("command", ["call", "get-file"])
def test_no_credential_says_how_to_make_one(cli_pki: CliPKI, tmp_path: Path, command: str) -> None:
    url = f"https://127.0.0.1:{free_port()}/Test/Nothing"
    tail = ["ping"] if command == "call" else ["a.txt", str(tmp_path / "a.txt")]
    missing = tmp_path / "no-such-proxy.pem"
    env = child_env(X509_USER_PROXY=str(missing))
    result = subprocess.run(
        [TORNADOSERVICE, command, "--ca-dir", str(cli_pki.ca_dir), url, *tail],
        capture_output=True,
        text=True,
        env=env,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert_error(result, 2, f"no credential: the proxy file {missing} does not exist", "proxy-init")
    # With a credential the same command goes on, to the (absent) server: exit 3.
    with_proxy = run_cli(command, *cli_pki.credentials(), url, *tail)
    assert_error(with_proxy, 3, "cannot reach")


def test_an_explicit_missing_proxy_is_named(cli_pki: CliPKI, tmp_path: Path) -> None:
    url = f"https://127.0.0.1:{free_port()}/Test/Nothing"
    gone = tmp_path / "gone.pem"
    result = run_cli("call", "--proxy", gone, "--ca-dir", cli_pki.ca_dir, url, "ping")
    assert_error(result, 2, f"the proxy file {gone} does not exist")


# --- proxy-init with an encrypted key -----------------------------------------------------


@pytest.fixture(scope="module")
def encrypted_key(cli_pki: CliPKI, tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = load_private_key(cli_pki.user_key)
    path = tmp_path_factory.mktemp("encrypted") / "userkey.pem"
    path.write_bytes(
        key.private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(PASSPHRASE.encode())
        )
    )
    path.chmod(0o600)
    return path


def proxy_init(
    cli_pki: CliPKI, key: Path, out: Path, *extra: str | Path, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    argv = [TORNADOSERVICE, "proxy-init", "--cert", cli_pki.user_cert, "--key", key]
    return subprocess.run(
        [*map(str, argv), "--out", str(out), *map(str, extra)],
        input=stdin,
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def test_pass_stdin_unlocks_an_encrypted_key(
    cli_pki: CliPKI, encrypted_key: Path, tmp_path: Path
) -> None:
    out = tmp_path / "proxy.pem"
    result = proxy_init(cli_pki, encrypted_key, out, "--pass-stdin", stdin=PASSPHRASE + "\n")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no GetPassWarning, no prompt
    chain, _ = load_pem_chain(out)
    assert chain[1] == load_pem_chain(cli_pki.user_cert)[0][0]


def test_pass_file_unlocks_an_encrypted_key(
    cli_pki: CliPKI, encrypted_key: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "pass.txt"
    secret.write_text(PASSPHRASE + "\n")
    out = tmp_path / "proxy.pem"
    result = proxy_init(cli_pki, encrypted_key, out, "--pass-file", secret)
    assert result.returncode == 0, result.stderr
    assert out.is_file()


@pytest.mark.parametrize(
    ("extra", "stdin", "code", "message"),
    [
        ((), "", 2, "there is no terminal to ask for its passphrase"),
        (("--pass-stdin",), "wrong\n", 1, "cannot read the private key (wrong passphrase?)"),
        (("--pass-file", "MISSING"), "", 1, "No such file or directory"),
        (("--pass-stdin", "--pass-file", "MISSING"), "", 2, "not both"),
    ],
    ids=["no-terminal", "wrong", "missing-file", "both"],
)
def test_an_encrypted_key_without_its_passphrase(
    cli_pki: CliPKI,
    encrypted_key: Path,
    tmp_path: Path,
    extra: tuple[str, ...],
    stdin: str,
    code: int,
    message: str,
) -> None:
    out = tmp_path / "proxy.pem"
    args = [str(tmp_path / "missing.txt") if item == "MISSING" else item for item in extra]
    result = proxy_init(cli_pki, encrypted_key, out, *args, stdin=stdin)
    assert_error(result, code, message)
    assert "GetPassWarning" not in result.stderr
    assert not out.exists()


def test_a_missing_proxy_folder_is_made_and_said(cli_pki: CliPKI, tmp_path: Path) -> None:
    out = tmp_path / "new" / "proxy.pem"
    result = proxy_init(cli_pki, cli_pki.user_key, out)
    assert result.returncode == 0, result.stderr
    assert f"made the folder {out.parent} (mode 0700)" in result.stdout
    again = proxy_init(cli_pki, cli_pki.user_key, out)
    assert "made the folder" not in again.stdout


# --- proxy-info -----------------------------------------------------------------------------


def test_proxy_info_shows_the_proxy(cli_pki: CliPKI) -> None:
    result = run_cli("proxy-info", cli_pki.proxy)
    assert result.returncode == 0, result.stderr
    fields = dict(
        (name.strip(), value.strip())
        for name, _, value in (line.partition(" : ") for line in result.stdout.splitlines())
    )
    assert fields["identity"] == USER_DN
    assert fields["subject"].startswith(USER_DN + "/CN=")
    assert fields["DIRAC group"] == "dirac_user"
    assert fields["type"] == "RFC 3820 proxy"
    assert fields["VOMS"] == "no"
    hours = int(fields["timeleft"].split(":")[0])
    assert 10 <= hours <= 12  # made with --valid 12:00
    limited = run_cli("proxy-info", cli_pki.limited_proxy)
    assert "limited RFC 3820 proxy" in limited.stdout


def test_proxy_info_reads_x509_user_proxy(cli_pki: CliPKI) -> None:
    result = subprocess.run(
        [TORNADOSERVICE, "proxy-info"],
        capture_output=True,
        text=True,
        env=child_env(X509_USER_PROXY=str(cli_pki.proxy)),
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"path        : {cli_pki.proxy}" in result.stdout


def test_proxy_info_of_an_expired_proxy_exits_1(cli_pki: CliPKI, tmp_path: Path) -> None:
    [user], _ = load_pem_chain(cli_pki.user_cert)
    now = dt.datetime.now(dt.UTC)
    cert, key = make_proxy(
        user,
        load_private_key(cli_pki.user_key),
        [user],
        not_before=now - dt.timedelta(hours=2),
        not_after=now - dt.timedelta(hours=1),
    )
    path = write_proxy_file(tmp_path / "old.pem", cert, key, [user])
    result = run_cli("proxy-info", path)
    assert "timeleft    : 00:00:00" in result.stdout
    assert_error(result, 1, "the proxy expired at")


@pytest.mark.parametrize("content", [None, "not a certificate\n"], ids=["missing", "garbage"])
def test_proxy_info_of_no_proxy_fails(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "proxy.pem"
    if content is not None:
        path.write_text(content)
    result = run_cli("proxy-info", path)
    assert_error(result, 1, str(path))
    assert result.stdout == ""


# --- pki user --force -----------------------------------------------------------------------


def test_pki_user_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    assert run_cli("pki", "init", pki).returncode == 0
    assert run_cli("pki", "user", pki, USER_DN).returncode == 0
    key = pki / "users" / "ciuser" / "userkey.pem"
    before = key.read_bytes()
    refused = run_cli("pki", "user", pki, USER_DN)
    assert_error(refused, 1, "already exists", "--force")
    assert key.read_bytes() == before
    # Another name is fine; --force replaces the key.
    assert run_cli("pki", "user", pki, USER_DN, "--name", "second").returncode == 0
    forced = run_cli("pki", "user", pki, USER_DN, "--force")
    assert forced.returncode == 0, forced.stderr
    assert key.read_bytes() != before


# --- help texts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "fragments"),
    [
        (["serve"], ["--log-level", "Least severe log level"]),
        (["get-file"], ["TARGET FILE_ID DEST", "FILE_ID is the name"]),
        (["put-file"], ["TARGET PATH FILE_ID", "FILE_ID is the name"]),
        (["proxy-info"], ["[FILE]", "X509_USER_PROXY", "--vomsdir"]),
        (["proxy-init"], ["--pass-stdin", "--pass-file", "--voms", "--fqan"]),
        (["pki", "voms"], ["DIRECTORY VO", "--host"]),
        (["pki", "user"], ["--force"]),
        ([], ["Exit codes", "proxy-info"]),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) and value else None,
)
def test_help_texts(command: list[str], fragments: list[str]) -> None:
    result = run_cli(*command, "--help")
    assert result.returncode == 0, result.stderr
    flat = " ".join(result.stdout.split())
    for fragment in fragments:
        assert fragment in flat, result.stdout


def test_every_option_and_command_has_a_help_text() -> None:
    missing: list[str] = []

    def walk(command: click.Command, path: list[str]) -> None:
        if not command.help:
            missing.append(" ".join(path))
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
        for param in command.params:
            if isinstance(param, click.Option) and not param.help and not param.hidden:
                missing.append(f"{' '.join(path)} {param.opts[0]}")

    walk(cli, ["tornadoservice"])
    assert not missing, missing
