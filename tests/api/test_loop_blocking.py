"""Nothing blocks the event loop: the app runs with its loop guard on (``KVM_LOOP_GUARD=1``, see
``app/loopguard.py``), the routes that write files or run commands are called, and its log must
name no blocking call made on the loop's thread."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from app.loopguard import MARK, LoopGuard
from app.services.auth.transport import encrypt
from tests.conftest import RunningApp

# (method, path, JSON body): every route that writes a file, fsyncs or runs a command on the sim board.
WRITES: list[tuple[str, str, object]] = [
    ("POST", "/api/vm/hostname", {"hostname": "rack-7"}),
    ("POST", "/api/vm/web-title", {"title": "Lab KVM"}),
    ("POST", "/api/vm/oled", {"sleep": 60}),
    ("POST", "/api/vm/ssh/enable", None),
    ("POST", "/api/vm/mdns/enable", None),
    ("POST", "/api/application/preview", {"enable": True}),
    ("POST", "/api/application/update-server", {"enabled": True, "url": "https://updates.example.com"}),
    ("POST", "/api/hid/shortcut", {"keys": [{"code": "ControlLeft", "label": "Ctrl"}]}),
    ("POST", "/api/hid/shortcut/leader-key", {"key": "ScrollLock"}),
    ("POST", "/api/network/dns", {"mode": "manual", "servers": ["9.9.9.9"]}),
    ("POST", "/api/network/wol/mac/name", {"mac": "aa:bb:cc:dd:ee:ff", "name": "NAS"}),
    ("POST", "/api/vm/swap", {"size": 64}),
    ("POST", "/api/vm/memory/limit", {"enabled": True, "limit": 100}),
    ("POST", "/api/vm/mouse-jiggler/", {"enabled": True, "mode": "relative"}),
    ("POST", "/api/vm/mouse-jiggler/", {"enabled": False, "mode": "relative"}),
    ("POST", "/api/vm/screen", {"type": "fps", "value": 24}),
    ("POST", "/api/vm/screen", {"type": "resolution", "value": 720}),
    ("POST", "/api/vm/hdmi/disable", None),
    ("POST", "/api/vm/hdmi/enable", None),
    ("POST", "/api/vm/hdmi/timeout", {"minutes": 5}),
    ("POST", "/api/vm/hdmi/reset", None),
    ("POST", "/api/auth/users", {"username": "ops", "password": encrypt("ops-password"), "role": "user"}),
    ("PUT", "/api/auth/users/ops", {"role": "viewer"}),
    ("POST", "/api/auth/users/ops/password", {"password": encrypt("new-ops-password")}),
    ("DELETE", "/api/auth/users/ops", None),
]


def _blocking_calls(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if MARK in line]


def test_write_routes_do_not_block_the_loop(
    app_factory: Callable[..., RunningApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KVM_LOOP_GUARD", "1")
    kvm = app_factory()
    admin = kvm.login()
    for method, path, body in WRITES:
        answer = admin.request(method, path, json=body)
        assert answer.status_code == 200, (path, answer.text)
    shortcuts = admin.get("/api/hid/shortcuts").json()["data"]["shortcuts"]
    assert admin.request("DELETE", "/api/hid/shortcut", json={"id": shortcuts[0]["id"]}).json()["code"] == 0
    # An offline update of 3 MiB (refused at its signature, after it has been received, hashed and written).
    bundle = os.urandom(3 << 20)
    files = {"file": ("nanokvm_9.9.9.tar.gz", bundle), "signature": ("nanokvm_9.9.9.tar.gz.sig", b"x" * 64)}
    answer = admin.post("/api/application/update/offline", files=files).json()
    assert answer["code"] == -1 and answer["msg"].startswith("update failed"), answer
    # An image upload refused after it was written (not an ISO), then a download whose host never resolves:
    # each takes the transfer's lock file first.
    files = {"file": ("notes.iso", b"not an image" * 1000)}
    answer = admin.post("/api/download/file", files=files).json()
    assert answer["msg"] == "file is not a valid ISO image", answer
    answer = admin.post("/api/download/image", json={"file": "http://kvm-test.invalid/x.iso"}).json()
    assert answer["code"] == 0, answer
    deadline = time.monotonic() + 30
    while admin.get("/api/download/image/status").json()["data"]["status"] == "in_progress":
        assert time.monotonic() < deadline, "the download from an unresolvable host did not end"
        time.sleep(0.1)
    assert _blocking_calls(kvm.log) == []
    kvm.stop()
    assert _blocking_calls(kvm.log) == []


def test_the_guard_reports_a_blocking_call_on_the_loop_only(tmp_path: Path) -> None:
    """The check above can fail: fsync and a file opened for writing on the loop are reported, the
    same calls in a worker thread are not."""
    reports: list[str] = []

    def write(path: Path) -> None:
        with path.open("wb") as out:
            out.write(b"x")
            out.flush()
            os.fsync(out.fileno())

    async def main() -> None:
        guard = LoopGuard(reports.append)
        guard.install()
        try:
            await asyncio.to_thread(write, tmp_path / "in-thread")
            assert reports == []
            write(tmp_path / "on-loop")
        finally:
            guard.uninstall()

    asyncio.run(main())
    assert len(reports) == 2, reports
    assert reports[0].startswith(f"{MARK}: open({tmp_path / 'on-loop'}, 'wb')")
    assert reports[1].startswith(f"{MARK}: os.fsync")
    assert os.fsync.__module__ == "posix"  # uninstalled: the real function again
