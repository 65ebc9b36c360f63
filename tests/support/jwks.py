"""Token test material: signing keys, a real JWKS HTTP server on 127.0.0.1, and forged tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://iam.test.example/"
AUDIENCE = "tornadoservice-test"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private: Any

    @property
    def public_pem(self) -> bytes:
        return bytes(
            self.private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def jwk(self, *, with_alg: bool = True) -> dict[str, Any]:
        algorithm = RSAAlgorithm if self.alg.startswith(("RS", "PS")) else ECAlgorithm
        data: dict[str, Any] = json.loads(algorithm.to_jwk(self.private.public_key()))
        data.update(kid=self.kid, use="sig")
        if with_alg:
            data["alg"] = self.alg
        return data

    def sign(self, claims: dict[str, Any], **headers: Any) -> str:
        return jwt.encode(
            claims, self.private, algorithm=self.alg, headers={"kid": self.kid, **headers}
        )


def rsa_key(kid: str, alg: str = "RS256") -> SigningKey:
    return SigningKey(kid, alg, rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_key(kid: str) -> SigningKey:
    return SigningKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


def claims(
    sub: str = "ciuser-sub",
    *,
    iss: str = ISSUER,
    aud: str | list[str] = AUDIENCE,
    lifetime: int = 3600,
    **extra: Any,
) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": iss, "sub": sub, "aud": aud, "iat": now, "exp": now + lifetime, **extra}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(payload).encode())


def forge_alg_none(payload: dict[str, Any], kid: str) -> str:
    return _segments({"alg": "none", "typ": "JWT", "kid": kid}, payload) + "."


def forge_hs256(payload: dict[str, Any], kid: str, secret: bytes) -> str:
    """HS256 "signed" with ``secret`` (the classic attack: the RSA public key PEM as secret)."""
    signing_input = _segments({"alg": "HS256", "typ": "JWT", "kid": kid}, payload)
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(mac)


def tamper(token: str, **changes: Any) -> str:
    """The same header and signature with an edited payload segment."""
    header, payload, signature = token.split(".")
    padded = payload + "=" * (-len(payload) % 4)
    data = json.loads(base64.urlsafe_b64decode(padded))
    data.update(changes)
    return ".".join([header, _b64(json.dumps(data).encode()), signature])


@dataclass
class JWKSServer:
    """A real HTTP server on a free loopback port serving a (mutable) key set."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    hits: int = 0
    port: int = 0
    status: int = 200
    delay: float = 0.0
    """Seconds the server waits before answering (a slow issuer)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/jwks"

    def body(self) -> bytes:
        return json.dumps({"keys": self.keys}).encode()


@contextmanager
def jwks_server(*keys: dict[str, Any]) -> Iterator[JWKSServer]:
    state = JWKSServer(list(keys))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                state.hits += 1
                body = state.body()
                status = state.status
                delay = state.delay
            time.sleep(delay)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
