"""What the TLS layer knows about a caller: the facts read from a verified X.509 chain.

This is the hand-over point between the identity layer (which parses certificates) and the
authorization layer (which maps an identity to a registry user, group and properties).
An :class:`X509Identity` is computed once per TLS connection and cached with it.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class X509Identity:
    """Facts about the peer certificate chain, DNs in DIRAC's slash form.

    ``dn`` is the identity the caller acts as: the end-entity subject for a proxy chain
    (``identity`` in DIRAC's credential dict), the subject itself otherwise.
    """

    subject: str
    issuer: str
    dn: str
    is_proxy: bool
    is_limited_proxy: bool
    not_after: dt.datetime
    """Earliest notAfter of the chain (timezone-aware, UTC)."""
    group: str | None = None
    """DIRAC group from the proxy extension (OID 1.2.42.42), if present."""
    vo: str | None = None
    """VOMS VO, if the chain carries a VOMS attribute certificate."""
    fqans: tuple[str, ...] = field(default=())
    """VOMS FQANs, in the order of the attribute certificate."""
    _expires: float = field(init=False, repr=False, compare=False)
    """``not_after`` as a POSIX timestamp, for the per-request ``seconds_left``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_expires", self.not_after.timestamp())

    def seconds_left(self, now: dt.datetime | None = None) -> int:
        """Whole seconds until the chain expires (0 once expired)."""
        if now is None:  # the per-request case: plain float timestamps, no datetime arithmetic
            left = int(self._expires - time.time())
            return left if left > 0 else 0
        return max(0, int((self.not_after - now).total_seconds()))
