"""Per-user TOTP: enrolment with one code, login with a code (as a field or appended to the
password), replay refused, recovery codes used once, turning it off. Codes are computed here with
an RFC 6238 implementation of the test's own (``security_support.totp``)."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
from collections.abc import Iterator

import httpx
import pytest

from app.services.auth.transport import encrypt
from tests.api.security_support import login_body, make_user, ready_admin, totp, wait_for_next_step
from tests.conftest import RunningApp, start_app


@pytest.fixture(scope="module")
def kvm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = start_app(tmp_path_factory.mktemp("totp"))
    yield app
    app.stop()


@pytest.fixture(scope="module")
def admin(kvm: RunningApp) -> httpx.Client:
    return ready_admin(kvm)


def enrol(kvm: RunningApp, client: httpx.Client) -> tuple[str, list[str]]:
    """Enrol ``client``'s account; the secret and the recovery codes."""
    answer = client.post("/api/security/totp/enrol").json()
    assert answer["code"] == 0, answer
    secret = answer["data"]["secret"]
    assert answer["data"]["uri"].startswith("otpauth://totp/")
    assert f"secret={secret}" in answer["data"]["uri"]
    assert answer["data"]["qrSvg"].startswith("<svg")
    wait_for_next_step()
    confirmed = client.post("/api/security/totp/confirm", json={"code": totp(secret)}).json()
    assert confirmed["code"] == 0, confirmed
    return secret, confirmed["data"]["recoveryCodes"]


def login(kvm: RunningApp, username: str, password: str, **extra: str) -> dict[str, object]:
    answer: dict[str, object] = (
        kvm.client().post("/api/auth/login", json=login_body(username, password, **extra)).json()
    )
    return answer


def test_enrolment_needs_a_correct_code(kvm: RunningApp, admin: httpx.Client) -> None:
    make_user(admin, "wrongcode", "user")
    client = kvm.login("wrongcode", "password-1")
    secret = client.post("/api/security/totp/enrol").json()["data"]["secret"]
    wait_for_next_step()
    bad = f"{(int(totp(secret)) + 1) % 1_000_000:06d}"
    for code in (bad, "", "abcdef", "1" * 32, totp(secret, step_offset=5)):
        assert client.post("/api/security/totp/confirm", json={"code": code}).json()["code"] != 0
    assert client.get("/api/security/totp").json()["data"]["enabled"] is False
    assert login(kvm, "wrongcode", "password-1")["code"] == 0  # still no second factor


def test_login_with_a_code_field_and_a_replayed_code_refused(kvm: RunningApp, admin: httpx.Client) -> None:
    make_user(admin, "tina", "user")
    secret, _ = enrol(kvm, kvm.login("tina", "password-1"))
    assert login(kvm, "tina", "password-1") == {"code": -6, "msg": "two-factor code required", "data": None}
    wait_for_next_step()
    code = totp(secret)
    # The confirmation used this step's code already if it was the same step: use the next step's.
    answer = login(kvm, "tina", "password-1", totp=totp(secret, step_offset=1))
    assert answer["code"] == 0, answer
    replay = login(kvm, "tina", "password-1", totp=totp(secret, step_offset=1))
    assert replay["code"] == -7
    assert login(kvm, "tina", "password-1", totp=code)["code"] == -7  # an older step after a newer one
    assert login(kvm, "tina", "wrong-password", totp=totp(secret, step_offset=1))["code"] == -2


def test_concurrent_replays_of_one_code_let_one_in(tmp_path_factory: pytest.TempPathFactory) -> None:
    app = start_app(tmp_path_factory.mktemp("totp-race"), {"security": {"loginLockoutDuration": 0}})
    try:
        admin = ready_admin(app)
        make_user(admin, "racer", "user")
        secret, _ = enrol(app, app.login("racer", "password-1"))
        code = totp(secret, step_offset=1)
        body = login_body("racer", "password-1", totp=code)

        def attempt(_: int) -> int:
            with httpx.Client(base_url=app.url, timeout=60) as client:
                return int(client.post("/api/auth/login", json=body).json()["code"])

        with concurrent.futures.ThreadPoolExecutor(100) as pool:
            codes = list(pool.map(attempt, range(100)))
        assert codes.count(0) == 1, codes
        assert set(codes) == {0, -7}
    finally:
        app.stop()


def test_code_appended_to_the_password(kvm: RunningApp, admin: httpx.Client) -> None:
    """PiKVM's convention for clients that cannot prompt (curl, Home Assistant)."""
    make_user(admin, "pat", "user")
    secret, _ = enrol(kvm, kvm.login("pat", "password-1"))
    answer = login(kvm, "pat", "password-1" + totp(secret, step_offset=1))
    assert answer["code"] == 0, answer
    assert login(kvm, "pat", "password-1" + totp(secret, step_offset=1))["code"] == -7  # replayed
    assert login(kvm, "pat", "password-2" + totp(secret, step_offset=1))["code"] == -2


def test_recovery_codes_work_once_and_are_stored_hashed(kvm: RunningApp, admin: httpx.Client) -> None:
    make_user(admin, "rory", "user")
    _, codes = enrol(kvm, kvm.login("rory", "password-1"))
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = kvm.path("/etc/kvm/totp.json").read_text()
    assert codes[0] not in stored
    assert hashlib.sha256(codes[0].replace("-", "").encode()).hexdigest() in stored  # typed without the dash
    assert login(kvm, "rory", "password-1", totp=codes[0])["code"] == 0
    assert login(kvm, "rory", "password-1", totp=codes[0])["code"] == -7
    assert login(kvm, "rory", "password-1", totp=codes[1].upper().replace("-", " "))["code"] == 0
    client = kvm.client()
    body = login_body("rory", "password-1", totp=codes[2])
    assert client.post("/api/auth/login", json=body).json()["code"] == 0
    assert client.get("/api/security/totp").json()["data"] == {"enabled": True, "recoveryCodesLeft": 7}


def test_turning_it_off_needs_a_code(kvm: RunningApp, admin: httpx.Client) -> None:
    make_user(admin, "otto", "user")
    first = kvm.login("otto", "password-1")
    _, codes = enrol(kvm, first)
    assert first.post("/api/security/totp/enrol").json()["code"] == -2  # already on
    assert first.post("/api/security/totp/disable", json={"code": "000000"}).json()["code"] == -2
    assert first.post("/api/security/totp/disable", json={"code": codes[0]}).json()["code"] == 0
    assert first.get("/api/security/totp").json()["data"]["enabled"] is False
    assert login(kvm, "otto", "password-1")["code"] == 0


def test_an_admin_turns_it_off_for_someone_else(kvm: RunningApp, admin: httpx.Client) -> None:
    make_user(admin, "lost", "user")
    lost = kvm.login("lost", "password-1")
    enrol(kvm, lost)
    assert lost.delete("/api/security/users/lost/totp").status_code == 403
    assert admin.delete("/api/security/users/admin/totp").json()["code"] == -2  # not your own
    assert admin.delete("/api/security/users/lost/totp").json()["code"] == 0
    assert login(kvm, "lost", "password-1")["code"] == 0
    assert admin.delete("/api/security/users/lost/totp").json()["code"] == -3


def test_wrong_codes_count_towards_the_lockout(tmp_path_factory: pytest.TempPathFactory) -> None:
    app = start_app(
        tmp_path_factory.mktemp("totp-lock"), {"security": {"loginLockoutDuration": 60, "loginMaxFailures": 3}}
    )
    try:
        admin = ready_admin(app)
        make_user(admin, "guess", "user")
        secret, _ = enrol(app, app.login("guess", "password-1"))
        results = [login(app, "guess", "password-1", totp="000000")["code"] for _ in range(4)]
        assert results[0] == -7 and set(results) <= {-7, -5}
        assert results[-1] == -5
        assert login(app, "guess", "password-1", totp=totp(secret, step_offset=1))["code"] == -5
    finally:
        app.stop()


def test_deleting_a_user_removes_its_second_factor(kvm: RunningApp, admin: httpx.Client) -> None:
    make_user(admin, "gone", "user")
    enrol(kvm, kvm.login("gone", "password-1"))
    assert admin.delete("/api/auth/users/gone").json()["code"] == 0
    assert "gone" not in json.loads(kvm.path("/etc/kvm/totp.json").read_text())["users"]
    make_user(admin, "gone", "user")
    assert login(kvm, "gone", "password-1")["code"] == 0


def test_a_nanokvm_client_without_totp_logs_in_as_before(kvm: RunningApp, admin: httpx.Client) -> None:
    make_user(admin, "plain", "user")
    answer = kvm.client().post("/api/auth/login", json={"username": "plain", "password": encrypt("password-1")}).json()
    assert answer["code"] == 0 and answer["data"]["token"]
