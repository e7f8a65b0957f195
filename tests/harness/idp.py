"""Stand-ins for the identity services the dashboard trusts, served on loopback in the test's
own process:

- ``IdentityProvider``: a small OpenID Connect provider (discovery document, JWKS, authorize,
  token and userinfo endpoints; the code flow with PKCE), whose ID tokens are signed RS256 by
  joserfc. Its ``/authorize`` approves at once, as whoever ``person`` says.
- ``AlbKeys`` and ``alb_token``: the AWS load balancer's public-key server, counting what it is
  asked, and tokens shaped as the load balancer signs ``x-amzn-oidc-data`` (ES256, base64url
  with padding, ``kid``, ``signer`` and ``exp`` in the protected header).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from joserfc.jws import JWSRegistry
from werkzeug.serving import make_server

from tests.harness.services import free_port


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """``app`` on a free loopback port, on a thread; its base URL."""
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


class IdentityProvider:
    """An OpenID Connect provider for one client."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig"})
        self.person: dict[str, Any] = {}  # the claims of whoever signs in next
        # what a faulty or hostile provider does instead (tests of the client's checks):
        self.id_token_changes: dict[str, Any] = {}  # claims of the ID token replaced
        self.id_token_lacks: tuple[str, ...] = ()  # claims left out of the ID token only
        self.send_id_token = True
        self.userinfo_changes: dict[str, Any] = {}  # claims the userinfo endpoint replaces
        self.issuer = ""
        self._codes: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, dict[str, Any]] = {}
        self.app = self._app()

    @contextmanager
    def running(self) -> Iterator[str]:
        with served(self.app) as base:
            self.issuer = base
            yield base

    def behave(self) -> None:
        """As a provider should, again."""
        self.id_token_changes, self.id_token_lacks = {}, ()
        self.send_id_token, self.userinfo_changes = True, {}

    def _app(self) -> Flask:
        app = Flask("test-idp")

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Any:
            base = self.issuer
            return jsonify(
                issuer=base,
                authorization_endpoint=f"{base}/authorize",
                token_endpoint=f"{base}/token",
                userinfo_endpoint=f"{base}/userinfo",
                jwks_uri=f"{base}/jwks",
                response_types_supported=["code"],
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=["RS256"],
                code_challenge_methods_supported=["S256"],
                token_endpoint_auth_methods_supported=["client_secret_basic"],
            )

        @app.get("/jwks")
        def jwks() -> Any:
            return jsonify(KeySet([self.key]).as_dict(private=False))

        @app.get("/authorize")
        def authorize() -> Any:
            args = request.args
            if args.get("client_id") != self.client_id or args.get("response_type") != "code":
                return Response("unknown client", 400)
            if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
                return Response("PKCE required", 400)
            code = secrets.token_urlsafe(16)
            self._codes[code] = {
                "redirect_uri": args["redirect_uri"],
                "nonce": args.get("nonce"),
                "challenge": args["code_challenge"],
                "person": dict(self.person),
            }
            query = urlencode({"code": code, "state": args.get("state", "")})
            return redirect(f"{args['redirect_uri']}?{query}")

        @app.post("/token")
        def token() -> Any:
            auth = request.authorization
            if auth is None or (auth.username, auth.password) != (
                self.client_id,
                self.client_secret,
            ):
                return jsonify(error="invalid_client"), 401
            grant = self._codes.pop(request.form.get("code", ""), None)
            if grant is None or grant["redirect_uri"] != request.form.get("redirect_uri"):
                return jsonify(error="invalid_grant"), 400
            verifier = request.form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
                return jsonify(error="invalid_grant", error_description="PKCE"), 400
            now = int(time.time())
            claims = {
                "iss": self.issuer,
                "aud": self.client_id,
                "iat": now,
                "exp": now + 300,
                "nonce": grant["nonce"],
                **grant["person"],
                **self.id_token_changes,
            }
            for name in self.id_token_lacks:
                claims.pop(name, None)
            id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key)
            access = secrets.token_urlsafe(16)
            self._tokens[access] = {**grant["person"], **self.userinfo_changes}
            answer = {"access_token": access, "token_type": "Bearer", "expires_in": 300}
            if self.send_id_token:
                answer["id_token"] = id_token
            return jsonify(answer)

        @app.get("/userinfo")
        def userinfo() -> Any:
            sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
            person = self._tokens.get(sent)
            return (jsonify(person), 200) if person is not None else ("", 401)

        return app


class AlbKeys:
    """The load balancer's key server: each key's PEM at ``/<kid>``; counts what is asked."""

    def __init__(self) -> None:
        self.keys: dict[str, ECKey] = {}
        self.asked: list[str] = []
        self.app = Flask("test-alb-keys")

        @self.app.get("/<kid>")
        def key(kid: str) -> Any:
            self.asked.append(kid)
            found = self.keys.get(kid)
            if found is None:
                return Response("no such key", 404)
            return Response(found.as_pem(private=False), mimetype="text/plain")

    def new_key(self) -> tuple[str, ECKey]:
        kid = secrets.token_hex(8) + "-" + secrets.token_hex(4)
        self.keys[kid] = ECKey.generate_key("P-256")
        return kid, self.keys[kid]


def _padded(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()  # with padding, as the load balancer does


def alb_token(
    key: ECKey, kid: str, signer: str, claims: dict[str, Any], expires_in: float = 120
) -> str:
    """An ``x-amzn-oidc-data`` value, shaped and signed as the load balancer makes one."""
    header = {
        "typ": "JWT",
        "kid": kid,
        "alg": "ES256",
        "iss": "https://idp.example",
        "client": "dashboard",
        "signer": signer,
        "exp": int(time.time() + expires_in),
    }
    head = _padded(json.dumps(header).encode())
    body = _padded(json.dumps(claims).encode())
    es256 = JWSRegistry(algorithms=["ES256"]).get_alg("ES256")
    signature = es256.sign(f"{head}.{body}".encode(), key)
    return f"{head}.{body}.{_padded(signature)}"
