"""The audit log: logins (and failures), power, media, user changes, from where; admins read it;
its size stays bounded; a kill -9 leaves whole records."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.services.auth.transport import encrypt
from tests.api.security_support import ADMIN_PASSWORD, login_body, make_user, ready_admin
from tests.conftest import RunningApp, start_app


@pytest.fixture(scope="module")
def kvm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = start_app(tmp_path_factory.mktemp("audit"))
    yield app
    app.stop()


@pytest.fixture(scope="module")
def admin(kvm: RunningApp) -> httpx.Client:
    client = ready_admin(kvm)
    make_user(client, "ursula", "user")
    return client


def entries(admin: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    answer = admin.get("/api/security/audit", params=params).json()
    assert answer["code"] == 0, answer
    found: list[dict[str, Any]] = answer["data"]["entries"]
    return found


def find(admin: httpx.Client, action: str, **match: Any) -> dict[str, Any]:
    """The newest record of ``action`` matching ``match`` (the writer thread may lag a moment)."""
    deadline = time.monotonic() + 10
    while True:
        for entry in entries(admin):
            if entry["action"] == action and all(entry.get(k) == v for k, v in match.items()):
                return entry
        assert time.monotonic() < deadline, f"no {action} {match} in {entries(admin)[:5]}"
        time.sleep(0.1)


def test_logins_and_failures_with_the_address(kvm: RunningApp, admin: httpx.Client) -> None:
    kvm.client().post("/api/auth/login", json=login_body("ursula", "wrong-password"))
    failed = find(admin, "POST /api/auth/login", actor="ursula", result="-2 invalid username or password")
    assert failed["address"] == "127.0.0.1"
    kvm.login("ursula", "password-1")
    assert find(admin, "POST /api/auth/login", actor="ursula", result="ok")["time"] > failed["time"]


def test_power_media_and_user_changes(kvm: RunningApp, admin: httpx.Client) -> None:
    user = kvm.login("ursula", "password-1")
    assert user.post("/api/vm/gpio", json={"type": "reset", "duration": 100}).json()["code"] == 0
    pressed = find(admin, "POST /api/vm/gpio", actor="ursula")
    assert pressed["detail"]["type"] == "reset" and pressed["result"] == "ok"
    admin.post("/api/storage/image/mount", json={"file": "/data/missing.iso", "cdrom": True})
    mount = find(admin, "POST /api/storage/image/mount", actor="admin")
    assert mount["detail"] == {"file": "/data/missing.iso", "cdrom": "True"} and mount["result"] != "ok"
    assert admin.put("/api/auth/users/ursula", json={"role": "viewer"}).json()["code"] == 0
    find(admin, "PUT /api/auth/users/ursula", actor="admin", result="ok")
    assert admin.post("/api/vm/hostname", json={"name": "audited"}).status_code == 200
    find(admin, "POST /api/vm/hostname", actor="admin")


def test_passwords_never_reach_the_log(kvm: RunningApp, admin: httpx.Client) -> None:
    secret = "a-password-nobody-should-read"
    make_user(admin, "pw", "user", password=secret)
    kvm.client().post("/api/auth/login", json={"username": "pw", "password": encrypt(secret + "x")})
    find(admin, "POST /api/auth/login", actor="pw")
    raw = kvm.path("/etc/kvm/audit.jsonl").read_text()
    assert secret not in raw and ADMIN_PASSWORD not in raw


def test_only_admins_read_it(kvm: RunningApp, admin: httpx.Client) -> None:
    make_user(admin, "reader", "user")
    assert kvm.login("reader", "password-1").get("/api/security/audit").status_code == 403
    assert kvm.client().get("/api/security/audit").status_code == 401
    for bad in ({"limit": 0}, {"limit": 100000}, {"limit": "x"}, {"before": "yesterday"}):
        response = admin.get("/api/security/audit", params=bad)
        assert response.status_code == 200 and response.json()["code"] != 0


def test_unauthenticated_noise_is_not_recorded(kvm: RunningApp, admin: httpx.Client) -> None:
    for _ in range(20):
        kvm.client().post("/api/vm/gpio", json={"type": "power"})
    assert not any(e["action"] == "POST /api/vm/gpio" and e["actor"] == "" for e in entries(admin, limit=1000))


def test_whole_records_after_kill_9_mid_burst(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The app is killed while requests are being recorded: every line on flash is a whole record."""
    app = start_app(tmp_path_factory.mktemp("audit-kill"), {"security": {"loginLockoutDuration": 0}})
    cookies = ready_admin(app).cookies
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=app.url, timeout=5, cookies=cookies) as client:
            while not stop.is_set():
                try:
                    client.post("/api/stream/mjpeg/detect", json={"enabled": False})
                except httpx.HTTPError:
                    return

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        log = app.path("/etc/kvm/audit.jsonl")
        deadline = time.monotonic() + 30
        while (not log.exists() or log.stat().st_size < 20_000) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(app.process.pid, signal.SIGKILL)
        app.process.wait()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        app.stop()
    data = log.read_bytes()
    assert len(data) >= 20_000 and data.endswith(b"\n")
    actions = {json.loads(line)["action"] for line in data.splitlines()}
    assert "POST /api/stream/mjpeg/detect" in actions
