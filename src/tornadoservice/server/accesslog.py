"""The access line of each request, its request id, and DIRAC's security-log wording.

**Request id.** A caller's ``X-Request-ID`` is kept when it is sane (1 to 128 characters of
``A-Z a-z 0-9 . _ : @ / + = -``), else one is made (24 hex digits). It is sent back in the
answer's ``X-Request-ID``, ends the access line (``rid=...``), and goes with the error lines of
that request (``request_id`` in JSON logs).

**Access line** (logger ``tornadoservice.access``, INFO)::

    PEER[ (for CLIENT)] GROUP:USER SERVICE METHOD STATUS DURATIONms OUTCOME rid=ID

``for CLIENT`` appears when the TCP peer is a trusted balancer
(``/Systems/Tornado/TrustedProxies``) and sent ``X-Forwarded-For``: its last address, the
one that balancer saw (a client cannot forge it past a trusted balancer, which appends to it).
In JSON logs the same values are fields: ``peer``, ``forwarded_for``, ``dn``, ``group``,
``user``, ``service``, ``method``, ``status``, ``duration_ms``, ``bytes_in``, ``bytes_out``,
``outcome``, ``request_id``.

**Security log** (``/Systems/Tornado/SecurityLog = yes``, logger ``tornadoservice.security``):
the lines WLCG sites grep for in DIRAC's logs, ``Incoming request``, ``Returning response``,
``Unauthorized access``, with the caller as DIRAC formats it (``(ip:port)[group:user]``).
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from tornadoservice.core.log import escape_control, sole_line_handler
from tornadoservice.identity.forwarded import is_trusted_proxy

access_log = logging.getLogger("tornadoservice.access")
security_log = logging.getLogger("tornadoservice.security")

REQUEST_ID_HEADER = "X-Request-ID"
FORWARDED_FOR_HEADER = "X-Forwarded-For"
_SANE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


class _IdMaker:
    """New request ids: 16 random hex digits drawn once per process (again in a forked child),
    then a counter in 8 more. Unique across the workers of a server and its restarts, and no
    system call per request (an id is a label, not a secret)."""

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count()

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.counter) & 0xFFFFFFFF:08x}"


new_request_id = _IdMaker()
os.register_at_fork(after_in_child=new_request_id.reseed)


def request_id(headers: Mapping[str, str]) -> str:
    """The caller's ``X-Request-ID`` if sane, else a new one (24 hex digits)."""
    if REQUEST_ID_HEADER in headers:
        given = headers[REQUEST_ID_HEADER]
        if _SANE_ID.fullmatch(given):
            return given
    return new_request_id()


def forwarded_for(
    peer: str, headers: Mapping[str, str], trusted_proxies: Collection[str]
) -> str | None:
    """The client address a trusted balancer forwarded, or ``None``."""
    if not trusted_proxies or not is_trusted_proxy(peer, trusted_proxies):
        return None
    header = headers.get(FORWARDED_FOR_HEADER)
    if not header:
        return None
    last = header.rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(last))
    except ValueError:
        return None


@dataclass(slots=True)
class AccessRecord:
    """What one finished request logs (not frozen: a frozen dataclass is slower to make, and one
    is made per request). On the log record as ``access``; :meth:`fields` gives its values."""

    peer: str
    """``ip:port`` of the TCP peer."""
    forwarded_for: str | None
    creds: Mapping[str, Any]
    service: str
    method: str | None
    status: int
    duration_ms: float
    bytes_in: int
    bytes_out: int
    outcome: str
    request_id: str

    def fields(self) -> dict[str, Any]:
        creds = self.creds
        return {
            "peer": self.peer,
            "forwarded_for": self.forwarded_for,
            "dn": creds.get("DN"),
            "group": creds.get("group"),
            "user": creds.get("username"),
            "service": self.service,
            "method": self.method,
            "status": self.status,
            "duration_ms": round(self.duration_ms, 3),
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "outcome": self.outcome,
        }


def log_access(record: AccessRecord) -> None:
    if not access_log.isEnabledFor(logging.INFO):
        return
    creds = record.creds
    peer = record.peer
    if record.forwarded_for is not None:
        peer = f"{peer} (for {record.forwarded_for})"
    # Escaped: the method name, and a username or group from a token, are the client's. Made
    # here as one text (no arguments for the record to format again).
    group = escape_control(str(creds.get("group", "-")))
    user = escape_control(str(creds.get("username", "-")))
    method = escape_control(record.method or "-")
    message = (
        f"{peer} {group}:{user} {record.service} {method} {record.status} "
        f"{record.duration_ms:.2f}ms {record.outcome} rid={record.request_id}"
    )
    sole = sole_line_handler(access_log, logging.INFO)
    if sole is not None:
        # The setup of `tornadoservice serve`: the same line, made without a LogRecord (a
        # tenth of a request's work otherwise).
        line = sole[1].line("INFO", access_log.name, message)
        if line is not None:
            sole[0].emit_line(line)
            return
    access_log.info(
        message,
        # The record itself: its fields are made only by a formatter that wants them (JSON).
        extra={"access": record, "request_id": record.request_id},
    )


def formatted_caller(peer: str, creds: Mapping[str, Any]) -> str:
    """The caller as DIRAC's ``srv_getFormattedRemoteCredentials`` writes it."""
    group = escape_control(str(creds.get("group", "visitor")))
    user = escape_control(str(creds.get("username", "anonymous")))
    return f"({peer})[{group}:{user}]"


def security_incoming(peer: str, creds: Mapping[str, Any], service: str, method: str) -> None:
    security_log.info(
        "Incoming request %s /%s: %s",
        formatted_caller(peer, creds),
        service,
        escape_control(method),
    )


def security_finished(record: AccessRecord) -> None:
    caller = formatted_caller(record.peer, record.creds)
    method = escape_control(record.method or "-")
    extra = {"request_id": record.request_id}
    if record.status in (401, 403):
        security_log.warning(
            "Unauthorized access %s /%s: %s (%d)",
            caller,
            record.service,
            method,
            record.status,
            extra=extra,
        )
    security_log.info(
        "Returning response %s /%s: %s (%.2f ms) %d %s",
        caller,
        record.service,
        method,
        record.duration_ms,
        record.status,
        record.outcome,
        extra=extra,
    )
