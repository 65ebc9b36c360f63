"""JWT bearer tokens: which issuers are trusted, and verifying a token against them (PyJWT).

Issuers are configured in the registry, one section each (the comments are on the right here
for brevity only: a ``.cfg`` file has no inline comments, so each goes on a line of its own)::

    Registry
    {
      TokenIssuers
      {
        iam                                   # any name; used in messages
        {
          Issuer = https://iam.example.org/   # the exact 'iss' claim (required)
          JWKS = https://iam.example.org/jwk  # key set URL: https, or http on loopback only
          # JWKSFile = /etc/iam-jwks.json     # or a local key set (relative: to the .cfg file)
          Audience = https://dirac.example.org, dirac   # accepted 'aud' values (required)
          Algorithms = RS256, ES256           # allow-list (default: RS*, PS*, ES*, EdDSA)
          Leeway = 60                         # clock skew tolerated, seconds (default 60)
          JWKSTimeout = 10                    # connect and request timeout, seconds (default 10)
          JWKSCacheTime = 3600                # re-fetch the key set after, seconds (default 3600)
          JWKSRefetchInterval = 60            # least seconds between fetches (default 60)
        }
      }
    }

Exactly one of ``JWKS`` and ``JWKSFile``. ``none`` and the HMAC algorithms (``HS*``) cannot be
allowed: a key set is public, and an HMAC "signed" with public material proves nothing.

A token is accepted when its header names an allowed algorithm and a ``kid`` of the issuer's key
set (without ``kid``, the set must hold a single key), the signature verifies with that key, and
its claims hold ``exp``, ``iat``, ``sub`` and ``iss`` with ``exp``/``nbf``/``iat`` valid within the
leeway and an ``aud`` among the configured audiences. Anything else raises :class:`TokenError`,
whose ``reason`` is one line for the server log. The token itself never appears in a reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jwt

from tornadoservice.config.tree import ConfigTree, split_list
from tornadoservice.identity.jwks import (
    FileKeySource,
    JWKSError,
    KeySource,
    RemoteKeySource,
)

__all__ = [
    "DEFAULT_ALGORITHMS",
    "ISSUERS_SECTION",
    "IssuerConfig",
    "TokenConfigError",
    "TokenError",
    "TokenVerifier",
    "VerifiedToken",
    "issuers_from_config",
]

ISSUERS_SECTION = "/Registry/TokenIssuers"
DEFAULT_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
_KEY_TYPE_FOR_ALGORITHM = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
_REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss"]
MAX_TOKEN_LENGTH = 16 * 1024
"""Longer bearer values are refused unparsed (real access tokens are a few KiB)."""
_MAX_QUOTED = 80


class TokenError(Exception):
    """A bearer token is refused; ``reason`` is one line, never containing the token."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class TokenConfigError(ValueError):
    """An issuer section is unusable (raised at server start)."""


@dataclass(frozen=True, slots=True)
class IssuerConfig:
    """One trusted issuer (a ``/Registry/TokenIssuers/<name>`` section)."""

    name: str
    issuer: str
    audiences: tuple[str, ...]
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    jwks_url: str | None = None
    jwks_file: str | None = None
    leeway: float = 60.0
    jwks_timeout: float = 10.0
    jwks_cache_time: float = 3600.0
    jwks_refetch_interval: float = 60.0

    def __post_init__(self) -> None:
        where = f"{ISSUERS_SECTION}/{self.name}"
        if not self.issuer:
            raise TokenConfigError(f"{where}: Issuer is required")
        if not self.audiences:
            raise TokenConfigError(f"{where}: Audience is required")
        if (self.jwks_url is None) == (self.jwks_file is None):
            raise TokenConfigError(f"{where}: set exactly one of JWKS and JWKSFile")
        if not self.algorithms:
            raise TokenConfigError(f"{where}: Algorithms is empty")
        for alg in self.algorithms:
            if alg not in DEFAULT_ALGORITHMS:
                raise TokenConfigError(
                    f"{where}: algorithm {alg!r} is not allowed "
                    f"(choose among {', '.join(DEFAULT_ALGORITHMS)})"
                )

    def key_source(self) -> KeySource:
        try:
            if self.jwks_file is not None:
                return FileKeySource(Path(self.jwks_file))
            assert self.jwks_url is not None
            return RemoteKeySource(
                self.jwks_url,
                timeout=self.jwks_timeout,
                max_age=self.jwks_cache_time,
                min_refetch=self.jwks_refetch_interval,
            )
        except JWKSError as exc:
            raise TokenConfigError(f"{ISSUERS_SECTION}/{self.name}: {exc}") from exc


def _number(options: Mapping[str, str], name: str, default: float, where: str) -> float:
    raw = options.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise TokenConfigError(f"{where}/{name}: {raw!r} is not a number") from exc
    if value < 0:
        raise TokenConfigError(f"{where}/{name}: must not be negative")
    return value


def issuers_from_config(tree: ConfigTree) -> list[IssuerConfig]:
    """Read ``/Registry/TokenIssuers``; raise :class:`TokenConfigError` for a bad section."""
    issuers = []
    for name in tree.sections(ISSUERS_SECTION):
        where = f"{ISSUERS_SECTION}/{name}"
        options = tree.options(where)
        jwks_file = tree.resolve_path(f"{where}/JWKSFile")
        algorithms = split_list(options.get("Algorithms", ""))
        issuers.append(
            IssuerConfig(
                name=name,
                issuer=options.get("Issuer", "").strip(),
                audiences=tuple(split_list(options.get("Audience", ""))),
                algorithms=tuple(algorithms) or DEFAULT_ALGORITHMS,
                jwks_url=options.get("JWKS", "").strip() or None,
                jwks_file=str(jwks_file) if jwks_file is not None else None,
                leeway=_number(options, "Leeway", 60.0, where),
                jwks_timeout=_number(options, "JWKSTimeout", 10.0, where),
                jwks_cache_time=_number(options, "JWKSCacheTime", 3600.0, where),
                jwks_refetch_interval=_number(options, "JWKSRefetchInterval", 60.0, where),
            )
        )
    return issuers


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """The claims of a token that passed every check."""

    issuer_name: str
    """The ``TokenIssuers`` section that vouched for it."""
    issuer: str
    subject: str
    expires: dt.datetime
    claims: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def seconds_left(self, now: dt.datetime | None = None) -> int:
        now = now or dt.datetime.now(dt.UTC)
        return max(0, int((self.expires - now).total_seconds()))


def _quote(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_QUOTED else text[: _MAX_QUOTED - 3] + "..."


# PyJWT's exceptions, most specific first, mapped to the reason we log.
_REASONS: Sequence[tuple[type[jwt.PyJWTError], str]] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.InvalidIssuerError, "wrong issuer"),
    (jwt.InvalidSignatureError, "bad signature"),
    (jwt.InvalidAlgorithmError, "algorithm refused"),
    (jwt.MissingRequiredClaimError, "missing claim"),
    (jwt.InvalidKeyError, "unusable key"),
    (jwt.DecodeError, "malformed token"),
)


class TokenVerifier:
    """Verify bearer tokens against the configured issuers (one per ``iss`` value)."""

    def __init__(self, issuers: Sequence[IssuerConfig]) -> None:
        self._issuers: dict[str, tuple[IssuerConfig, KeySource]] = {}
        for config in issuers:
            if config.issuer in self._issuers:
                raise TokenConfigError(
                    f"{ISSUERS_SECTION}: issuer {config.issuer!r} is configured twice"
                )
            self._issuers[config.issuer] = (config, config.key_source())

    @classmethod
    def from_config(cls, tree: ConfigTree) -> TokenVerifier | None:
        """The verifier for the configured issuers, ``None`` when there is none."""
        issuers = issuers_from_config(tree)
        return cls(issuers) if issuers else None

    @property
    def issuers(self) -> tuple[IssuerConfig, ...]:
        return tuple(config for config, _ in self._issuers.values())

    async def verify(self, token: str) -> VerifiedToken:
        """The verified claims of ``token``, or :class:`TokenError` saying why it is refused."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenError(f"token longer than {MAX_TOKEN_LENGTH} characters")
        try:
            header = jwt.get_unverified_header(token)
            # Only to pick the issuer: nothing from it is trusted before the signature verifies.
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise TokenError(f"malformed token: {exc}") from exc
        alg = header.get("alg")
        iss = unverified.get("iss")
        if not isinstance(iss, str) or iss not in self._issuers:
            raise TokenError(f"unknown issuer {_quote(iss)}")
        config, source = self._issuers[iss]
        if not isinstance(alg, str) or alg not in config.algorithms:
            raise TokenError(f"algorithm {_quote(alg)} not allowed for issuer {config.name}")
        kid = header.get("kid")  # PyJWT refused a non-string kid above (DecodeError)
        try:
            jwk = await source.key(kid)
        except JWKSError as exc:
            raise TokenError(f"keys of issuer {config.name} unavailable: {exc}") from exc
        if jwk is None:
            if kid is None:
                raise TokenError(f"token has no 'kid' and issuer {config.name} has several keys")
            raise TokenError(f"unknown key id {_quote(kid)} for issuer {config.name}")
        claims = self._decode(token, config, jwk, alg, kid)
        return VerifiedToken(
            issuer_name=config.name,
            issuer=iss,
            subject=str(claims["sub"]),
            expires=dt.datetime.fromtimestamp(float(claims["exp"]), dt.UTC),
            claims=MappingProxyType(claims),
        )

    @staticmethod
    def _decode(
        token: str, config: IssuerConfig, jwk: Mapping[str, Any], alg: str, kid: str | None
    ) -> dict[str, Any]:
        key_type = _KEY_TYPE_FOR_ALGORITHM.get(alg[:2])
        if jwk.get("kty") != key_type:
            raise TokenError(f"algorithm {alg} does not fit key {_quote(kid)} ({jwk.get('kty')})")
        try:
            # The key is bound to the token's (allowed) algorithm, or to the key's own 'alg':
            # PyJWT then refuses a token whose header names another one.
            key = jwt.PyJWK(dict(jwk), algorithm=None if "alg" in jwk else alg)
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=list(config.audiences),
                issuer=config.issuer,
                leeway=config.leeway,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.PyJWKError as exc:
            raise TokenError(f"unusable key {_quote(kid)} of issuer {config.name}") from exc
        except jwt.PyJWTError as exc:
            reason = next((text for kind, text in _REASONS if isinstance(exc, kind)), "invalid")
            raise TokenError(f"{reason}: {exc}") from exc
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise TokenError("claim 'sub' is not a non-empty string")
        return claims
