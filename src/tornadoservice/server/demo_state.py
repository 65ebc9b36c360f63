"""The files behind ``tornadoservice serve`` with no configuration, made once in a state directory.

``<state>/pki`` (a development CA, a host certificate for localhost/127.0.0.1/::1, a user
certificate), ``<state>/user-proxy.pem`` (an RFC 3820 proxy of that user, group ``demo_user``),
``<state>/data`` (files the demo streams, and those uploaded to it) and ``<state>/demo.cfg`` (the
configuration served). Existing files are reused; the proxy and certificates are renewed when they
are about to expire, and the host certificate is reissued when it does not name the address the
demo listens on (``serve --host``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from tornadoservice.identity.devpki import PRIVATE_DIR_MODE, DevPKI, expires_within, make_directory
from tornadoservice.identity.pem import load_pem_chain, load_private_key, write_public_file
from tornadoservice.identity.proxy import make_proxy, write_proxy_file

DEMO_SERVICE = "Demo/Greeter"
DEMO_HOST = "127.0.0.1"
SHIPPED_FILES = ("hello.txt", "random-4MiB.bin")
"""The demo's own files, which an upload may not replace."""
_WILDCARDS = ("", "0.0.0.0", "::")
DEMO_USER_DN = "/C=ch/O=tornadoservice/OU=dev/CN=demo"
DEMO_GROUP = "demo_user"
PROXY_LIFETIME = dt.timedelta(days=7)
RENEW_MARGIN = dt.timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class DemoFiles:
    state_dir: Path
    config: Path
    proxy: Path
    ca_dir: Path
    user_cert: Path
    user_key: Path


def _config_text(pki: DevPKI, host_cert: Path, host_key: Path, data_dir: Path) -> str:
    return f"""# Made by 'tornadoservice serve' for the demo; remove the state directory to restart.
# (Regenerated at every start: edit a copy and use 'serve --config' instead.)
DIRAC
{{
  VirtualOrganization = demo
  Security
  {{
    CertFile = {host_cert}
    KeyFile = {host_key}
    CALocation = {pki.ca_dir}
  }}
}}
Systems
{{
  Tornado
  {{
    Port = 8443
  }}
  Demo
  {{
    Services
    {{
      Greeter
      {{
        Protocol = https
        HandlerPath = tornadoservice.server.demo:DemoHandler
        DataDir = {data_dir}
      }}
    }}
    URLs
    {{
      Greeter = https://127.0.0.1:8443/{DEMO_SERVICE}
    }}
  }}
}}
Registry
{{
  DefaultGroup = {DEMO_GROUP}
  Users
  {{
    demo
    {{
      DN = {DEMO_USER_DN}
    }}
  }}
  Groups
  {{
    {DEMO_GROUP}
    {{
      Users = demo
      Properties = NormalUser
      VO = demo
    }}
    demo_admin
    {{
      Users =
      Properties = ServiceAdministrator
      VO = demo
    }}
  }}
  Hosts
  {{
    localhost
    {{
      DN = /C=ch/O=tornadoservice/OU=dev/CN=localhost
      Properties = TrustedHost
    }}
  }}
}}
"""


def _host_names(host: str) -> tuple[list[str], list[str]]:
    """DNS names and IP addresses the host certificate must hold for a demo on ``host``."""
    dns_names, ips = ["localhost"], ["127.0.0.1", "::1"]
    if host not in _WILDCARDS:
        try:
            address = str(ipaddress.ip_address(host))
        except ValueError:
            if host.lower() not in dns_names:
                dns_names.append(host.lower())
        else:
            if address not in ips:
                ips.append(address)
    return dns_names, ips


def _names_missing(cert_path: Path, dns_names: list[str], ips: list[str]) -> bool:
    try:
        [cert, *_] = load_pem_chain(cert_path)[0]
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return True
    have_dns = {name.lower() for name in san.get_values_for_type(x509.DNSName)}
    have_ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return not (
        set(dns_names) <= have_dns and {str(ipaddress.ip_address(i)) for i in ips} <= have_ips
    )


def ensure_demo(state_dir: Path, host: str = DEMO_HOST) -> DemoFiles:
    """Create (or renew) whatever the demo needs under ``state_dir``, for a server listening on
    ``host``; return where it is."""
    state_dir = state_dir.expanduser().resolve()
    # 0700 whatever the umask (it holds the CA's key); missing parents too, as XDG asks.
    make_directory(state_dir, PRIVATE_DIR_MODE, created_only=True)
    pki = DevPKI(state_dir / "pki")
    if not pki.exists():
        pki.create("tornadoservice demo CA")
    host_dir = pki.directory / "hosts" / "localhost"
    host_cert, host_key = host_dir / "hostcert.pem", host_dir / "hostkey.pem"
    dns_names, ips = _host_names(host)
    if (
        expires_within(host_cert, RENEW_MARGIN)
        or not host_key.is_file()
        or _names_missing(host_cert, dns_names, ips)
    ):
        issued = pki.issue_host("localhost", dns_names=dns_names, ip_addresses=ips)
        host_cert, host_key = issued.cert, issued.key
    user_dir = pki.directory / "users" / "demo"
    user_cert, user_key = user_dir / "usercert.pem", user_dir / "userkey.pem"
    if expires_within(user_cert, PROXY_LIFETIME) or not user_key.is_file():
        issued = pki.issue_user(DEMO_USER_DN, name="demo")
        user_cert, user_key = issued.cert, issued.key
    proxy = state_dir / "user-proxy.pem"
    if expires_within(proxy, RENEW_MARGIN):
        certs, _ = load_pem_chain(user_cert)
        proxy_cert, proxy_key = make_proxy(
            certs[0], load_private_key(user_key), certs, group=DEMO_GROUP, lifetime=PROXY_LIFETIME
        )
        write_proxy_file(proxy, proxy_cert, proxy_key, certs)
    data_dir = make_directory(state_dir / "data", PRIVATE_DIR_MODE)
    hello = data_dir / "hello.txt"
    if not hello.exists():
        write_public_file(hello, b"Hello from the tornadoservice demo!\n" * 3)
    sample = data_dir / "random-4MiB.bin"
    if not sample.exists():
        write_public_file(sample, os.urandom(4 * 1024 * 1024))
    config = state_dir / "demo.cfg"
    write_public_file(config, _config_text(pki, host_cert, host_key, data_dir).encode())
    return DemoFiles(state_dir, config, proxy, pki.ca_dir, user_cert, user_key)
