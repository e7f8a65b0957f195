"""Who may see what (core.access), the credentials adapter (password hashes in two halves,
screen tokens, secrets kept in DELETON_HOME) and the access settings."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import argon2
import pytest
from pydantic import SecretStr

from deleton import private
from deleton.core.access import (
    ADMIN,
    BIKE,
    LEADERBOARD,
    STAFF,
    Permission,
    ScreenGrant,
    Throttle,
    Viewer,
    identity_name,
    role_from_groups,
    session_of,
    valid_account_name,
    valid_identity_name,
    valid_serial,
    viewer_from,
)
from deleton.credentials import keys, passwords, tokens
from deleton.dashboard.gate import who
from deleton.errors import ConfigError
from deleton.postgres.config import DatabaseConfig
from deleton.postgres.connection import database_url
from deleton.settings import load_settings
from tests.harness import retired_links

STAFFER = Viewer(STAFF, "ada", "password", 1000.0, session="s1")
ADMINISTRATOR = Viewer(ADMIN, "root", "link", 1000.0, session="s2")
SCREEN = Viewer(None, "", "screen", 1000.0, ScreenGrant(BIKE, "SN0001", 3), signed_by="k1")
BOARD = Viewer(None, "", "screen", 1000.0, ScreenGrant(LEADERBOARD, "", 1), signed_by="k1")


@pytest.mark.parametrize(
    ("claim", "role"),
    [
        (["deleton-staff"], STAFF),
        (["everyone", "deleton-admin", "deleton-staff"], ADMIN),
        ("deleton-staff", STAFF),
        ("users,deleton-admin", ADMIN),
        ("users deleton-staff", STAFF),
        (["deleton-staffer", "staff"], None),
        ([], None),
        (None, None),
        ({"deleton-staff": True}, None),
        (["deleton-staff "], None),
    ],
)
def test_roles_come_from_the_groups_claim(claim: Any, role: str | None) -> None:
    assert role_from_groups(claim) == role


def test_staff_see_everything_a_screen_its_bike_and_a_leaderboard_no_rider() -> None:
    for person in (STAFFER, ADMINISTRATOR):  # admin includes staff
        assert person.is_staff and person.may_see_bike("SN0002")
        assert all(person.allows(p, "SN0002") for p in Permission)
        assert all(person.may_open(p) for p in ("/fleet", "/recent", "/bike/SN0002", "/"))
    assert SCREEN.may_see_bike("SN0001") and not SCREEN.may_see_bike("SN0002")
    assert SCREEN.allows(Permission.BIKE, "SN0001") and not SCREEN.allows(Permission.BIKE, "SN0002")
    assert not SCREEN.allows(Permission.BIKE) and not SCREEN.allows(Permission.STAFF)
    assert SCREEN.allows(Permission.SIGNED_IN)
    assert [p for p in ("/", "/screen/", "/bike/SN0001") if SCREEN.may_open(p)] == [
        "/",
        "/screen/",
        "/bike/SN0001",
    ]
    assert not any(SCREEN.may_open(p) for p in ("/fleet", "/recent", "/bike/SN0002", "/bike/"))
    assert not SCREEN.may_open("/leaderboard")
    # links once carried their token under /screen/: nothing there but the screen's page is
    assert not SCREEN.may_open("/screen/x") and not BOARD.may_open("/screen/x")
    assert BOARD.may_open("/leaderboard") and not BOARD.may_open("/bike/SN0001")
    assert not BOARD.may_see_bike("") and not BOARD.allows(Permission.BIKE, "")


def test_a_person_is_signed_in_for_a_lifetime_a_screen_until_revoked() -> None:
    assert not STAFFER.expired(1000.0 + 3600, 3600) and STAFFER.expired(1000.0 + 3601, 3600)
    assert not SCREEN.expired(1000.0 + 10**9, 3600)


def test_a_session_holds_a_viewer_and_nothing_else_passes_for_one() -> None:
    for viewer in (STAFFER, ADMINISTRATOR, SCREEN, BOARD):
        assert viewer_from({"viewer": session_of(viewer)}) == viewer
    staff = session_of(STAFFER)
    for broken in (
        {},
        {"viewer": "staff"},
        {"viewer": {**staff, "v": 1}},  # a cookie from before sessions had an id
        {"viewer": {**staff, "sid": ""}},
        {"viewer": {k: v for k, v in staff.items() if k != "sid"}},
        {"viewer": {**staff, "role": "superuser"}},
        {"viewer": {**staff, "since": "yesterday"}},
        {"viewer": {**staff, "since": True}},
        {"viewer": {**staff, "screen": {"k": BIKE, "t": "SN0001", "g": 1}}},  # a role AND a screen
        {"viewer": {**session_of(SCREEN), "screen": {"k": BIKE, "t": "../x", "g": 1}}},
        {"viewer": {**session_of(SCREEN), "sk": ""}},  # a screen of no known secret
    ):
        assert viewer_from(broken) is None, broken


@pytest.mark.parametrize(
    "claims",
    [
        {"k": "fleet", "t": "SN0001", "g": 1},
        {"k": BIKE, "t": "", "g": 1},
        {"k": BIKE, "t": "SN 1", "g": 1},
        {"k": BIKE, "t": "SN0001", "g": 0},
        {"k": BIKE, "t": "SN0001", "g": True},
        {"k": BIKE, "t": "SN0001", "g": "1"},
        {"k": LEADERBOARD, "t": "/etc", "g": 1},
        ["bike", "SN0001", 1],
    ],
)
def test_a_screen_grant_that_makes_no_sense_is_none(claims: Any) -> None:
    assert ScreenGrant.from_claims(claims) is None


def test_names_and_serials_are_safe_in_urls_logs_and_shells() -> None:
    assert valid_account_name("ada.lovelace@gym-1") and valid_serial("SN0000")
    for bad in ("", "-rf", "a b", "a/b", "x" * 65, "ada;", "é"):
        assert not valid_account_name(bad) and not valid_serial(bad), bad


def test_a_person_from_an_identity_provider_goes_by_any_name_a_session_can_hold() -> None:
    """`users remove` takes any name sign-in can give (security review, Medium): an identity
    provider's preferred_username, else email, else sub, of any characters, its first 200."""
    for name in ("o'brien+gym@corp.example", "Alice Smith", "x" * 200, "ada"):
        assert valid_identity_name(name) and identity_name({"preferred_username": name}) == name
    assert identity_name({"sub": "u-1", "email": "", "preferred_username": None}) == "u-1"
    assert identity_name({"sub": "u-1", "email": "e@x.example"}) == "e@x.example"
    assert identity_name({"preferred_username": "y" * 250}) == "y" * 200
    assert identity_name({}) == "" and not valid_identity_name("")
    assert not valid_identity_name("y" * 201)


def test_failures_are_free_then_each_waits_twice_as_long_then_forgotten() -> None:
    throttle = Throttle(free=3, window=100.0, longest=8.0, keys=2)
    for second in range(3):
        assert throttle.wait("ada", second) == 0
        throttle.failed("ada", second)
    assert throttle.wait("ada", 2) == 1.0  # the fourth try: 2**0 s after the last failure
    throttle.failed("ada", 3)
    assert throttle.wait("ada", 3) == 2.0
    for second in range(4, 12):
        throttle.failed("ada", second)
    assert throttle.wait("ada", 11) == 8.0  # no longer than longest
    assert throttle.wait("ada", 11 + 101) == 0  # the window passed
    throttle.failed("ada", 200)
    assert throttle.wait("ada", 200) == 0  # counting from one again
    throttle.succeeded("ada")
    for key in ("bea", "cy", "dee"):
        throttle.failed(key, 1)
    assert list(throttle._failures) == ["cy", "dee"]  # bounded, the oldest forgotten


def test_a_password_is_checked_by_hashing_it_peppered_with_the_stored_salt() -> None:
    pepper, other = b"p" * 32, b"q" * 32
    stored = passwords.hash_password("correct horse battery", pepper)
    salt = passwords.salt_of(stored)
    assert stored.startswith("$argon2id$") and salt == stored.rsplit("$", 1)[0]
    assert passwords.hash_with("correct horse battery", salt, pepper) == stored
    assert passwords.hash_with("correct horse batterY", salt, pepper) != stored
    # the library agrees, given what it hashes: the password's HMAC under the pepper
    assert passwords.HASHER.verify(stored, passwords.peppered("correct horse battery", pepper))
    # without the pepper (all that a login of the database has), the right password is wrong
    assert passwords.hash_with("correct horse battery", salt, other) != stored
    assert not _verifies(stored, "correct horse battery")
    for bad in ("", "garbage", "$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ", "$argon2id$v=19$x$y"):
        assert passwords.hash_with("x", bad, pepper) is None, bad
    decoy = passwords.decoy_salt()
    assert decoy.startswith("$argon2id$") and passwords.hash_with("x", decoy, pepper) is not None


def _verifies(stored: str, password: str) -> bool:
    try:
        return passwords.HASHER.verify(stored, password)
    except argon2.exceptions.VerifyMismatchError:
        return False


def test_a_screen_token_is_signed_and_refused_otherwise() -> None:
    grant = ScreenGrant(BIKE, "SN0001", 2)
    token = tokens.screen_token(b"k" * 32, grant)
    assert tokens.screen_grant(b"k" * 32, token) == grant
    assert tokens.screen_grant(b"j" * 32, token) is None
    payload, signature = token.split(".")
    other = tokens.screen_token(b"k" * 32, ScreenGrant(BIKE, "SN0002", 2)).split(".")[0]
    assert tokens.screen_grant(b"k" * 32, f"{other}.{signature}") is None  # another bike
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert tokens.screen_grant(b"k" * 32, f"{payload}.{flipped}") is None
    assert tokens.screen_grant(b"k" * 32, "x" * 600) is None
    assert len({tokens.random_token() for _ in range(100)}) == 100


def test_links_and_sessions_of_version_1_are_retired() -> None:
    # version 1's links were printed as /screen/<token>, so any of their tokens may be in an
    # access log: with the same secret, none verifies now, and a session one opened carries a
    # fingerprint the dashboard no longer accepts
    grant, secret = ScreenGrant(BIKE, "SN0001", 2), b"k" * 32
    assert tokens.SCREEN_LINK_VERSION == 2
    old = retired_links.version_1_token(secret, grant)
    assert old != tokens.screen_token(secret, grant)
    assert tokens.screen_grant(secret, old) is None
    assert tokens.screen_key(secret) != retired_links.version_1_key(secret)
    assert tokens.screen_key(secret) == tokens.screen_key(secret)  # stable within a version


def test_secrets_are_kept_in_home_made_once_with_mode_0600(tmp_path: Path) -> None:
    assert keys.stored_secret(None, tmp_path, keys.SESSION) is None
    made = keys.stored_secret(None, tmp_path, keys.SESSION, create=True)
    assert made is not None and len(made) >= 32
    assert stat.S_IMODE((tmp_path / keys.SESSION).stat().st_mode) == 0o600
    assert keys.stored_secret(None, tmp_path, keys.SESSION, create=True) == made  # reused
    assert keys.stored_secret(None, tmp_path, keys.SCREEN, create=True) != made
    assert list(tmp_path.glob(".*")) == []  # no drafts left behind
    configured = SecretStr("c" * 40)
    assert keys.stored_secret(configured, tmp_path, keys.SESSION) == b"c" * 40
    (tmp_path / keys.SESSION).chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        keys.stored_secret(None, tmp_path, keys.SESSION)


def test_a_secret_a_command_needs_and_has_not_names_its_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^DELETON_SCREEN_SECRET is not set .* deleton up"):
        keys.required_secret(None, tmp_path, keys.SCREEN, "DELETON_SCREEN_SECRET")
    made = keys.stored_secret(None, tmp_path, keys.SCREEN, create=True)
    assert keys.required_secret(None, tmp_path, keys.SCREEN, "DELETON_SCREEN_SECRET") == made


def test_home_and_its_secrets_are_ours_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # review F10: DELETON_HOME was made 0755, a secret was read through a link or from another
    # user's file, and its draft was opened without O_EXCL
    home = tmp_path / "home"
    keys.stored_secret(None, home, keys.SESSION, create=True)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / keys.SESSION).stat().st_mode) == 0o600
    planted = tmp_path / "planted"
    (home / keys.SCREEN).symlink_to(planted)  # dangling: making the secret would write there
    with pytest.raises(ConfigError, match="cannot be opened"):
        keys.stored_secret(None, home, keys.SCREEN, create=True)
    assert not planted.exists() and list(home.glob(".*")) == []
    planted.write_text("p" * 40)
    with pytest.raises(ConfigError, match="cannot be opened"):
        keys.stored_secret(None, home, keys.SCREEN)  # a link to a file is not read either
    (home / keys.SCREEN).unlink()
    (home / keys.SCREEN).mkdir(mode=0o700)
    with pytest.raises(ConfigError, match="not a regular file"):
        keys.stored_secret(None, home, keys.SCREEN)
    home.chmod(0o755)
    private.folder(home)  # a home open to others is closed again
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    someone_else = os.geteuid() + 1
    monkeypatch.setattr(os, "geteuid", lambda: someone_else)
    with pytest.raises(ConfigError, match="another user"):
        keys.stored_secret(None, home, keys.SESSION)
    with pytest.raises(ConfigError, match="another user"):
        private.folder(home)


def test_access_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    access = load_settings().access()
    assert access.public_url == "http://127.0.0.1:8050" and not access.secure_cookies
    assert access.role_claim == "groups" and not access.oidc and access.alb_keys is None
    arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/d/1"
    monkeypatch.setenv("DELETON_ALB_ARN", arn)
    monkeypatch.setenv("DELETON_PUBLIC_URL", "https://deleton.example/")
    monkeypatch.setenv("DELETON_OIDC_ISSUER", "https://idp.example/")
    monkeypatch.setenv("DELETON_OIDC_CLIENT_ID", "dashboard")
    access = load_settings().access()
    assert access.alb_keys == "https://public-keys.auth.elb.eu-west-1.amazonaws.com/"
    assert access.public_url == "https://deleton.example" and access.secure_cookies
    assert access.oidc and access.oidc_issuer == "https://idp.example"
    monkeypatch.setenv("DELETON_SESSION_SECRET", "too short to sign")
    monkeypatch.setenv("DELETON_ALB_ARN", "arn:aws:s3:::bucket")
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert "DELETON_SESSION_SECRET" in str(error.value) and "too short" not in str(error.value)
    assert "DELETON_ALB_ARN" in str(error.value)


def test_a_log_line_names_an_account_unless_its_name_is_an_email_address() -> None:
    """No log line carries an email address (fifth review, Low): an account may be named by
    one (``users add jane.doe@gym.example``), and is then logged as a digest, as a person an
    identity provider vouched for always is."""
    name = "jane.doe@gym.example"
    assert valid_account_name(name)
    line = who(Viewer("staff", name, "password", 0.0))
    assert line.startswith("account #") and "@" not in line and "jane" not in line
    assert who(Viewer("staff", "jane", "link", 0.0)) == "account jane"
    assert who(Viewer("staff", name, "oidc", 0.0)) == f"oidc person {line.removeprefix('account ')}"


def test_a_malformed_database_url_is_refused_without_quoting_it() -> None:
    """psycopg's message quotes a URL it cannot parse, password and all (fifth review, Info)."""
    config = DatabaseConfig(
        url=SecretStr("postgresql://deleton_operator_login:S3cretOfOps@[db/x"),
        home=Path("/nonexistent"),
        password=SecretStr("S3cretOfOps"),
    )
    with pytest.raises(ConfigError, match="cannot be parsed") as raised:
        database_url(config)
    assert "S3cretOfOps" not in str(raised.value) and raised.value.__cause__ is None
