"""One RPC over HTTPS, as DIRAC's client sends it, with HTTP errors mapped to ``S_ERROR``.

The form fields and their order are DIRAC's (``method``, ``args``, ``extraCredentials``,
``clientVO``, ``clientSetup``), so a DIRAC server sees exactly what its own client sends.
"""

from __future__ import annotations

import errno
from typing import Any

import requests

from tornadoservice.core.returnvalues import S_ERROR
from tornadoservice.wire.jencode import JEncodeError, decode, encode

DReturn = dict[str, Any]


class RPCConnectionError(Exception):
    """The server could not be reached (refused, TLS failure, timeout): no RPC was executed."""


def form_fields(
    method: str,
    args: list[Any] | tuple[Any, ...],
    *,
    extra_credentials: Any = None,
    client_vo: str = "unknown",
) -> list[tuple[str, str]]:
    fields = [("method", method), ("args", encode(list(args)))]
    if extra_credentials is not None:
        fields.append(("extraCredentials", encode(extra_credentials)))
    fields += [("clientVO", client_vo), ("clientSetup", "None")]
    return fields


def error_from_response(response: requests.Response, url: str, method: str) -> DReturn:
    """Map a non-200 answer (our JSON bodies or DIRAC's HTML pages) to DIRAC's ``S_ERROR``."""
    status = response.status_code
    if status in (401, 403):
        result = S_ERROR(errno.EACCES, f"No access to {url}")
    elif status == 501:
        result = S_ERROR(errno.ENOSYS, f"{method} is not implemented")
    else:
        detail: str = response.text
        if response.headers.get("Content-Type", "").startswith("application/json"):
            try:
                body, _ = decode(response.text)
            except JEncodeError:
                body = None
            if isinstance(body, dict) and body.get("OK") is False and "Message" in body:
                detail = str(body["Message"])
        suffix = f"{url} is not found" if status == 404 else detail
        result = S_ERROR(f"{status} {response.reason} for url: {url}: {suffix}")
    return result


def call_rpc(
    session: requests.Session,
    url: str,
    method: str,
    args: list[Any] | tuple[Any, ...],
    *,
    timeout: float = 600,
    extra_credentials: Any = None,
    headers: dict[str, str] | None = None,
) -> DReturn:
    """POST one RPC; return the decoded ``S_OK``/``S_ERROR``.

    Raises RPCConnectionError when the server cannot be reached.
    """
    try:
        response = session.post(
            url,
            data=form_fields(method, args, extra_credentials=extra_credentials),
            timeout=timeout,
            headers=headers,
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise RPCConnectionError(f"{url}: {exc}") from exc
    if response.status_code != 200:
        return error_from_response(response, url, method)
    try:
        result, _ = decode(response.content)
    except JEncodeError as exc:
        return S_ERROR(errno.EPROTO, f"{url} answered something that is not a DIRAC result: {exc}")
    if not isinstance(result, dict) or "OK" not in result:
        return S_ERROR(errno.EPROTO, f"{url} answered something that is not a DIRAC result")
    return result
