"""The security routes write their stores off the event loop (run with the loop guard on)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.loopguard import MARK
from tests.api.security_support import enrol_totp, make_user, ready_admin
from tests.conftest import RunningApp


def test_security_routes_do_not_block_the_loop(
    app_factory: Callable[..., RunningApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KVM_LOOP_GUARD", "1")
    kvm = app_factory()
    admin = ready_admin(kvm)
    make_user(admin, "loop", "user")
    user = kvm.login("loop", "password-1")
    created = user.post("/api/security/tokens", json={"name": "t", "role": "user"}).json()["data"]
    assert user.delete(f"/api/security/tokens/{created['info']['id']}").json()["code"] == 0
    enrol_totp(user)
    other = kvm.login("admin", "admin-password-1")
    sid = next(s["id"] for s in other.get("/api/security/sessions").json()["data"]["sessions"] if s["current"])
    assert admin.delete(f"/api/security/sessions/{sid}").json()["code"] == 0
    assert admin.get("/api/security/audit").json()["code"] == 0
    assert admin.delete("/api/security/users/loop/totp").json()["code"] == 0
    blocking = [line for line in kvm.log.read_text(errors="replace").splitlines() if MARK in line]
    assert blocking == []
