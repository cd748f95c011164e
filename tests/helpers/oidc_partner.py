"""A minimal OpenID provider on loopback for federation tests: discovery, keys (JWKS) and a token endpoint whose
next ID token the test writes claim by claim (to build wrong ones), signed with joserfc. It checks what a relying
party must send (the code it issued, PKCE verifier, client secret); the browser's authorize step is skipped: the
test reads ``state`` and ``nonce`` from Hospes' redirect and comes back with a code itself."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from joserfc import jwt
from joserfc.jwk import RSAKey


@dataclass
class FakeOp:
    base: str
    client_id: str = "hospes-client"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> the claims its ID token carries
    token_requests: list[dict[str, str]] = field(default_factory=list)
    signing_key: RSAKey | None = None  # another key, to forge a signature

    @property
    def issuer(self) -> str:
        return self.base

    def claims(self, nonce: str, email: str, **extra: Any) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": "subject-" + email,
            "email": email,
            "email_verified": True,
            "nonce": nonce,
            "iat": now,
            "exp": now + 300,
            **extra,
        }

    def issue_code(self, claims: dict[str, Any]) -> str:
        code = secrets.token_urlsafe(12)
        self.codes[code] = claims
        return code

    def id_token(self, claims: dict[str, Any]) -> str:
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.signing_key or self.key)


def _handler(op: FakeOp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                self._json(
                    200,
                    {
                        "issuer": op.issuer,
                        "authorization_endpoint": f"{op.base}/authorize",
                        "token_endpoint": f"{op.base}/token",
                        "jwks_uri": f"{op.base}/jwks",
                        "token_endpoint_auth_methods_supported": ["client_secret_post"],
                    },
                )
            elif self.path == "/jwks":
                self._json(200, {"keys": [op.key.as_dict(private=False)]})
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            op.token_requests.append(form)
            claims = op.codes.pop(form.get("code", ""), None)
            if form.get("client_secret") != op.client_secret or form.get("client_id") != op.client_id:
                self._json(401, {"error": "invalid_client"})
            elif claims is None or not form.get("code_verifier"):
                self._json(400, {"error": "invalid_grant"})
            else:
                self._json(200, {"access_token": "at", "token_type": "Bearer", "id_token": op.id_token(claims)})

        def log_message(self, *_: Any) -> None:
            pass

    return Handler


@contextmanager
def fake_op() -> Iterator[FakeOp]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    op = FakeOp(f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(op)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield op
    finally:
        server.shutdown()
