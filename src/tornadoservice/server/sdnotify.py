"""systemd's ``sd_notify`` protocol, for ``Type=notify`` units (no libsystemd needed).

When systemd starts a service with ``Type=notify`` it sets ``$NOTIFY_SOCKET`` to a Unix datagram
socket (a path, or an abstract name written with a leading ``@``). The server sends one datagram
per state change, newline-separated ``KEY=value`` lines:

* ``READY=1`` once its ports accept connections (``systemctl start`` returns then);
* ``RELOADING=1`` with ``MONOTONIC_USEC`` on SIGHUP, then ``READY=1`` again;
* ``STOPPING=1`` when it begins draining;
* ``STATUS=...``: a line ``systemctl status`` shows.

Without ``$NOTIFY_SOCKET`` nothing is sent. A failing send is logged once per message kind and
never stops the server.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger("tornadoservice.server")

ENVIRONMENT = "NOTIFY_SOCKET"


def _address(value: str) -> str | None:
    if value.startswith("@"):
        return "\0" + value[1:]  # Linux abstract namespace
    if value.startswith("/"):
        return value
    return None  # vsock: and others are not supported


def notify(*fields: str) -> bool:
    """Send ``fields`` (``KEY=value`` strings) to systemd; whether a datagram was sent."""
    value = os.environ.get(ENVIRONMENT)
    if not value:
        return False
    address = _address(value)
    if address is None:
        log.warning("%s=%r: only Unix socket addresses are supported", ENVIRONMENT, value)
        return False
    message = "\n".join(fields).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message, address)
    except OSError as exc:
        log.warning("cannot notify systemd (%s): %s", fields[0] if fields else "", exc)
        return False
    return True


def ready(status: str) -> bool:
    return notify("READY=1", f"MAINPID={os.getpid()}", f"STATUS={status}")


def reloading() -> bool:
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=reloading")


def stopping() -> bool:
    return notify("STOPPING=1", "STATUS=draining in-flight requests")


def forget() -> None:
    """In a worker process: leave notifying to the supervisor (systemd listens to one pid)."""
    os.environ.pop(ENVIRONMENT, None)
