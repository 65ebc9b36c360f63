"""What the two baselines compute, shared so that bare Tornado and FastAPI do the same work."""

from __future__ import annotations

from typing import Any


def answer(method: str, args: list[Any], subject: object) -> dict[str, Any]:
    """The JSON answer of ``method``; ``subject`` stands for whoami's credentials.

    Raises ``LookupError`` for an unknown method.
    """
    if method in ("echo", "anonEcho"):
        return {"OK": True, "Value": args[0]}
    if method in ("add", "asyncAdd"):
        return {"OK": True, "Value": args[0] + args[1]}
    if method == "whoami":
        return {"OK": True, "Value": subject}
    raise LookupError(method)
