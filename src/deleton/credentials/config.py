"""Who may sign in to the dashboard, and how: the secrets that sign sessions and screen links
and pepper passwords (configured, or kept in ``DELETON_HOME``), the base of printed links, an
OpenID Connect provider and the AWS load balancer. The dashboard (which lets people in) and
``deleton users``/``login-link``/``screen-link`` (which make their accounts and links) share
it; ``settings`` maps the environment onto it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from ..core.access import RECHECK_SECONDS


@dataclass(frozen=True)
class AccessConfig:
    """Who may sign in to the dashboard, and how: the base of printed links, the secrets that
    sign sessions and screen links and the key passwords are peppered with (``None``: the one
    kept in ``home``, if any), how long a person stays signed in, an OpenID Connect provider,
    and the AWS load balancer whose signed identity header stands in for the app's own
    sign-in."""

    public_url: str
    home: Path
    session_secret: SecretStr | None
    screen_secret: SecretStr | None
    password_pepper: SecretStr | None  # the key passwords are peppered with
    session_lifetime: float  # seconds a person stays signed in
    oidc_issuer: str | None
    oidc_client_id: str | None
    oidc_client_secret: SecretStr | None
    role_claim: str  # the claim listing groups, from the identity provider or the ALB
    alb_arn: str | None
    alb_keys_url: str | None
    proxy_hops: int = 0  # proxies whose X-Forwarded-For hop is believed (Settings.proxy_hops)
    # seconds a dashboard process trusts what it last read of a session or a screen: a
    # sign-out elsewhere, a removed account or a revoked screen takes effect within it
    recheck: float = RECHECK_SECONDS

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over HTTPS when the dashboard is reached over HTTPS."""
        return self.public_url.startswith("https://")

    @property
    def oidc(self) -> bool:
        return self.oidc_issuer is not None and self.oidc_client_id is not None

    @property
    def alb_keys(self) -> str | None:
        """Where the load balancer's public keys are, by key id; ``None`` without a balancer."""
        if self.alb_arn is None:
            return None
        if self.alb_keys_url is not None:
            return self.alb_keys_url.rstrip("/") + "/"
        region = self.alb_arn.split(":")[3]
        return f"https://public-keys.auth.elb.{region}.amazonaws.com/"
