"""The transport: a ``requests`` session whose HTTPS connections use our own ``SSLContext``.

Policy (which URL, which credentials, retries) lives in the client; this module only makes sure
every connection verifies the server against the grid CA directory (not the public CA bundle)
and presents the caller's certificate chain, proxy included.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from tornadoservice.identity.tls import client_ssl_context


class SSLContextAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connection pools all use one prepared ``SSLContext``."""

    def __init__(self, ssl_context: ssl.SSLContext, **kwargs: Any) -> None:
        self._ssl_context = ssl_context
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._ssl_context
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["ssl_context"] = self._ssl_context
        return super().proxy_manager_for(*args, **kwargs)


def make_session(
    ca_dir: Path | None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
    *,
    pool_size: int = 10,
    verify_server: bool = True,
) -> requests.Session:
    """A session trusting ``ca_dir`` and presenting ``cert_file``/``key_file`` (or a proxy file).

    ``verify_server=False`` is DIRAC's ``skipCACheck``: the server's certificate and host name
    are not checked, so anyone on the path can impersonate the server. Never use it for
    anything that matters; urllib3 warns (``InsecureRequestWarning``) on every such request.
    """
    context = client_ssl_context(
        ca_dir=ca_dir if verify_server else None, cert_file=cert_file, key_file=key_file
    )
    session = requests.Session()
    # Environment proxies would route loopback RPCs through an HTTP proxy: never wanted here.
    session.trust_env = False
    if verify_server:
        # requests would otherwise add the public CA bundle to the trust store of our context.
        session.verify = str(ca_dir) if ca_dir is not None else True
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        session.verify = False
    adapter = SSLContextAdapter(context, pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("https://", adapter)
    return session
