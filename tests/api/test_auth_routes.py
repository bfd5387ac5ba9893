"""Every ``/api/auth/*`` route and its error codes (spec 4.1, HEAD), over the real socket."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from app.services.auth.transport import encrypt
from tests.conftest import RunningApp, start_app

UNAUTHORIZED = b'"unauthorized"'


def envelope(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 200, (response.status_code, response.text)
    body: dict[str, object] = response.json()
    assert list(body) == ["code", "msg", "data"], body
    return body


def code(response: httpx.Response) -> object:
    return envelope(response)["code"]


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, (response.status_code, response.text)
    assert response.content == UNAUTHORIZED
    assert response.headers["content-type"].startswith("application/json")


def cleared_cookie(response: httpx.Response) -> bool:
    for header in response.headers.get_list("set-cookie"):
        parts = [p.strip().lower() for p in header.split(";")]
        if parts[0] in ("nano-kvm-token=", 'nano-kvm-token=""') and "max-age=0" in parts:
            return True
    return False


def change_password(client: httpx.Client, current: str | None, new: str) -> httpx.Response:
    body = {"password": encrypt(new)}
    if current is not None:
        body["currentPassword"] = encrypt(current)
    return client.post("/api/auth/password", json=body)


def create(admin: httpx.Client, username: str, role: str = "user", password: str = "password-1") -> httpx.Response:
    return admin.post("/api/auth/users", json={"username": username, "password": encrypt(password), "role": role})


def users(admin: httpx.Client) -> dict[str, dict[str, object]]:
    data = envelope(admin.get("/api/auth/users"))["data"]
    assert isinstance(data, dict) and list(data) == ["users"]
    return {u["username"]: u for u in data["users"]}


@pytest.fixture
def admin(kvm: RunningApp) -> httpx.Client:
    """Admin of a fresh app, for tests that change the admin's own password or need a pristine store."""
    return kvm.login()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """One app for tests that only touch users they create (distinct names per test)."""
    app = start_app(tmp_path_factory.mktemp("auth-routes"))
    yield app
    app.stop()


@pytest.fixture
def sadmin(shared: RunningApp) -> httpx.Client:
    return shared.login()


# --- account and password state -------------------------------------------------------------


def test_account_names_the_session_user_and_role(shared: RunningApp, sadmin: httpx.Client) -> None:
    assert envelope(sadmin.get("/api/auth/account")) == {
        "code": 0,
        "msg": "success",
        "data": {"username": "admin", "role": "admin"},
    }
    assert code(create(sadmin, "vera_acc", "viewer")) == 0
    assert envelope(shared.login("vera_acc", "password-1").get("/api/auth/account"))["data"] == {
        "username": "vera_acc",
        "role": "viewer",
    }
    assert_unauthorized(shared.client().get("/api/auth/account"))


def test_password_state_is_not_updated_until_the_default_password_changes(
    app_factory: Callable[..., RunningApp],
) -> None:
    kvm = app_factory(first_boot=True)
    admin = kvm.login()
    assert envelope(admin.get("/api/auth/password")) == {"code": 0, "msg": "success", "data": {"isUpdated": False}}
    assert json.loads(kvm.path("/etc/kvm/pwd").read_text())["users"][0]["mustChangePassword"] is True

    assert code(change_password(admin, "admin", "a-new-password")) == 0

    again = kvm.login("admin", "a-new-password")
    assert envelope(again.get("/api/auth/password"))["data"] == {"isUpdated": True}
    # Users an admin creates chose no default password: nothing to force.
    assert code(create(again, "bob")) == 0
    assert envelope(kvm.login("bob", "password-1").get("/api/auth/password"))["data"] == {"isUpdated": True}


# --- changing one's own password ----------------------------------------------------------------


def test_change_password_errors(kvm: RunningApp, admin: httpx.Client) -> None:
    before = kvm.path("/etc/kvm/pwd").read_bytes()

    assert envelope(admin.post("/api/auth/password", json={})) == {
        "code": -1,
        "msg": "invalid parameters",
        "data": None,
    }
    assert code(admin.post("/api/auth/password", json={"currentPassword": encrypt("admin")})) == -1
    assert code(admin.post("/api/auth/password", json={"password": 12345678})) == -1
    assert envelope(change_password(admin, None, "a-new-password")) == {
        "code": -3,
        "msg": "current password is required",
        "data": None,
    }
    assert envelope(change_password(admin, "wrong-current", "a-new-password")) == {
        "code": -3,
        "msg": "current password is incorrect",
        "data": None,
    }
    policy = {"code": -5, "msg": "password must be between 8 and 72 bytes", "data": None}
    assert envelope(change_password(admin, "admin", "short")) == policy
    assert envelope(change_password(admin, "admin", "x" * 73)) == policy
    # 72 bytes counted in UTF-8: 36 two-byte characters fit, 37 do not.
    assert envelope(change_password(admin, "admin", "é" * 37)) == policy

    assert kvm.path("/etc/kvm/pwd").read_bytes() == before
    assert code(admin.get("/api/auth/account")) == 0  # none of this ended the session


def test_change_password_clears_the_cookie_and_revokes_the_old_token(kvm: RunningApp, admin: httpx.Client) -> None:
    token = admin.cookies["nano-kvm-token"]
    other_tab = kvm.login()

    answer = change_password(admin, "admin", "é" * 36)  # exactly 72 bytes: allowed
    assert envelope(answer) == {"code": 0, "msg": "success", "data": None}
    assert cleared_cookie(answer), answer.headers.get_list("set-cookie")

    fresh = kvm.client()
    assert_unauthorized(fresh.get("/api/auth/account", headers={"Cookie": f"nano-kvm-token={token}"}))
    assert_unauthorized(other_tab.get("/api/auth/account"))
    assert code(kvm.client().post("/api/auth/login", json={"username": "admin", "password": encrypt("admin")})) == -2
    assert code(kvm.login("admin", "é" * 36).get("/api/auth/account")) == 0


# --- logout ---------------------------------------------------------------------------------------


def test_logout_refuses_the_old_token(kvm: RunningApp, admin: httpx.Client) -> None:
    token = admin.cookies["nano-kvm-token"]
    answer = admin.post("/api/auth/logout")
    assert envelope(answer) == {"code": 0, "msg": "success", "data": None}
    assert cleared_cookie(answer), answer.headers.get_list("set-cookie")

    replay = kvm.client().get("/api/auth/account", headers={"Cookie": f"nano-kvm-token={token}"})
    assert_unauthorized(replay)
    assert_unauthorized(kvm.client().post("/api/auth/logout", headers={"Cookie": f"nano-kvm-token={token}"}))
    assert_unauthorized(kvm.client().post("/api/auth/logout"))


# --- users ----------------------------------------------------------------------------------------


def test_users_list_shape(kvm: RunningApp, admin: httpx.Client) -> None:
    assert envelope(admin.get("/api/auth/users")) == {
        "code": 0,
        "msg": "success",
        "data": {"users": [{"username": "admin", "role": "admin", "enabled": True, "systemAccount": True}]},
    }
    for name, role in (("ann", "admin"), ("bob", "user"), ("vera", "viewer")):
        assert envelope(create(admin, name, role)) == {"code": 0, "msg": "success", "data": None}
    listed = envelope(admin.get("/api/auth/users"))["data"]["users"]  # type: ignore[index]
    assert listed[1:] == [
        {"username": "ann", "role": "admin", "enabled": True},
        {"username": "bob", "role": "user", "enabled": True},
        {"username": "vera", "role": "viewer", "enabled": True},
    ]
    stored = {u["username"]: u for u in json.loads(kvm.path("/etc/kvm/pwd").read_text())["users"]}
    assert stored["bob"]["password"].startswith("$2")  # a bcrypt hash, never the password
    assert "password-1" not in kvm.path("/etc/kvm/pwd").read_text()
    for name in ("ann", "bob", "vera"):
        assert code(kvm.login(name, "password-1").get("/api/auth/account")) == 0


def test_create_user_errors(shared: RunningApp, sadmin: httpx.Client) -> None:
    assert code(create(sadmin, "bob_cre")) == 0
    before = shared.path("/etc/kvm/pwd").read_bytes()

    duplicate = envelope(create(sadmin, "bob_cre", "viewer"))
    assert duplicate == {"code": -3, "msg": "username already exists", "data": None}
    assert code(create(sadmin, "admin")) == -3
    assert envelope(create(sadmin, "carl_cre", "root")) == {"code": -3, "msg": "invalid role", "data": None}
    assert code(create(sadmin, "carl_cre", "Admin")) == -3
    for bad_name in ("../x", "x" * 40, "-x", ".hidden", "a b", "a/b", "é"):
        answer = envelope(create(sadmin, bad_name))
        assert answer["code"] == -3, (bad_name, answer)
        assert "invalid username" in str(answer["msg"])
    assert envelope(create(sadmin, "carl_cre", password="short")) == {
        "code": -2,
        "msg": "password must be between 8 and 72 bytes",
        "data": None,
    }
    not_ciphertext = {"username": "carl_cre", "password": "not-ciphertext", "role": "user"}
    assert envelope(sadmin.post("/api/auth/users", json=not_ciphertext)) == {
        "code": -2,
        "msg": "invalid password",
        "data": None,
    }
    for body in (
        {},
        {"username": "carl_cre", "role": "user"},
        {"username": "carl_cre", "password": encrypt("password-1")},
    ):
        assert code(sadmin.post("/api/auth/users", json=body)) == -1, body

    assert shared.path("/etc/kvm/pwd").read_bytes() == before
    listed = set(users(sadmin))
    assert "bob_cre" in listed and "carl_cre" not in listed
    assert not listed & {"../x", "x" * 40, "-x", ".hidden", "a b", "a/b", "é"}
    # 32 characters is the longest name allowed.
    assert code(create(sadmin, "a" * 32)) == 0


def test_update_user_role_and_enabled(shared: RunningApp, sadmin: httpx.Client) -> None:
    assert code(create(sadmin, "bob_upd")) == 0
    bob_upd = shared.login("bob_upd", "password-1")

    assert envelope(sadmin.put("/api/auth/users/bob_upd", json={"role": "viewer"})) == {
        "code": 0,
        "msg": "success",
        "data": None,
    }
    assert users(sadmin)["bob_upd"]["role"] == "viewer"
    assert_unauthorized(bob_upd.get("/api/auth/account"))  # a role change ends the sessions
    bob_upd = shared.login("bob_upd", "password-1")
    assert envelope(bob_upd.get("/api/auth/account"))["data"] == {"username": "bob_upd", "role": "viewer"}

    assert code(sadmin.put("/api/auth/users/bob_upd", json={"enabled": False})) == 0
    assert users(sadmin)["bob_upd"]["enabled"] is False
    assert_unauthorized(bob_upd.get("/api/auth/account"))  # refused at once
    assert (
        code(shared.client().post("/api/auth/login", json={"username": "bob_upd", "password": encrypt("password-1")}))
        == -2
    )

    assert code(sadmin.put("/api/auth/users/bob_upd", json={"enabled": True, "role": "user"})) == 0
    assert envelope(shared.login("bob_upd", "password-1").get("/api/auth/account"))["data"] == {
        "username": "bob_upd",
        "role": "user",
    }


def test_update_user_errors(shared: RunningApp, sadmin: httpx.Client) -> None:
    assert code(create(sadmin, "ann_uer", "admin")) == 0
    assert code(create(sadmin, "bob_uer")) == 0
    ann_uer = shared.login("ann_uer", "password-1")
    before = shared.path("/etc/kvm/pwd").read_bytes()

    assert code(sadmin.put("/api/auth/users/bob_uer", json={})) == -1
    assert code(sadmin.put("/api/auth/users/bob_uer", json={"role": None, "enabled": None})) == -1
    assert code(sadmin.put("/api/auth/users/bob_uer", json={"enabled": "no"})) == -1
    assert envelope(sadmin.put("/api/auth/users/bob_uer", json={"role": "root"})) == {
        "code": -2,
        "msg": "invalid role",
        "data": None,
    }
    assert envelope(sadmin.put("/api/auth/users/nobody", json={"role": "user"})) == {
        "code": -2,
        "msg": "user not found",
        "data": None,
    }
    itself = {"code": -2, "msg": "administrators cannot disable or demote themselves", "data": None}
    assert envelope(ann_uer.put("/api/auth/users/ann_uer", json={"role": "user"})) == itself
    assert envelope(ann_uer.put("/api/auth/users/ann_uer", json={"enabled": False})) == itself
    owner = {"code": -2, "msg": "the device owner account must remain an enabled administrator", "data": None}
    assert envelope(ann_uer.put("/api/auth/users/admin", json={"role": "viewer"})) == owner
    assert envelope(ann_uer.put("/api/auth/users/admin", json={"enabled": False})) == owner

    assert shared.path("/etc/kvm/pwd").read_bytes() == before
    assert code(sadmin.get("/api/auth/account")) == 0
    assert code(ann_uer.get("/api/auth/account")) == 0
    listed = users(sadmin)
    assert [(listed[name]["role"], listed[name]["enabled"]) for name in ("admin", "ann_uer", "bob_uer")] == [
        ("admin", True),
        ("admin", True),
        ("user", True),
    ]


def test_delete_user(shared: RunningApp, sadmin: httpx.Client) -> None:
    assert code(create(sadmin, "ann_del", "admin")) == 0
    assert code(create(sadmin, "bob_del")) == 0
    ann_del = shared.login("ann_del", "password-1")
    bob_del = shared.login("bob_del", "password-1")

    assert envelope(sadmin.delete("/api/auth/users/bob_del")) == {"code": 0, "msg": "success", "data": None}
    assert {"admin", "ann_del"} <= set(users(sadmin)) and "bob_del" not in users(sadmin)
    assert_unauthorized(bob_del.get("/api/auth/account"))
    assert (
        code(shared.client().post("/api/auth/login", json={"username": "bob_del", "password": encrypt("password-1")}))
        == -2
    )

    assert envelope(sadmin.delete("/api/auth/users/bob_del")) == {"code": -1, "msg": "user not found", "data": None}
    assert envelope(ann_del.delete("/api/auth/users/ann_del")) == {
        "code": -1,
        "msg": "administrators cannot delete themselves",
        "data": None,
    }
    owner = envelope(ann_del.delete("/api/auth/users/admin"))
    assert owner["code"] == -1
    assert {"admin", "ann_del"} <= set(users(sadmin))
    assert code(ann_del.get("/api/auth/account")) == 0

    # A deleted name can be created again, with a new password; old sessions stay dead.
    assert code(create(sadmin, "bob_del", password="password-2")) == 0
    assert_unauthorized(bob_del.get("/api/auth/account"))


def test_admin_resets_another_users_password(shared: RunningApp, sadmin: httpx.Client) -> None:
    assert code(create(sadmin, "bob_rst")) == 0
    bob_rst = shared.login("bob_rst", "password-1")

    def reset(name: str, password: object) -> httpx.Response:
        return sadmin.post(f"/api/auth/users/{name}/password", json={"password": password})

    assert envelope(reset("bob_rst", encrypt("password-2"))) == {"code": 0, "msg": "success", "data": None}
    assert_unauthorized(bob_rst.get("/api/auth/account"))
    assert (
        code(shared.client().post("/api/auth/login", json={"username": "bob_rst", "password": encrypt("password-1")}))
        == -2
    )
    assert code(shared.login("bob_rst", "password-2").get("/api/auth/account")) == 0
    assert code(sadmin.get("/api/auth/account")) == 0  # the admin's own session is untouched

    before = shared.path("/etc/kvm/pwd").read_bytes()
    assert envelope(reset("admin", encrypt("password-3"))) == {
        "code": -3,
        "msg": "the device owner must change its own password",
        "data": None,
    }
    assert envelope(reset("nobody", encrypt("password-3"))) == {"code": -2, "msg": "user not found", "data": None}
    assert envelope(reset("bob_rst", encrypt("short"))) == {
        "code": -4,
        "msg": "password must be between 8 and 72 bytes",
        "data": None,
    }
    assert code(sadmin.post("/api/auth/users/bob_rst/password", json={})) == -1
    assert code(reset("bob_rst", 12345678)) == -1
    assert shared.path("/etc/kvm/pwd").read_bytes() == before


def test_account_routes_need_a_session(shared: RunningApp) -> None:
    app = shared
    anonymous = app.client()
    for method, path in (
        ("GET", "/api/auth/account"),
        ("GET", "/api/auth/password"),
        ("POST", "/api/auth/password"),
        ("POST", "/api/auth/logout"),
        ("GET", "/api/auth/users"),
        ("POST", "/api/auth/users"),
        ("PUT", "/api/auth/users/admin"),
        ("DELETE", "/api/auth/users/admin"),
        ("POST", "/api/auth/users/admin/password"),
    ):
        assert_unauthorized(anonymous.request(method, path, json={}))
    assert json.loads(app.path("/etc/kvm/pwd").read_text())["users"][0]["username"] == "admin"
