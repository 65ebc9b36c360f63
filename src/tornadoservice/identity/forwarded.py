"""A client certificate forwarded by a TLS-terminating load balancer (nginx) in HTTP headers.

Behind a balancer that terminates TLS, the service only sees the balancer's connection. nginx
can pass on what it verified::

    X-SSL-CERT:          $ssl_client_escaped_cert   (URL-escaped PEM of the client's leaf)
    X-Ssl_client_verify: $ssl_client_verify         (SUCCESS, NONE or FAILED:<reason>)

These headers are trivially forged by anyone who can reach the service directly, so they count
**only** when the direct peer of the connection is one of the configured trusted proxies
(opt-in: an empty set turns the feature off). DIRAC honoured them from any address until 2022
(DIRAC#6445). From a trusted proxy the headers are the *only* source of the caller's identity:
the proxy's own connection never stands for a caller, so a request the balancer forwards
without a client certificate is anonymous, not the balancer.

What arrives from a trusted proxy, and what :func:`forwarded_identity` makes of it:

* ``SUCCESS`` and one certificate: the identity of that certificate, when it is within its
  validity and is not an RFC 3820 proxy;
* ``NONE`` (or neither header): no client certificate;
* anything else (``FAILED:...``, a certificate without ``SUCCESS``, ``SUCCESS`` without a
  certificate, a repeated header, a malformed PEM, a proxy): :class:`ForwardedCertError`,
  with the reason, which the server turns into a 401.

nginx verifies the certificate against its own CA directory but cannot verify RFC 3820
proxies, and ``$ssl_client_escaped_cert`` holds the leaf only: a forwarded proxy could not be
tied to its user, so it is refused. Grid proxies need TLS passthrough instead (see
``docs/deployment-nginx.md``). The certificate's signature is the balancer's job: trusting a
proxy address means trusting its verification.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol
from urllib.parse import unquote

from cryptography import x509

from .credentials import X509Identity
from .dn import dirac_dn
from .proxy import ProxyError, proxy_info
from .x509 import IdentityError, identity_from_chain

CERT_HEADER = "X-SSL-CERT"
"""The header carrying nginx's ``$ssl_client_escaped_cert``."""
VERIFY_HEADER = "X-Ssl_client_verify"
"""The header carrying nginx's ``$ssl_client_verify``."""

_MAX_SHOWN = 120  # characters of a header value quoted in an error message


class ForwardedCertError(IdentityError):
    """A trusted proxy forwarded a client certificate that cannot be used; the reason says why."""


class HeaderLists(Protocol):
    """What is read from the request headers (``tornado.httputil.HTTPHeaders`` is one)."""

    def get_list(self, name: str) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Forwarded:
    """What a trusted proxy said about its client."""

    identity: X509Identity | None
    """``None`` when the client gave the balancer no certificate."""


def normalize_address(address: str) -> str:
    """``address`` in the canonical text form of its IP, so that ``::1`` matches ``0::1``.

    Raises :class:`ValueError` when ``address`` is not an IP address.
    """
    ip = ipaddress.ip_address(address.strip())
    # A v4 peer on a dual-stack socket shows as ::ffff:a.b.c.d; compare it as a.b.c.d.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def parse_trusted_proxies(value: str | None) -> frozenset[str]:
    """The comma-separated list of proxy IPs from the configuration, normalized.

    Raises :class:`ValueError` naming the first entry that is not an IP address (networks and
    host names are refused: trust is given to exact addresses).
    """
    trusted: set[str] = set()
    for entry in (value or "").split(","):
        if not entry.strip():
            continue
        try:
            trusted.add(normalize_address(entry))
        except ValueError as exc:
            raise ValueError(f"{entry.strip()!r} is not an IP address") from exc
    return frozenset(trusted)


def is_trusted_proxy(address: str, trusted_proxies: Collection[str]) -> bool:
    """Whether the direct peer ``address`` is one of ``trusted_proxies`` (normalized IPs)."""
    if not trusted_proxies:
        return False
    try:
        return normalize_address(address) in trusted_proxies
    except ValueError:
        return False  # a non-IP peer (a Unix socket) is never a configured proxy


def _shown(value: str) -> str:
    # Header values are attacker-controlled: quote them (no raw newlines in the log) and cut.
    return repr(value if len(value) <= _MAX_SHOWN else value[:_MAX_SHOWN] + "...")


def _single(headers: HeaderLists, name: str) -> str | None:
    values = headers.get_list(name)
    if len(values) > 1:
        raise ForwardedCertError(f"the {name} header is repeated ({len(values)} times)")
    return values[0] if values else None


@lru_cache(maxsize=256)
def _load_certificate(escaped: str) -> x509.Certificate:
    """Parse a forwarded certificate once: a balancer resends the same few on every request."""
    try:
        pem = unquote(escaped, errors="strict")
        certificates = x509.load_pem_x509_certificates(pem.encode("ascii"))
    except ValueError as exc:  # UnicodeError is a ValueError too
        raise ForwardedCertError(
            f"the {CERT_HEADER} header is not a URL-escaped PEM certificate: {exc}"
        ) from exc
    if len(certificates) != 1:
        raise ForwardedCertError(
            f"the {CERT_HEADER} header holds {len(certificates)} certificates, not one"
        )
    return certificates[0]


def _identity(escaped: str, now: dt.datetime) -> X509Identity:
    cert = _load_certificate(escaped)
    subject = dirac_dn(cert.subject)
    try:
        is_proxy = proxy_info(cert) is not None
    except ProxyError as exc:
        raise ForwardedCertError(f"forwarded certificate {subject}: {exc}") from exc
    if is_proxy:
        raise ForwardedCertError(
            f"forwarded certificate {subject} is a proxy: a load balancer cannot verify proxies "
            "(use TLS passthrough for grid proxies)"
        )
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise ForwardedCertError(
            f"forwarded certificate {subject} is not valid now (valid from "
            f"{cert.not_valid_before_utc} to {cert.not_valid_after_utc})"
        )
    # A lone end-entity certificate: identity_from_chain reads no proxy extension from it.
    return identity_from_chain([cert], now=now)


def forwarded_identity(
    headers: HeaderLists,
    peer_address: str,
    trusted_proxies: Collection[str],
    *,
    now: dt.datetime | None = None,
) -> Forwarded | None:
    """What the balancer says about the caller, or ``None`` when ``peer_address`` is not a
    trusted proxy (then the headers are ignored and the connection's own identity counts).

    Raises :class:`ForwardedCertError` (an :class:`IdentityError`) when a trusted proxy
    forwarded something unusable (the rules are in the module docstring).
    """
    if not is_trusted_proxy(peer_address, trusted_proxies):
        return None
    verify = _single(headers, VERIFY_HEADER)
    escaped = _single(headers, CERT_HEADER)
    if escaped is not None and not escaped.strip():
        escaped = None
    verify = verify.strip() if verify is not None else None
    if verify is None:
        if escaped is not None:
            raise ForwardedCertError(f"{CERT_HEADER} came without {VERIFY_HEADER}: SUCCESS")
        return Forwarded(identity=None)
    if verify == "NONE":
        if escaped is not None:
            raise ForwardedCertError(
                f"{CERT_HEADER} came with {VERIFY_HEADER}: NONE (the balancer did not verify it)"
            )
        return Forwarded(identity=None)
    if verify != "SUCCESS":
        raise ForwardedCertError(
            f"the load balancer did not verify the client certificate: "
            f"{VERIFY_HEADER} is {_shown(verify)}"
        )
    if escaped is None:
        raise ForwardedCertError(f"{VERIFY_HEADER} is SUCCESS but {CERT_HEADER} is missing")
    return Forwarded(identity=_identity(escaped.strip(), now or dt.datetime.now(dt.UTC)))
