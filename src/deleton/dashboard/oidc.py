"""Sign-in through an OpenID Connect identity provider (Authlib's Flask client), for installs
that have one: ``DELETON_OIDC_ISSUER``, ``_CLIENT_ID`` and ``_CLIENT_SECRET``.

The authorization code flow with PKCE, its state and nonce kept in the signed session; the
ID token's signature, issuer (the configured one), audience (our client id), nonce and expiry
are checked by Authlib against the provider's published keys, and a token response without an
ID token is refused. The person's role comes from the claim ``DELETON_OIDC_ROLE_CLAIM``
(asked of the userinfo endpoint when the ID token lacks it, whose answer must be about the ID
token's subject); anyone outside ``deleton-staff``
and ``deleton-admin`` is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, session
from joserfc.errors import JoseError

from ..core.access import Viewer, identity_name, role_from_groups
from ..credentials.config import AccessConfig

log = logging.getLogger(__name__)

CALLBACK = "/auth/callback"


class OidcSignIn:
    """The provider's client, registered on the dashboard's Flask app."""

    def __init__(self, server: Flask, config: AccessConfig, wall: Callable[[], float]) -> None:
        assert config.oidc_issuer is not None and config.oidc_client_id is not None
        self.config = config
        self.wall = wall
        secret = config.oidc_client_secret
        self.client: Any = OAuth(server).register(
            "idp",
            client_id=config.oidc_client_id,
            client_secret=secret.get_secret_value() if secret else None,
            server_metadata_url=f"{config.oidc_issuer}/.well-known/openid-configuration",
            client_kwargs={
                "scope": "openid profile email",
                "code_challenge_method": "S256",
                "default_timeout": 10,
            },
        )

    @property
    def claims_options(self) -> dict[str, Any]:
        """What Authlib must find in the ID token, beyond its signature, nonce and expiry: our
        issuer (as configured, with or without its final slash) and our client id as its
        audience, and a subject."""
        issuer = self.config.oidc_issuer
        assert issuer is not None
        return {
            "iss": {"essential": True, "values": [issuer, issuer + "/"]},
            "aud": {"essential": True, "values": [self.config.oidc_client_id]},
            "sub": {"essential": True},
            "exp": {"essential": True},
        }

    def start(self) -> Any:
        """The redirect to the provider's sign-in."""
        return self.client.authorize_redirect(self.config.public_url + CALLBACK)

    def finish(self) -> Viewer | str:
        """The person the provider sends back, or why they are refused: the token response
        must hold an ID token issued by the configured issuer to this client, and userinfo
        asked for the role must be about the same subject."""
        try:
            token = self.client.authorize_access_token(claims_options=self.claims_options)
            if "id_token" not in token or not token.get("userinfo"):
                raise ValueError("the token response holds no ID token")
            claims = dict(token["userinfo"])
            if self.config.role_claim not in claims:
                asked = dict(self.client.userinfo(token=token))
                if asked.get("sub") != claims["sub"]:
                    raise ValueError("userinfo is about another subject than the ID token")
                claims.update(asked)
        except (OAuthError, JoseError, requests.RequestException, KeyError, ValueError) as exc:
            log.warning("identity provider sign-in failed: %s", _why(exc))
            session.clear()
            return "The identity provider's answer could not be used. Please try again."
        role = role_from_groups(claims.get(self.config.role_claim))
        if role is None:
            log.info("identity provider sign-in refused: not in deleton-staff or deleton-admin")
            return (
                "Your account is in neither deleton-staff nor deleton-admin, so it may not "
                "see riders. Ask your administrator."
            )
        return Viewer(role, identity_name(claims), "oidc", self.wall())


def _why(exc: Exception) -> str:
    """A refusal's kind and its library's short reason: names no person (claims' values are
    not in Authlib's or joserfc's messages, nor in ours)."""
    if isinstance(exc, ValueError | JoseError | OAuthError):
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return type(exc).__name__
