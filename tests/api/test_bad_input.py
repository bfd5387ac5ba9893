"""Bad input over the real socket is answered cleanly: the endpoint's own code, never a 500, never
a hang, and nothing changes on the device (the account store keeps its bytes, no button moves).
"""

from __future__ import annotations

import base64
import subprocess
import time
from collections.abc import Callable, Iterator
from urllib.parse import quote

import httpx
import pytest

from app.services.auth.transport import encrypt
from tests.conftest import ButtonWatch, RunningApp, start_app

PASSPHRASE = "nanokvm-sipeed-2024"
POWER_BUTTON = "/sys/class/gpio/gpio503/value"
RESET_BUTTON = "/sys/class/gpio/gpio507/value"  # Alpha, the sim board's default
TEN_MB = 10 * 1024 * 1024
LOGIN_INVALID = {"code": -1, "msg": "invalid parameters", "data": None}
LOGIN_REFUSED = {"code": -2, "msg": "invalid username or password", "data": None}


def openssl_nopad(block: bytes) -> str:
    """Encrypt whole blocks exactly as given (no padding added): lets a test choose the pad byte."""
    assert len(block) % 16 == 0
    done = subprocess.run(
        ["openssl", "enc", "-aes-256-cbc", "-md", "md5", "-nopad", "-pass", f"pass:{PASSPHRASE}", "-base64", "-A"],
        input=block,
        capture_output=True,
        check=True,
    )
    return quote(done.stdout.decode("ascii").strip(), safe="")


def wire(raw: bytes) -> str:
    return quote(base64.b64encode(raw).decode("ascii"), safe="")


SALT = b"\x01\x02\x03\x04\x05\x06\x07\x08"
BAD_CIPHERTEXTS: dict[str, Callable[[], str]] = {
    "not-base64": lambda: "this is not base64!",
    "percent-garbage": lambda: "%zz%",
    "no-salted-header": lambda: wire(b"NotSalt_" + SALT + bytes(16)),
    "shorter-than-header": lambda: wire(b"Salted_"),
    "empty-after-header": lambda: wire(b"Salted__" + SALT),
    "length-not-block-multiple": lambda: wire(b"Salted__" + SALT + bytes(15)),
    "length-17": lambda: wire(b"Salted__" + SALT + bytes(17)),
    "pad-byte-zero": lambda: openssl_nopad(b"admin" + b"\x00" * 11),
    "pad-byte-larger-than-block": lambda: openssl_nopad(b"admin" + b"\x00" * 10 + b"\x11"),
    "pad-byte-255": lambda: openssl_nopad(b"admin" + b"\x00" * 10 + b"\xff"),
    "all-padding-empty-password": lambda: openssl_nopad(b"\x10" * 16),
    "not-utf8": lambda: openssl_nopad(b"\xff\xfe\xfd" + b"\x0d" * 13),
    "plain-password": lambda: "admin",
    "nul-in-password": lambda: encrypt("adm\x00in"),
    "longer-than-bcrypt-allows": lambda: encrypt("admin" * 20),
}


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = start_app(tmp_path_factory.mktemp("bad-input"))
    app.login()  # the account store is written on first use; later bytes must not change
    yield app
    app.stop()


def assert_alive(app: RunningApp) -> None:
    assert app.process.poll() is None, "the app exited"
    answer = httpx.get(f"{app.url}/api/vm/hardware", timeout=5)
    assert answer.status_code == 401  # answering, and still enforcing authentication


def post_json(client: httpx.Client, path: str, raw: bytes, **kwargs: object) -> httpx.Response:
    response = client.post(path, content=raw, headers={"Content-Type": "application/json"}, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200, (raw[:60], response.status_code, response.text)
    return response


# --- encrypted passwords ---------------------------------------------------------------------------


@pytest.mark.parametrize("make", list(BAD_CIPHERTEXTS.values()), ids=list(BAD_CIPHERTEXTS))
def test_malformed_ciphertext_is_a_failed_login(board: RunningApp, make: Callable[[], str]) -> None:
    before = board.path("/etc/kvm/pwd").read_bytes()
    answer = board.client().post("/api/auth/login", json={"username": "admin", "password": make()})
    assert answer.status_code == 200, answer.text
    assert answer.json() == LOGIN_REFUSED
    assert "set-cookie" not in answer.headers
    assert board.path("/etc/kvm/pwd").read_bytes() == before
    assert_alive(board)


@pytest.mark.parametrize("username", ["a" * 500_000, "admin\x00", "ADMIN", "admin ", "\u00e9", "../../etc/shadow"])
def test_odd_usernames_are_a_failed_login(board: RunningApp, username: str) -> None:
    before = board.path("/etc/kvm/pwd").read_bytes()
    answer = board.client().post("/api/auth/login", json={"username": username, "password": encrypt("admin")})
    assert answer.status_code == 200
    assert answer.json() == LOGIN_REFUSED
    assert board.path("/etc/kvm/pwd").read_bytes() == before


def test_padding_is_stripped_by_its_last_byte_only(board: RunningApp) -> None:
    """NanoKVM does not validate PKCS#7 (spec 2.2, 11.6): "admin" + junk + a pad byte of 11 is "admin"."""
    answer = board.client().post(
        "/api/auth/login", json={"username": "admin", "password": openssl_nopad(b"admin" + b"Z" * 10 + b"\x0b")}
    )
    assert answer.json()["code"] == 0, answer.text


@pytest.mark.parametrize("name", ["not-base64", "empty-after-header", "pad-byte-255", "length-not-block-multiple"])
def test_malformed_ciphertext_elsewhere(board: RunningApp, name: str) -> None:
    admin = board.login()
    bad = BAD_CIPHERTEXTS[name]()
    before = board.path("/etc/kvm/pwd").read_bytes()

    created = admin.post("/api/auth/users", json={"username": "carl", "password": bad, "role": "user"})
    assert created.json() == {"code": -2, "msg": "invalid password", "data": None}
    change = admin.post("/api/auth/password", json={"currentPassword": encrypt("admin"), "password": bad})
    assert change.json()["code"] == -5
    wrong_current = admin.post("/api/auth/password", json={"currentPassword": bad, "password": encrypt("password-1")})
    assert wrong_current.json()["code"] in (-3, -5)
    reset = admin.post("/api/auth/users/admin/password", json={"password": bad})
    assert reset.status_code == 200 and reset.json()["code"] < 0

    assert board.path("/etc/kvm/pwd").read_bytes() == before
    assert admin.get("/api/auth/account").json()["code"] == 0  # nothing ended the session


# --- JSON shapes and types ---------------------------------------------------------------------------

WRONG_LOGIN_BODIES = {
    "empty": b"",
    "whitespace": b"  \n",
    "null": b"null",
    "array": b"[]",
    "string": b'"admin"',
    "number": b"42",
    "truncated": b'{"username":"admin"',
    "not-utf8": b"\xff\xfe{}",
    "username-int": b'{"username":1,"password":"x"}',
    "username-null": b'{"username":null,"password":"x"}',
    "username-list": b'{"username":["admin"],"password":"x"}',
    "password-object": b'{"username":"admin","password":{}}',
    "no-password": b'{"username":"admin"}',
    "no-username": b'{"password":"x"}',
    "empty-username": b'{"username":"","password":"x"}',
    "empty-password": b'{"username":"admin","password":""}',
    "deeply-nested-array": b"[" * 100_000,
    "deeply-nested-object": b'{"username":' * 50_000,
}


@pytest.mark.parametrize("raw", list(WRONG_LOGIN_BODIES.values()), ids=list(WRONG_LOGIN_BODIES))
def test_login_with_a_wrong_body_is_invalid_parameters(board: RunningApp, raw: bytes) -> None:
    before = board.path("/etc/kvm/pwd").read_bytes()
    assert post_json(board.client(), "/api/auth/login", raw).json() == LOGIN_INVALID
    assert board.path("/etc/kvm/pwd").read_bytes() == before
    assert_alive(board)


WRONG_GPIO_BODIES = {
    "empty": b"",
    "null": b"null",
    "array": b"[]",
    "string": b'"power"',
    "no-type": b"{}",
    "empty-type": b'{"type":""}',
    "type-int": b'{"type":1}',
    "duration-string": b'{"type":"power","duration":"800"}',
    "duration-negative": b'{"type":"power","duration":-1}',
    "duration-huge": b'{"type":"power","duration":1000000000000}',
    "duration-2^64": b'{"type":"power","duration":18446744073709551616}',
    "duration-float": b'{"type":"power","duration":800.5}',
    "duration-bool": b'{"type":"power","duration":true}',
    "duration-over-max": b'{"type":"power","duration":20001}',
    "not-json": b"type=power",
    "deeply-nested": b"[" * 100_000,
}


def test_gpio_with_a_wrong_body_is_invalid_arguments(board: RunningApp) -> None:
    admin = board.login()
    pwr_before = admin.get("/api/vm/gpio").json()["data"]["pwr"]
    with ButtonWatch(board.path(POWER_BUTTON)) as power, ButtonWatch(board.path(RESET_BUTTON)) as reset:
        for name, raw in WRONG_GPIO_BODIES.items():
            answer = post_json(admin, "/api/vm/gpio", raw).json()
            assert answer["code"] == -1, (name, answer)
            assert answer["msg"].startswith("invalid arguments"), (name, answer)
            assert answer["data"] is None
        for event in ("boot", "POWER", "power ", "off"):
            answer = admin.post("/api/vm/gpio", json={"type": event}).json()
            assert answer == {"code": -2, "msg": f"invalid power event: {event}", "data": None}
        time.sleep(0.05)
    assert not power.pressed and not reset.pressed
    assert admin.get("/api/vm/gpio").json()["data"]["pwr"] == pwr_before
    assert_alive(board)


def test_bad_path_parameters(board: RunningApp) -> None:
    admin = board.login()
    before = board.path("/etc/kvm/pwd").read_bytes()
    for name in ("%00", "%ff", "a" * 5000, "admin%20", "ADMIN"):
        put = admin.put(f"/api/auth/users/{name}", json={"enabled": False})
        assert put.status_code == 200 and put.json() == {"code": -2, "msg": "user not found", "data": None}, name
        gone = admin.delete(f"/api/auth/users/{name}")
        assert gone.status_code == 200 and gone.json() == {"code": -1, "msg": "user not found", "data": None}, name
    # A '/' inside the name is a different path: no such route.
    assert admin.delete("/api/auth/users/..%2Fadmin").status_code == 404
    assert board.path("/etc/kvm/pwd").read_bytes() == before


def test_garbage_cookies_are_unauthorized(board: RunningApp) -> None:
    for value in (b"", b"%%%", b"a.b.c", b"\xc3\xa9", b"x" * 8000, b"a;b=c", b'"quoted"', b"e30.e30."):
        answer = httpx.get(f"{board.url}/api/vm/info", headers={"Cookie": b"nano-kvm-token=" + value})
        assert answer.status_code == 401, value
        assert answer.content == b'"unauthorized"'
    assert_alive(board)


# --- what clients really send ---------------------------------------------------------------------


def test_keys_match_in_any_case_and_unknown_keys_are_ignored(board: RunningApp) -> None:
    client = board.client()
    odd = client.post("/api/auth/login", json={"USERNAME": "admin", "Password": encrypt("admin"), "remember": True})
    assert odd.json()["code"] == 0, odd.text
    with ButtonWatch(board.path(RESET_BUTTON)) as reset:
        answer = client.post("/api/vm/gpio", json={"TYPE": "reset", "Duration": 100, "extra": [1, 2]})
    assert answer.json() == {"code": 0, "msg": "success", "data": None}
    assert reset.pressed


def test_form_encoded_bodies_are_accepted(board: RunningApp) -> None:
    client = board.client()
    # httpx form-encodes the (already URL-encoded) ciphertext once more; the server decodes both layers.
    login = client.post("/api/auth/login", data={"username": "admin", "password": encrypt("admin")})
    assert login.json()["code"] == 0, login.text
    assert client.post("/api/auth/logout").json()["code"] == 0
    go_names = client.post("/api/auth/login", data={"Username": "admin", "Password": encrypt("admin")})
    assert go_names.json()["code"] == 0, go_names.text
    with ButtonWatch(board.path(RESET_BUTTON)) as reset:
        press = client.post("/api/vm/gpio", data={"type": "reset", "duration": "100"})
    assert press.json()["code"] == 0, press.text
    assert reset.pressed
    wrong = client.post("/api/vm/gpio", data={"type": "reset", "duration": "soon"}).json()
    assert wrong["code"] == -1


def test_json_sent_with_curls_default_form_content_type(board: RunningApp) -> None:
    """`curl -d '{...}'` without -H labels JSON as a form; scripts in the wild do this."""
    body = '{"username":"admin","password":"%s"}' % encrypt("admin")  # noqa: UP031
    answer = board.client().post(
        "/api/auth/login", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert answer.json()["code"] == 0, answer.text


# --- size ---------------------------------------------------------------------------------------------


def _big_json() -> bytes:
    return b'{"username":"admin","password":"' + b"A" * TEN_MB + b'"}'


def _chunks() -> Iterator[bytes]:
    yield b'{"type":"power","duration":"'
    for _ in range(TEN_MB // 65536):
        yield b"1" * 65536
    yield b'"}'


@pytest.mark.parametrize(
    ("path", "session", "body"),
    [
        ("/api/auth/login", False, "plain"),
        ("/api/auth/login", False, "chunked"),
        ("/api/vm/gpio", True, "plain"),
        ("/api/vm/gpio", True, "chunked"),
        ("/api/auth/users", True, "plain"),
        ("/api/auth/password", True, "plain"),
    ],
)
def test_ten_megabyte_body_gets_a_clean_error(board: RunningApp, path: str, session: bool, body: str) -> None:
    client = board.login() if session else board.client()
    before = board.path("/etc/kvm/pwd").read_bytes()
    started = time.monotonic()
    with ButtonWatch(board.path(POWER_BUTTON)) as power:
        answer = client.post(
            path,
            content=_big_json() if body == "plain" else _chunks(),
            headers={"Content-Type": "application/json"},
            timeout=20,
        )
    assert time.monotonic() - started < 10, "the oversized request hung"
    assert answer.status_code == 200, (answer.status_code, answer.text[:200])
    envelope = answer.json()
    assert list(envelope) == ["code", "msg", "data"]
    assert envelope["code"] == -1
    assert envelope["data"] is None
    assert not power.pressed
    assert board.path("/etc/kvm/pwd").read_bytes() == before
    assert_alive(board)
    if session:
        assert client.get("/api/auth/account").json()["code"] == 0


# --- routing --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_session", [False, True], ids=["anonymous", "admin"])
def test_unknown_routes_and_wrong_methods_are_404(board: RunningApp, with_session: bool) -> None:
    client = board.login() if with_session else board.client()
    for method, path in (
        ("GET", "/api/nope"),
        ("GET", "/api/vm/nope"),
        ("POST", "/api/auth/nope"),
        ("GET", "/nope.html"),
        ("GET", "/api/auth/login"),
        ("GET", "/api/auth/logout"),
        ("PUT", "/api/vm/gpio"),
        ("DELETE", "/api/vm/info"),
        ("POST", "/api/vm/info"),
        ("PATCH", "/api/auth/users"),
        ("GET", "/api/auth/users/admin"),
        ("OPTIONS", "/api/vm/gpio"),
    ):
        answer = client.request(method, path)
        assert answer.status_code == 404, (method, path, answer.status_code, answer.text[:100])
        assert answer.content == b"404 page not found", (method, path)
        assert answer.headers["content-type"].startswith("text/plain"), (method, path)


# --- authentication: disable -------------------------------------------------------------------------------


def test_authentication_disabled_acts_as_admin(app_factory: Callable[..., RunningApp]) -> None:
    app = app_factory({"authentication": "disable"})
    client = app.client()  # never logs in, never holds a cookie

    login = client.post("/api/auth/login", json={"username": "anyone", "password": "whatever"})
    assert login.json() == {"code": 0, "msg": "success", "data": {"token": "disabled"}}
    assert "set-cookie" not in login.headers
    assert client.post("/api/auth/login", content=b"").json()["data"] == {"token": "disabled"}

    assert client.get("/api/auth/account").json()["data"] == {"username": "admin", "role": "admin"}
    assert client.get("/api/auth/password").json()["data"] == {"isUpdated": True}
    assert client.get("/api/auth/users").json()["code"] == 0
    created = client.post(
        "/api/auth/users", json={"username": "bob", "password": encrypt("password-1"), "role": "viewer"}
    )
    assert created.json()["code"] == 0
    with ButtonWatch(app.path(RESET_BUTTON)) as reset:
        assert client.post("/api/vm/gpio", json={"type": "reset", "duration": 100}).json()["code"] == 0
    assert reset.pressed
    assert client.post("/api/auth/logout").json()["code"] == 0
    assert client.get("/api/auth/account").status_code == 200  # nothing to revoke
    # Even a stale or forged cookie is ignored rather than refused.
    assert client.get("/api/vm/info", headers={"Cookie": "nano-kvm-token=forged"}).json()["code"] == 0
