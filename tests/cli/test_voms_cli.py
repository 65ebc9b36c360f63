"""VO rules end to end: ``pki voms``, ``proxy-init --voms`` and a real ``serve`` with VOMSDir."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.support import assert_error, run_cli, running_server

USER_DN = "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser"
VO_HANDLER = """\
from tornadoservice import S_OK, TornadoService


class VOHandler(TornadoService):
    auth_members = ["vo:testvo"]

    def export_members(self):
        creds = self.getRemoteCredentials()
        return S_OK({"group": creds["group"], "VO": creds["VO"]})
"""


def _ok(*args: str | Path) -> str:
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


@dataclass(frozen=True)
class VOSite:
    url: str
    pki: Path
    base: Path

    @property
    def user(self) -> list[str | Path]:
        user = self.pki / "users" / "ciuser"
        return ["--cert", user / "usercert.pem", "--key", user / "userkey.pem"]

    def call(self, proxy: Path, method: str) -> tuple[int, str, str]:
        result = run_cli(
            "call", "--proxy", proxy, "--ca-dir", self.pki / "certificates", self.url, method
        )
        return result.returncode, result.stdout, result.stderr


def site_config(pki: Path) -> str:
    return f"""\
DIRAC
{{
  Security
  {{
    CertFile = {pki}/hosts/localhost/hostcert.pem
    KeyFile = {pki}/hosts/localhost/hostkey.pem
    CALocation = {pki}/certificates
    VOMSDir = {pki}/vomsdir
  }}
}}
Systems
{{
  Test
  {{
    Services
    {{
      VO
      {{
        Protocol = https
        HandlerPath = vo.py
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
      DN = {USER_DN}
    }}
  }}
  Groups
  {{
    dirac_user
    {{
      Users = ciuser
    }}
    testvo_user
    {{
      Users = ciuser
      VO = testvo
    }}
  }}
}}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VOSite]:
    base = tmp_path_factory.mktemp("vo-site")
    pki = base / "pki"
    _ok("pki", "init", pki)
    _ok("pki", "host", pki, "localhost", "--ip", "127.0.0.1")
    _ok("pki", "user", pki, USER_DN)
    made = _ok("pki", "voms", pki, "testvo", "--host", "voms.example.org")
    assert f"VOMSDir (/DIRAC/Security/VOMSDir): {pki / 'vomsdir'}" in made
    (base / "vo.py").write_text(VO_HANDLER)
    config = base / "site.cfg"
    config.write_text(site_config(pki))
    args: list[str | Path] = ["serve", "--config", config, "--port", "0", "--host", "127.0.0.1"]
    with running_server(args, output_dir=base / "logs") as server:
        match = server.wait_for(r"serving Test/VO on (https://\S+)", stream="stderr")
        yield VOSite(match[1], pki, base)
    assert "Traceback" not in server.stderr


def voms_proxy(site: VOSite, name: str, group: str, *extra: str | Path) -> Path:
    out = site.base / f"{name}.pem"
    _ok("proxy-init", *site.user, "-g", group, "--out", out, *extra)
    return out


def test_a_vo_rule_admits_a_voms_proxy_and_whoami_shows_the_verified_vo(site: VOSite) -> None:
    fqan = "/testvo/Role=production/Capability=NULL"
    voms = ["--voms", "testvo", "--voms-pki", site.pki, "--fqan", fqan]
    member = voms_proxy(site, "member", "testvo_user", *voms)
    code, out, err = site.call(member, "members")
    assert code == 0, err
    assert json.loads(out) == {"group": "testvo_user", "VO": "testvo"}
    # The key is 2048 bits (OpenSSL 3 refuses DIRAC's 1024-bit test proxy), the AC verified.
    info = _ok("proxy-info", member, "--vomsdir", site.pki / "vomsdir")
    assert "2048 bits (RSA)" in info
    assert "testvo (verified)" in info and fqan in info

    # In a group without a VO, the server's VO comes from the AC: only once it verified.
    in_plain_group = voms_proxy(site, "plain-group", "dirac_user", *voms)
    code, out, err = site.call(in_plain_group, "whoami")
    assert code == 0, err
    assert json.loads(out)["VO"] == "testvo"


def test_an_ac_from_an_unlisted_voms_server_is_not_believed(site: VOSite) -> None:
    rogue = site.base / "rogue"
    _ok("pki", "init", rogue)
    _ok("pki", "voms", rogue, "testvo", "--host", "voms.example.org")
    forged = voms_proxy(site, "forged", "dirac_user", "--voms", "testvo", "--voms-pki", rogue)
    code, out, err = site.call(forged, "whoami")
    assert code == 0, err
    assert json.loads(out)["VO"] == ""
    info = _ok("proxy-info", forged, "--vomsdir", site.pki / "vomsdir")
    assert "VOMS        : (none) (not verified:" in info


def test_a_proxy_without_voms_outside_the_vo_is_refused(site: VOSite) -> None:
    plain = voms_proxy(site, "plain", "dirac_user")
    code, _, err = site.call(plain, "members")
    assert code == 1, err
    assert "Permission denied" in err, err  # the server's 403, as DIRAC clients show it
    info = _ok("proxy-info", plain)
    assert "VOMS        : no" in info


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--voms", "testvo"], 2, "--voms needs --voms-pki"),
        (["--fqan", "/testvo"], 2, "--voms-pki and --fqan need --voms VO"),
        (["--voms", "othervo", "--voms-pki", "PKI"], 1, "no VOMS server for the VO 'othervo'"),
        (
            ["--voms", "testvo", "--voms-pki", "PKI", "--fqan", "/other/Role=NULL"],
            2,
            "is not in the VO 'testvo'",
        ),
    ],
)
def test_bad_voms_requests_make_no_proxy(
    site: VOSite, extra: list[str], code: int, message: str
) -> None:
    out = site.base / "never.pem"
    args = [str(site.pki) if item == "PKI" else item for item in extra]
    result = run_cli("proxy-init", *site.user, "--out", out, *args)
    assert_error(result, code, message)
    assert not out.exists()
