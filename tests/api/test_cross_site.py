"""Cross-site requests are refused (issue 13, finding 3), while curl and NanoKVM's clients still work.

A page of another site can make the browser send a "simple" request with the user's cookie: a form
(urlencoded or multipart) or text/plain POST. Each attack here carries a valid admin cookie, as the
browser would; the one thing that differs from the accepted control is the site it comes from or the
body's type.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from app.services.auth.transport import encrypt
from tests.conftest import RunningApp, start_app

EVIL = "http://evil.example"


@pytest.fixture(scope="module")
def kvm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = start_app(tmp_path_factory.mktemp("cross-site"))
    yield app
    app.stop()


@pytest.fixture(scope="module")
def admin(kvm: RunningApp) -> httpx.Client:
    return kvm.login()


def users(admin: httpx.Client) -> list[str]:
    return [u["username"] for u in admin.get("/api/auth/users").json()["data"]["users"]]


def new_user(name: str) -> str:
    return json.dumps({"username": name, "password": encrypt("password-1"), "role": "admin"})


@pytest.mark.parametrize(
    ("name", "headers"),
    [
        ("origin", {"Origin": EVIL}),
        ("null-origin", {"Origin": "null"}),
        ("other-port", {"Origin": "http://127.0.0.1:1"}),
        ("fetch-cross", {"Sec-Fetch-Site": "cross-site"}),
        ("fetch-same-site", {"Sec-Fetch-Site": "same-site", "Origin": "http://sub.127.0.0.1"}),
        ("referer", {"Referer": f"{EVIL}/attack.html"}),
    ],
)
@pytest.mark.parametrize("kind", ["json", "form", "text", "multipart"])
def test_state_changes_from_another_site_are_refused(
    kvm: RunningApp, admin: httpx.Client, name: str, headers: dict[str, str], kind: str
) -> None:
    user = f"x-{name}-{kind}"
    body = new_user(user)
    sent: dict[str, object] = {
        "json": {"content": body, "headers": {"Content-Type": "application/json"}},
        "form": {"data": json.loads(body)},
        "text": {"content": body, "headers": {"Content-Type": "text/plain"}},
        "multipart": {"data": json.loads(body), "files": {"x": ("x", b"x")}},
    }[kind]
    extra = dict(sent.pop("headers", {}))  # type: ignore[call-overload]
    answer = admin.post("/api/auth/users", headers={**extra, **headers}, **sent)  # type: ignore[arg-type]
    assert (answer.status_code, answer.content) == (403, b'"forbidden"'), answer.text
    assert user not in users(admin)


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_other_methods_from_another_site_are_refused(kvm: RunningApp, admin: httpx.Client, method: str) -> None:
    assert admin.post("/api/auth/users", content=new_user("victim"), headers={"Content-Type": "application/json"})
    answer = admin.request(
        method, "/api/auth/users/victim", json={"enabled": False}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert answer.status_code == 403
    assert "victim" in users(admin)


def test_a_power_press_from_another_site_is_refused(kvm: RunningApp, admin: httpx.Client) -> None:
    answer = admin.post("/api/vm/gpio", data={"type": "reset", "duration": "100"}, headers={"Origin": EVIL})
    assert answer.status_code == 403


def test_text_plain_body_is_refused_without_any_site_header(kvm: RunningApp, admin: httpx.Client) -> None:
    """An old browser may send neither Origin nor Sec-Fetch-Site; the body's type gives it away."""
    answer = admin.post("/api/auth/users", content=new_user("plain"), headers={"Content-Type": "text/plain"})
    assert answer.status_code == 200 and answer.json()["code"] < 0, answer.text
    assert "application/json" in answer.json()["msg"]
    assert "plain" not in users(admin)


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, scripts, the nanokvm client: no browser headers
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},  # typed into the address bar
    ],
)
def test_our_own_page_and_scripts_still_change_state(
    kvm: RunningApp, admin: httpx.Client, headers: dict[str, str]
) -> None:
    host = kvm.url.removeprefix("http://")
    user = f"ok-{len(headers)}-{next(iter(headers.values()), 'x')}"
    answer = admin.post(
        "/api/auth/users",
        content=new_user(user),
        headers={"Content-Type": "application/json", "Origin": f"http://{host}", **headers},
    )
    assert answer.json()["code"] == 0, answer.text
    assert user in users(admin)


def test_the_readme_curl_login_and_power_press_work(kvm: RunningApp, tmp_path: object) -> None:
    """The README's curl lines, run by curl itself (JSON with -H, and curl's default form type)."""
    jar = f"{tmp_path}/jar"
    login = json.dumps({"username": "admin", "password": encrypt("admin")})
    for content_type in (["-H", "Content-Type: application/json"], []):
        out = subprocess.run(
            ["curl", "-s", "-c", jar, *content_type, "-d", login, f"{kvm.url}/api/auth/login"],
            capture_output=True,
            check=True,
            timeout=30,
        )
        assert json.loads(out.stdout)["code"] == 0, out.stdout
    gpio = f"{kvm.url}/api/vm/gpio"
    press = subprocess.run(
        [
            "curl",
            "-s",
            "-b",
            jar,
            "-H",
            "Content-Type: application/json",
            "-d",
            '{"type":"reset","duration":100}',
            gpio,
        ],
        capture_output=True,
        check=True,
        timeout=30,
    )
    assert json.loads(press.stdout)["code"] == 0, press.stdout
