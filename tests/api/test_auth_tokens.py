"""Revoked and forged tokens are refused (spec 2.4, 2.6, HEAD): 401 with the body ``"unauthorized"``.

Every forged token is built from a valid one that the app does accept (the control), changing one
thing only, so each refusal is due to that one thing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from app.services.auth.transport import encrypt
from tests.conftest import RunningApp, start_app

SECRET = "a-test-secret-long-enough-for-hs512-as-well-0123456789abcdefghij"


def status(app: RunningApp, token: str) -> int:
    response = app.client().get("/api/auth/account", headers={"Cookie": f"nano-kvm-token={token}"})
    if response.status_code == 401:
        assert response.content == b'"unauthorized"'
    return response.status_code


def token_version(app: RunningApp, username: str) -> int:
    stored = json.loads(app.path("/etc/kvm/pwd").read_text())
    version: int = next(u["tokenVersion"] for u in stored["users"] if u["username"] == username)
    return version


def claims(app: RunningApp, who: str = "admin", **changes: Any) -> dict[str, Any]:
    """The claims the app itself issues for ``who``, then ``changes`` (None removes a claim)."""
    now = int(time.time())
    out: dict[str, Any] = {
        "username": who,
        "tokenVersion": token_version(app, who),
        "sub": who,
        "exp": now + 3600,
        "iat": now,
    }
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


def create(admin: httpx.Client, username: str, role: str = "user") -> None:
    body = {"username": username, "password": encrypt("password-1"), "role": role}
    assert admin.post("/api/auth/users", json=body).json()["code"] == 0


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """An app with a known signing secret, so tests can mint tokens."""
    app = start_app(tmp_path_factory.mktemp("signed"), {"jwt": {"secretKey": SECRET}})
    app.login()  # writes the account store (and with it admin's tokenVersion) if not yet there
    yield app
    app.stop()


# --- revocation --------------------------------------------------------------------------------


def _logout(app: RunningApp, admin: httpx.Client, name: str, own: httpx.Client) -> None:
    assert own.post("/api/auth/logout").json()["code"] == 0


def _password(app: RunningApp, admin: httpx.Client, name: str, own: httpx.Client) -> None:
    body = {"currentPassword": encrypt("password-1"), "password": encrypt("password-2")}
    assert own.post("/api/auth/password", json=body).json()["code"] == 0


def _admin_reset(app: RunningApp, admin: httpx.Client, name: str, own: httpx.Client) -> None:
    body = {"password": encrypt("password-2")}
    assert admin.post(f"/api/auth/users/{name}/password", json=body).json()["code"] == 0


def _role(app: RunningApp, admin: httpx.Client, name: str, own: httpx.Client) -> None:
    assert admin.put(f"/api/auth/users/{name}", json={"role": "viewer"}).json()["code"] == 0


def _disable(app: RunningApp, admin: httpx.Client, name: str, own: httpx.Client) -> None:
    assert admin.put(f"/api/auth/users/{name}", json={"enabled": False}).json()["code"] == 0


def _delete(app: RunningApp, admin: httpx.Client, name: str, own: httpx.Client) -> None:
    assert admin.delete(f"/api/auth/users/{name}").json()["code"] == 0


@pytest.mark.parametrize(
    "revoke",
    [_logout, _password, _admin_reset, _role, _disable, _delete],
    ids=["logout", "password-change", "admin-reset", "role-change", "disable", "delete"],
)
def test_revocation_ends_every_session_of_that_user_only(
    signed: RunningApp, revoke: Callable[[RunningApp, httpx.Client, str, httpx.Client], None]
) -> None:
    admin = signed.login()
    name, bystander = f"u-{revoke.__name__.strip('_')}", f"b-{revoke.__name__.strip('_')}"
    create(admin, name)
    create(admin, bystander)
    own, other_tab = signed.login(name, "password-1"), signed.login(name, "password-1")
    other_user = signed.login(bystander, "password-1")
    assert other_tab.get("/api/auth/account").status_code == 200  # the control: alive before

    revoke(signed, admin, name, own)

    for client in (own, other_tab):
        response = client.get("/api/auth/account")
        assert response.status_code == 401, response.text
        assert response.content == b'"unauthorized"'
    assert other_user.get("/api/auth/account").status_code == 200
    assert admin.get("/api/auth/users").status_code == 200


def test_role_change_to_the_same_role_keeps_sessions(signed: RunningApp) -> None:
    admin = signed.login()
    create(admin, "steady")
    steady = signed.login("steady", "password-1")
    assert admin.put("/api/auth/users/steady", json={"role": "user", "enabled": True}).json()["code"] == 0
    assert steady.get("/api/auth/account").status_code == 200


# --- forged tokens ------------------------------------------------------------------------------


def test_minted_token_with_the_right_secret_is_accepted(signed: RunningApp) -> None:
    """The control for the forgeries below: the claims and secret they start from are right."""
    assert status(signed, jwt.encode(claims(signed), SECRET, algorithm="HS256")) == 200


@pytest.mark.parametrize(
    ("what", "forge"),
    [
        ("other-secret", lambda c: jwt.encode(c, SECRET[::-1], algorithm="HS256")),
        ("alg-none", lambda c: jwt.encode(c, None, algorithm="none")),
        ("alg-none-with-signature", lambda c: jwt.encode(c, None, algorithm="none") + "c2ln"),
        ("hs512", lambda c: jwt.encode(c, SECRET, algorithm="HS512")),
        ("not-a-jwt", lambda c: "not.a.jwt"),
    ],
)
def test_forged_token_is_refused(signed: RunningApp, what: str, forge: Callable[[dict[str, Any]], str]) -> None:
    assert status(signed, forge(claims(signed))) == 401


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": "past"},
        {"exp": None},  # no expiry at all
        {"tokenVersion": "stale"},  # replaced below by the stored version + 1
        {"tokenVersion": 0},
        {"tokenVersion": None},
        {"sub": "someone-else"},
        {"username": ""},
    ],
    ids=["expired", "no-exp", "stale-version", "version-0", "no-version", "sub-mismatch", "empty-username"],
)
def test_token_with_bad_claims_is_refused(signed: RunningApp, changes: dict[str, Any]) -> None:
    changes = dict(changes)
    if changes.get("tokenVersion") == "stale":
        changes["tokenVersion"] = (token_version(signed, "admin") + 1) % 2**64 or 1
    if changes.get("exp") == "past":
        changes["exp"] = int(time.time()) - 60
    assert status(signed, jwt.encode(claims(signed, **changes), SECRET, algorithm="HS256")) == 401


def test_token_of_an_unknown_or_disabled_user_is_refused(signed: RunningApp) -> None:
    admin = signed.login()
    create(admin, "dora")
    token = jwt.encode(claims(signed, "dora"), SECRET, algorithm="HS256")
    assert status(signed, token) == 200
    assert admin.put("/api/auth/users/dora", json={"enabled": False}).json()["code"] == 0
    # Even re-minted with the new tokenVersion: a disabled account has no sessions.
    assert status(signed, jwt.encode(claims(signed, "dora"), SECRET, algorithm="HS256")) == 401

    ghost = claims(signed)
    ghost.update(username="ghost", sub="ghost")
    assert status(signed, jwt.encode(ghost, SECRET, algorithm="HS256")) == 401


def test_token_stops_working_when_it_expires(signed: RunningApp) -> None:
    """Accepted once (and so remembered by the app), then refused the moment exp passes."""
    expires = int(time.time()) + 2
    token = jwt.encode(claims(signed, exp=expires), SECRET, algorithm="HS256")
    assert status(signed, token) == 200
    while time.time() < expires + 0.2:
        time.sleep(0.1)
    assert status(signed, token) == 401


def test_logged_out_token_stays_refused_after_logging_in_again(signed: RunningApp) -> None:
    admin = signed.login()
    create(admin, "eve")
    eve = signed.login("eve", "password-1")
    old = eve.cookies["nano-kvm-token"]
    assert eve.post("/api/auth/logout").json()["code"] == 0
    assert status(signed, signed.login("eve", "password-1").cookies["nano-kvm-token"]) == 200
    assert status(signed, old) == 401


# --- restarts (spec 2.4) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "survives"),
    [({}, False), ({"jwt": {"secretKey": SECRET}}, True)],
    ids=["random-secret", "fixed-secret"],
)
def test_sessions_across_a_restart(tmp_path: Path, extra: dict[str, object], survives: bool) -> None:
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
    first = start_app(tmp_path / "first", extra, root=tmp_path / "root")
    try:
        token = first.login().cookies["nano-kvm-token"]
        assert status(first, token) == 200
    finally:
        first.stop()
    second = start_app(tmp_path / "second", extra, root=tmp_path / "root")
    try:
        assert status(second, token) == (200 if survives else 401)
    finally:
        second.stop()


# --- which cookie counts (spec 2.5) -------------------------------------------------------------------


def test_only_the_first_token_cookie_counts(signed: RunningApp) -> None:
    """NanoKVM reads the first ``nano-kvm-token`` cookie; a browser lists the more specific (longer path),
    then the older one first, so a stale duplicate must not override the cookie the browser ranks first.
    """
    token = signed.login().cookies["nano-kvm-token"]
    url = f"{signed.url}/api/auth/account"

    def with_cookie(header: str) -> int:
        return httpx.get(url, headers={"Cookie": header}).status_code

    assert with_cookie(f"other=1; nano-kvm-token={token}; more=2") == 200
    assert with_cookie(f"nano-kvm-token=stale; nano-kvm-token={token}") == 401
    assert with_cookie(f"nano-kvm-token={token}; nano-kvm-token=stale") == 200


def test_logout_keeps_tokens_when_revocation_is_off(tmp_path: Path) -> None:
    """``jwt.revokeTokensOnLogout: false`` (only honoured with a fixed secret): logout just clears the cookie."""
    app = start_app(tmp_path, {"jwt": {"secretKey": SECRET, "revokeTokensOnLogout": False}})
    try:
        client = app.login()
        token = client.cookies["nano-kvm-token"]
        assert client.post("/api/auth/logout").json()["code"] == 0
        assert status(app, token) == 200
        # Other revocations still apply.
        body = {"currentPassword": encrypt("admin"), "password": encrypt("password-2")}
        assert app.login().post("/api/auth/password", json=body).json()["code"] == 0
        assert status(app, token) == 401
    finally:
        app.stop()
