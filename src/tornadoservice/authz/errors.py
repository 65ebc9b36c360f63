"""Why a caller is refused.

::

    AuthError                  a request is refused; ``reason`` is one line for the log
    ├── AuthenticationError    "who are you?": no usable identity          -> HTTP 401
    └── AuthorizationError     known caller, lacks the right for the call  -> HTTP 403

The server turns these into HTTP statuses at its boundary (``status``). The ``reason`` is meant
for the server log, not for the client: it may name DNs, groups and the rule that refused.
"""

from __future__ import annotations

from typing import ClassVar


class AuthError(Exception):
    """A request is refused. Use a subclass; ``status`` is the HTTP status it maps to."""

    status: ClassVar[int] = 401

    def __init__(self, reason: str) -> None:
        # One line, whatever a client put in the values quoted in it: control characters are
        # escaped so that a forged DN cannot inject fake lines into the log.
        self.reason = "".join(c if c.isprintable() else repr(c)[1:-1] for c in reason)
        super().__init__(self.reason)


class AuthenticationError(AuthError):
    """The caller's identity is missing, invalid or may not be used (HTTP 401)."""

    status: ClassVar[int] = 401


class AuthorizationError(AuthError):
    """The caller is known but the method's rule does not allow them (HTTP 403)."""

    status: ClassVar[int] = 403
