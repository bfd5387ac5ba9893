"""KasmVNC's user calls (seeds/kasmvnc-api.txt) against the real app, with the seed's own curl
examples: query strings, bulk JSON bodies, HTTP Basic; read/write/owner are our viewer/user/admin."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import RunningApp
from tests.kasm.curl import curl

# The seed's bulk bodies, as printed there.
CREATE_BULK = """[
{ "user": "username1", "password": "password123", "write": true, "read": true, "owner": false },
{ "user": "username2", "password": "password123", "write": true, "read": true, "owner": false }
]"""
UPDATE_BULK = """[
{ "user": "username1", "write": true, "read": true, "owner": false },
{ "user": "username2", "write": true, "read": true, "owner": false }
]"""
REMOVE_BULK = """[
{ "user": "username1" },
{ "user": "username2" }
]"""


@pytest.fixture
def kvm(app_factory: Callable[..., RunningApp]) -> RunningApp:
    return app_factory()


def roles(kvm: RunningApp) -> dict[str, str]:
    users = json.loads((kvm.root / "etc/kvm/pwd").read_text())["users"]
    return {u["username"]: u["role"] if u["enabled"] else "disabled" for u in users}


def owner(kvm: RunningApp) -> str:
    """``vncpasswd -u my_username -w -r -o`` done through the API by our admin: an owner account."""
    answer = curl("-u", "admin:admin", f"{kvm.url}/api/create_user?name=my_username&password=mypassword&owner=true")
    assert answer.status == 200, answer.body
    return "my_username:mypassword"


def test_the_seed_examples_create_update_and_remove_users(kvm: RunningApp) -> None:
    creds = owner(kvm)
    assert roles(kvm)["my_username"] == "admin"

    # example: /api/create_user?name=fred&password=123&write=true -- our password policy refuses "123".
    refused = curl("-u", creds, f"{kvm.url}/api/create_user?name=fred&password=123&write=true")
    assert refused.status == 400
    assert "password must be between 8 and 72 bytes" in refused.json()[0]["error"]
    assert "fred" not in roles(kvm)
    made = curl("-u", creds, f"{kvm.url}/api/create_user?name=fred&password=12345678&write=true")
    assert made.status == 200, made.body
    assert made.json()[0]["permissions"] == "rw"
    assert roles(kvm)["fred"] == "user"

    bulk = curl("-u", creds, "-X", "POST", "-H", "Content-Type: application/json", "-d", CREATE_BULK,
                f"{kvm.url}/api/create_user")  # fmt: skip
    assert bulk.status == 200, bulk.body
    assert roles(kvm)["username1"] == roles(kvm)["username2"] == "user"

    # example: /api/update_user?name=fred&password=123&write=true -- the same policy; nothing changes.
    refused = curl("-u", creds, f"{kvm.url}/api/update_user?name=fred&password=123&write=true")
    assert refused.status == 400
    demote = curl("-u", creds, f"{kvm.url}/api/update_user?name=fred&write=false")
    assert demote.status == 200 and roles(kvm)["fred"] == "viewer"
    promote = curl("-u", creds, f"{kvm.url}/api/update_user?name=fred&owner=true")
    assert promote.status == 200 and roles(kvm)["fred"] == "admin"
    none = curl("-u", creds, f"{kvm.url}/api/update_user?name=fred&read=false&write=false&owner=false")
    assert none.status == 200 and roles(kvm)["fred"] == "disabled"
    update = curl("-u", creds, "-X", "POST", "-H", "Content-Type: application/json", "-d", UPDATE_BULK,
                  f"{kvm.url}/api/update_user")  # fmt: skip
    assert update.status == 200, update.body

    listed = curl("-u", creds, f"{kvm.url}/api/get_users").json()
    by_name = {u["user"]: u["permissions"] for u in listed}
    assert by_name == {"admin": "rwo", "my_username": "rwo", "fred": "", "username1": "rw", "username2": "rw"}

    # example: /api/remove_user?name=fred
    assert curl("-u", creds, f"{kvm.url}/api/remove_user?name=fred").status == 200
    removed = curl("-u", creds, "-X", "POST", "-H", "Content-Type: application/json", "-d", REMOVE_BULK,
                   f"{kvm.url}/api/remove_user")  # fmt: skip
    assert removed.status == 200, removed.body
    assert set(roles(kvm)) == {"admin", "my_username"}
    assert curl("-u", creds, f"{kvm.url}/api/remove_user?name=fred").status == 404


def test_a_new_user_logs_in_with_its_permissions(kvm: RunningApp) -> None:
    creds = owner(kvm)
    assert curl("-u", creds, f"{kvm.url}/api/create_user?name=watcher&password=watching1&read=true").status == 200
    watcher = kvm.login("watcher", "watching1")
    assert watcher.get("/api/vm/gpio").json()["code"] == 0  # a viewer reads
    assert watcher.post("/api/vm/gpio", json={"type": "power"}).status_code == 403  # and presses nothing
    # The owner API is for owners: a viewer's Basic credentials are refused.
    assert curl("-u", "watcher:watching1", f"{kvm.url}/api/get_users").status == 403


def test_credentials(kvm: RunningApp) -> None:
    url = f"{kvm.url}/api/get_users"
    assert curl(url).status == 401
    assert curl("-u", "admin:wrong", url).status == 401
    assert curl("-u", "admin:admin", url).status == 200
    assert curl("-H", "Authorization: Basic bm90IGJhc2U2NA", url).status == 401  # not "user:password"
    admin = kvm.login()
    assert admin.get("/api/get_users").status_code == 200  # our session cookie
    token = admin.post("/api/security/tokens", json={"name": "ci", "role": "admin"}).json()["data"]["token"]
    assert curl("-H", f"Authorization: Bearer {token}", url).status == 200
    user_token = admin.post("/api/security/tokens", json={"name": "ci", "role": "user"}).json()["data"]["token"]
    assert curl("-H", f"Authorization: Bearer {user_token}", url).status == 403


def test_user_changes_by_get_refuse_other_sites(kvm: RunningApp) -> None:
    """KasmVNC changes users on GET: a page elsewhere must not do it with the browser's credentials."""
    admin = kvm.login()
    assert admin.get("/api/create_user?name=kept&password=kept12345").status_code == 200
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        answer = admin.get("/api/remove_user?name=kept", headers=headers)
        assert answer.status_code == 403
    assert "kept" in roles(kvm)
    refused = httpx.post(f"{kvm.url}/api/remove_user", auth=("admin", "admin"), json=[{"user": "kept"}],
                         headers={"Origin": "https://evil.example"})  # fmt: skip
    assert refused.status_code == 403 and "kept" in roles(kvm)


def test_bad_input_is_a_clear_error(kvm: RunningApp) -> None:
    auth = ("admin", "admin")
    cases = [
        ("GET", "/api/create_user?name=x&password=longenough&write=maybe", None, 400),
        ("GET", "/api/create_user?password=longenough", None, 400),
        ("POST", "/api/create_user", b"[{", 400),
        ("POST", "/api/create_user", b'{"user": 5}', 400),
        ("GET", "/api/update_user?name=ghost&write=true", None, 404),
        ("GET", "/api/remove_user?name=admin", None, 409),  # the device owner account stays
        ("GET", "/api/create_user?name=admin&password=longenough", None, 409),
    ]
    for method, path, body, status in cases:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        answer = httpx.request(method, kvm.url + path, auth=auth, content=body, headers=headers)
        assert answer.status_code == status, (path, answer.text)
        assert answer.json()
    assert set(roles(kvm)) == {"admin"}
