"""API tokens (``/api/security/tokens``): created, shown once, stored hashed, scoped, revoked.

Real socket; curl (Debian's) drives one token as an automation would.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.api.security_support import Mjpeg, login_body, make_user, ready_admin
from tests.conftest import RunningApp, start_app


@pytest.fixture(scope="module")
def kvm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = start_app(tmp_path_factory.mktemp("tokens"))
    yield app
    app.stop()


@pytest.fixture(scope="module")
def admin(kvm: RunningApp) -> httpx.Client:
    client = ready_admin(kvm)
    make_user(client, "alice", "user")
    make_user(client, "victor", "viewer")
    return client


def create(client: httpx.Client, name: str, role: str = "viewer", **extra: object) -> dict[str, object]:
    answer = client.post("/api/security/tokens", json={"name": name, "role": role, **extra}).json()
    assert answer["code"] == 0, answer
    data: dict[str, object] = answer["data"]
    return data


def bearer(kvm: RunningApp, token: str) -> httpx.Client:
    client = kvm.client()
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def test_token_is_shown_once_and_stored_only_as_a_digest(kvm: RunningApp, admin: httpx.Client) -> None:
    created = create(admin, "home assistant", "user")
    secret = str(created["token"])
    stored = kvm.path("/etc/kvm/tokens.json").read_text()
    assert secret not in stored
    assert hashlib.sha256(secret.encode()).hexdigest() in stored
    assert oct(kvm.path("/etc/kvm/tokens.json").stat().st_mode & 0o777) == "0o600"
    listed = admin.get("/api/security/tokens").json()["data"]["tokens"]
    mine = next(t for t in listed if t["id"] == created["info"]["id"])  # type: ignore[index]
    assert mine["name"] == "home assistant" and mine["role"] == "user" and mine["owner"] == "admin"
    assert secret not in json.dumps(listed)


def test_bearer_token_acts_with_its_scope(kvm: RunningApp, admin: httpx.Client) -> None:
    viewer = bearer(kvm, str(create(admin, "dashboard", "viewer")["token"]))
    assert viewer.get("/api/vm/gpio").json()["code"] == 0
    assert viewer.post("/api/vm/gpio", json={"type": "power", "duration": 100}).status_code == 403
    assert viewer.get("/api/auth/users").status_code == 403
    assert viewer.get("/api/auth/account").json()["data"]["username"] == "admin"
    user = bearer(kvm, str(create(admin, "automation", "user")["token"]))
    assert user.post("/api/vm/gpio", json={"type": "power", "duration": 100}).json()["code"] == 0
    assert user.get("/api/auth/users").status_code == 403


@pytest.mark.parametrize("value", [b"nkt_" + b"A" * 43, b"nkt_", b"garbage", b"nkt_" + b"x" * 5000, b"nkt_\xe9\xff"])
def test_unknown_tokens_are_refused(kvm: RunningApp, value: bytes) -> None:
    client = kvm.client()
    response = client.get("/api/vm/gpio", headers={"Authorization": b"Bearer " + value})
    assert response.status_code == 401
    response = client.get("/api/vm/gpio", headers={"Authorization": b"Bearer"})
    assert response.status_code == 401
    assert response.content == b'"unauthorized"'


def test_scope_above_the_owner_is_refused(kvm: RunningApp, admin: httpx.Client) -> None:
    alice = kvm.login("alice", "password-1")
    answer = alice.post("/api/security/tokens", json={"name": "escalate", "role": "admin"}).json()
    assert answer["code"] == -2 and "above" in answer["msg"]
    assert not any(t["name"] == "escalate" for t in admin.get("/api/security/tokens").json()["data"]["tokens"])
    for role in ("root", "ADMIN ", "", "superuser"):
        assert alice.post("/api/security/tokens", json={"name": "x", "role": role}).json()["code"] != 0


def test_a_token_cannot_mint_tokens(kvm: RunningApp, admin: httpx.Client) -> None:
    robot = bearer(kvm, str(create(admin, "robot", "admin")["token"]))
    answer = robot.post("/api/security/tokens", json={"name": "child", "role": "viewer"}).json()
    assert answer["code"] == -4
    assert robot.post("/api/security/totp/enrol").json()["code"] == -4


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x" * 65},
        {"name": "a\nb"},
        {"name": "ok", "expiresIn": -5},
        {"name": "ok", "expiresIn": 5},
    ],
)
def test_bad_creation_input_is_refused(admin: httpx.Client, body: dict[str, object]) -> None:
    response = admin.post("/api/security/tokens", json=body)
    assert response.status_code == 200
    assert response.json()["code"] in (-1, -2)


def test_expired_token_is_refused(kvm: RunningApp, admin: httpx.Client) -> None:
    created = create(admin, "short", "viewer", expiresIn=60)
    client = bearer(kvm, str(created["token"]))
    assert client.get("/api/vm/gpio").status_code == 200
    # Age it on disk as 61 s passing would; the app picks up the edited file within a second.
    store = json.loads(kvm.path("/etc/kvm/tokens.json").read_text())
    for token in store["tokens"]:
        if token["id"] == created["info"]["id"]:  # type: ignore[index]
            token["expires"] = time.time() - 1
    kvm.path("/etc/kvm/tokens.json").write_text(json.dumps(store))
    deadline = time.monotonic() + 10
    while client.get("/api/vm/gpio").status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert client.get("/api/vm/gpio").status_code == 401
    assert bearer(kvm, str(create(admin, "fresh", "viewer")["token"])).get("/api/vm/gpio").status_code == 200


def test_owner_changes_invalidate_tokens(kvm: RunningApp, admin: httpx.Client) -> None:
    make_user(admin, "owner1", "admin")
    own = kvm.login("owner1", "password-1")
    token = str(create(own, "mine", "admin")["token"])
    client = bearer(kvm, token)
    assert client.get("/api/auth/users").status_code == 200  # the control
    assert admin.put("/api/auth/users/owner1", json={"role": "user"}).json()["code"] == 0
    assert client.get("/api/vm/gpio").status_code == 401  # demoted below the token's scope
    assert admin.put("/api/auth/users/owner1", json={"role": "admin"}).json()["code"] == 0
    assert client.get("/api/auth/users").status_code == 200
    assert admin.put("/api/auth/users/owner1", json={"enabled": False}).json()["code"] == 0
    assert client.get("/api/vm/gpio").status_code == 401
    assert admin.put("/api/auth/users/owner1", json={"enabled": True}).json()["code"] == 0
    assert client.get("/api/vm/gpio").status_code == 200
    assert admin.delete("/api/auth/users/owner1").json()["code"] == 0
    assert client.get("/api/vm/gpio").status_code == 401
    # A new account of the same name does not inherit the old one's token.
    make_user(admin, "owner1", "admin")
    assert client.get("/api/vm/gpio").status_code == 401
    assert token[4:] not in kvm.path("/etc/kvm/tokens.json").read_text()


def test_logout_with_a_token_keeps_the_owners_sessions(kvm: RunningApp, admin: httpx.Client) -> None:
    client = bearer(kvm, str(create(admin, "logout", "viewer")["token"]))
    assert client.post("/api/auth/logout").json()["code"] == 0
    assert admin.get("/api/auth/account").status_code == 200
    assert client.get("/api/auth/account").status_code == 200


def test_revocation_rights(kvm: RunningApp, admin: httpx.Client) -> None:
    alice = kvm.login("alice", "password-1")
    victor = kvm.login("victor", "password-1")
    alices = create(alice, "alice's")
    alice_id = alices["info"]["id"]  # type: ignore[index]
    assert [t["id"] for t in alice.get("/api/security/tokens").json()["data"]["tokens"]] == [alice_id]
    assert victor.get("/api/security/tokens").json()["data"]["tokens"] == []
    assert victor.delete(f"/api/security/tokens/{alice_id}").json()["code"] == -3
    assert bearer(kvm, str(alices["token"])).get("/api/vm/gpio").status_code == 200
    assert admin.delete(f"/api/security/tokens/{alice_id}").json()["code"] == 0  # admins end anyone's
    assert bearer(kvm, str(alices["token"])).get("/api/vm/gpio").status_code == 401
    assert admin.delete(f"/api/security/tokens/{alice_id}").json()["code"] == -3
    assert admin.delete("/api/security/tokens/" + "x" * 300).json()["code"] == -3
    assert admin.delete("/api/security/tokens/..%2F..%2Fetc").status_code == 404


def test_revocation_closes_the_tokens_websocket(kvm: RunningApp, admin: httpx.Client) -> None:
    created = create(admin, "socket", "user")
    url = kvm.url.replace("http", "ws") + "/api/ws"
    with connect(url, additional_headers={"Authorization": f"Bearer {created['token']}"}) as ws:
        ws.recv(timeout=5)  # the snapshot: the socket is up
        started = time.monotonic()
        token_id = created["info"]["id"]  # type: ignore[index]
        assert admin.delete(f"/api/security/tokens/{token_id}").json()["code"] == 0
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=5)
        assert time.monotonic() - started < 1.0
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_login_token_works_as_bearer_too(kvm: RunningApp, admin: httpx.Client) -> None:
    """curl scripts keep the login's data.token; it may go in Authorization instead of the cookie."""
    token = kvm.client().post("/api/auth/login", json=login_body("alice", "password-1")).json()["data"]["token"]
    assert bearer(kvm, token).get("/api/auth/account").json()["data"]["username"] == "alice"


def test_curl_uses_and_loses_a_token(kvm: RunningApp, admin: httpx.Client) -> None:
    curl = shutil.which("curl")
    assert curl is not None, "curl is needed (apt-get install curl)"
    created = create(admin, "curl", "user")

    def call() -> str:
        out = subprocess.run(
            [
                curl,
                "-s",
                "-w",
                "\n%{http_code}",
                "-H",
                f"Authorization: Bearer {created['token']}",
                "-H",
                "Content-Type: application/json",
                "-d",
                '{"type":"reset","duration":100}',
                f"{kvm.url}/api/vm/gpio",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        return out.rsplit("\n", 1)[1]

    assert call() == "200"
    assert admin.delete(f"/api/security/tokens/{created['info']['id']}").json()["code"] == 0  # type: ignore[index]
    assert call() == "401"


def test_revocation_ends_the_tokens_mjpeg_stream_within_a_second(kvm: RunningApp, admin: httpx.Client) -> None:
    created = create(admin, "camera", "viewer")
    kept = create(admin, "other camera", "viewer")
    stream = Mjpeg(kvm.url, f"Authorization: Bearer {created['token']}")
    other = Mjpeg(kvm.url, f"Authorization: Bearer {kept['token']}")
    try:
        stream.wait_frames()
        other.wait_frames()
        started = time.monotonic()
        assert admin.delete(f"/api/security/tokens/{created['info']['id']}").json()["code"] == 0  # type: ignore[index]
        assert stream.seconds_to_end(started) < 1.0
        other.wait_frames(1)  # another token of the same owner streams on
    finally:
        stream.close()
        other.close()
