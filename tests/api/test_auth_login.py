"""Login over the real socket, as a curl script and NanoKVM's clients do it (spec 2.2, 2.3, 2.5).

The password is encrypted by the openssl command line (not by the app's own code), URL-encoded, then
posted; the answer must carry the token both in the body (nanokvm 1.2, curl) and in an HttpOnly
cookie (the web page, nanokvm 1.4).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import RunningApp, start_app

PASSPHRASE = "nanokvm-sipeed-2024"
SPEC_VECTOR = "U2FsdGVkX19SGFmZqrC%2FBTF14E9ikx5C4b0B1S6Ckpw%3D"  # spec 2.2: "admin", as sent on the wire
MAX_AGE = 2_678_400


def openssl_encrypt(plain: str) -> str:
    """The ciphertext exactly as a shell script makes it: base64 on one line, not URL-encoded yet."""
    done = subprocess.run(
        ["openssl", "enc", "-aes-256-cbc", "-md", "md5", "-salt", "-pass", f"pass:{PASSPHRASE}", "-base64", "-A"],
        input=plain.encode("utf-8"),
        capture_output=True,
        check=True,
    )
    return done.stdout.decode("ascii").strip()


def curl_login(client: httpx.Client, username: str, password: str, **headers: str) -> httpx.Response:
    """POST a hand-written JSON body, as `curl -H 'Content-Type: application/json' -d ...` would."""
    wire = quote(openssl_encrypt(password), safe="")
    body = '{"username":"%s","password":"%s"}' % (username, wire)  # noqa: UP031 - a script's literal body
    return client.post(
        "/api/auth/login",
        content=body.encode("utf-8"),
        headers={"Content-Type": "application/json", **headers},
    )


def parse_set_cookie(header: str) -> tuple[str, str, dict[str, str]]:
    """Name, value and attributes (names lower-cased, flags map to "")."""
    first, *rest = [part.strip() for part in header.split(";")]
    name, _, value = first.partition("=")
    attrs: dict[str, str] = {}
    for part in rest:
        key, _, val = part.partition("=")
        attrs[key.strip().lower()] = val.strip()
    return name, value, attrs


def token_cookie(response: httpx.Response) -> tuple[str, dict[str, str]]:
    cookies = [parse_set_cookie(h) for h in response.headers.get_list("set-cookie")]
    ours = [(value, attrs) for name, value, attrs in cookies if name == "nano-kvm-token"]
    assert len(ours) == 1, response.headers.get_list("set-cookie")
    return ours[0]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """One app for the tests that only log in (logging in changes nothing on the device)."""
    app = start_app(tmp_path_factory.mktemp("login"))
    yield app
    app.stop()


def test_openssl_encrypted_login_returns_token_in_body_and_cookie(shared: RunningApp) -> None:
    response = curl_login(shared.client(), "admin", "admin")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    raw = response.content
    assert raw.startswith(b'{"code":0,"msg":"success","data":{"token":"'), raw
    token = json.loads(raw)["data"]["token"]
    assert len(token.split(".")) == 3  # a JWT
    assert set(json.loads(raw)["data"]) == {"token"}

    value, attrs = token_cookie(response)
    assert value == token
    assert "httponly" in attrs
    assert attrs.get("samesite", "").lower() == "strict"
    assert attrs.get("path") == "/"
    assert attrs.get("max-age") == str(MAX_AGE)
    assert "secure" not in attrs  # plain http, no proxy saying otherwise
    assert "domain" not in attrs


def test_body_token_works_as_a_cookie_on_a_fresh_client(shared: RunningApp) -> None:
    token = curl_login(shared.client(), "admin", "admin").json()["data"]["token"]

    anonymous = shared.client()
    assert anonymous.get("/api/auth/account").status_code == 401

    fresh = shared.client()
    answer = fresh.get("/api/auth/account", headers={"Cookie": f"nano-kvm-token={token}"})
    assert answer.status_code == 200
    assert answer.json() == {"code": 0, "msg": "success", "data": {"username": "admin", "role": "admin"}}
    # The same token, one character off, is refused: the cookie is really checked.
    forged = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert fresh.get("/api/auth/account", headers={"Cookie": f"nano-kvm-token={forged}"}).status_code == 401


def test_cookie_is_secure_behind_an_https_proxy(shared: RunningApp) -> None:
    response = curl_login(shared.client(), "admin", "admin", **{"X-Forwarded-Proto": "https"})
    assert response.json()["code"] == 0
    _, attrs = token_cookie(response)
    assert "secure" in attrs
    assert "httponly" in attrs
    assert attrs.get("samesite", "").lower() == "strict"

    plain = curl_login(shared.client(), "admin", "admin", **{"X-Forwarded-Proto": "http"})
    _, attrs = token_cookie(plain)
    assert "secure" not in attrs


def test_spec_test_vector_logs_in(shared: RunningApp) -> None:
    client = shared.client()
    body = '{"username":"admin","password":"%s"}' % SPEC_VECTOR  # noqa: UP031
    answer = client.post("/api/auth/login", content=body, headers={"Content-Type": "application/json"})
    assert answer.json()["code"] == 0, answer.text
    assert client.get("/api/auth/account").json()["data"]["username"] == "admin"


def test_wrong_password_and_unknown_user_are_refused_alike(shared: RunningApp) -> None:
    wrong = curl_login(shared.client(), "admin", "not-admin")
    assert wrong.status_code == 200
    assert wrong.json() == {"code": -2, "msg": "invalid username or password", "data": None}
    assert "set-cookie" not in wrong.headers
    unknown = curl_login(shared.client(), "nobody", "admin")
    assert unknown.json() == {"code": -2, "msg": "invalid username or password", "data": None}


def test_ciphertext_is_url_decoded_before_base64(shared: RunningApp) -> None:
    """A ciphertext with '+' logs in when sent as %2B, and fails when the '+' is sent raw (it means space)."""
    for _ in range(200):
        cipher = openssl_encrypt("admin")
        if "+" in cipher:
            break
    else:
        pytest.fail("openssl never produced a '+' in 200 tries")
    client = shared.client()
    good = client.post("/api/auth/login", json={"username": "admin", "password": quote(cipher, safe="")})
    assert good.json()["code"] == 0
    raw = client.post("/api/auth/login", json={"username": "admin", "password": cipher})
    assert raw.status_code == 200
    assert raw.json()["code"] == -2


def test_lockout_counts_failures_per_ip(app_factory: Callable[..., RunningApp]) -> None:
    app = app_factory({"security": {"loginLockoutDuration": 60, "loginMaxFailures": 3}})
    admin = app.login()
    created = admin.post("/api/auth/users", json={"username": "bob", "password": _enc("bob-password"), "role": "user"})
    assert created.json()["code"] == 0
    client = app.client()

    for attempt in range(3):  # the third failure locks, and still answers -2
        answer = curl_login(client, "admin", f"wrong-{attempt}")
        assert answer.json()["code"] == -2, (attempt, answer.text)
    locked = curl_login(client, "admin", "admin")
    assert locked.json() == {
        "code": -5,
        "msg": "Account locked due to too many failed attempts, please try again later",
        "data": None,
    }
    assert "set-cookie" not in locked.headers
    # Per IP, not per account: bob, never wrong, is locked out from this address too.
    assert curl_login(app.client(), "bob", "bob-password").json()["code"] == -5
    # Keyed by the TCP peer: a client-supplied forwarding header does not get around it.
    spoofed = curl_login(
        app.client(), "admin", "admin", **{"X-Forwarded-For": "203.0.113.7", "X-Real-IP": "203.0.113.7"}
    )
    assert spoofed.json()["code"] == -5
    # Sessions opened before the lock still work; the lock is on logging in.
    assert admin.get("/api/auth/account").json()["code"] == 0


def test_without_lockout_failures_never_lock(shared: RunningApp) -> None:
    client = shared.client()
    for attempt in range(7):  # more than the default loginMaxFailures (5), which only applies when enabled
        assert curl_login(client, "admin", f"wrong-{attempt}").json()["code"] == -2
    assert curl_login(client, "admin", "admin").json()["code"] == 0


def _enc(password: str) -> str:
    return quote(openssl_encrypt(password), safe="")


def test_successful_login_resets_the_failure_count(app_factory: Callable[..., RunningApp]) -> None:
    app = app_factory({"security": {"loginLockoutDuration": 60, "loginMaxFailures": 3}})
    client = app.client()
    for attempt in range(2):
        assert curl_login(client, "admin", f"wrong-{attempt}").json()["code"] == -2
    assert curl_login(client, "admin", "admin").json()["code"] == 0
    for attempt in range(2):  # two more: 4 failures in the window, but a success came between
        assert curl_login(client, "admin", f"again-{attempt}").json()["code"] == -2
    assert curl_login(client, "admin", "admin").json()["code"] == 0


def test_lock_ends_after_the_lockout_duration(app_factory: Callable[..., RunningApp]) -> None:
    app = app_factory({"security": {"loginLockoutDuration": 1, "loginMaxFailures": 2}})
    client = app.client()
    for attempt in range(2):
        assert curl_login(client, "admin", f"wrong-{attempt}").json()["code"] == -2
    locked_at = time.monotonic()
    assert curl_login(client, "admin", "admin").json()["code"] == -5
    time.sleep(max(0.0, locked_at + 1.2 - time.monotonic()))
    assert curl_login(client, "admin", "admin").json()["code"] == 0
